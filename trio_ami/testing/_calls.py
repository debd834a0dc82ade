"""One simulated call on the :class:`~trio_ami.testing.PBX` model, and the calls an
``Originate`` asks for.

A :class:`Call` owns its channels: it creates them on the model, dials and bridges them, waits
(scaled time, cut short by a ``Hangup`` action) and tears everything down, so that no channel
outlives its call. :func:`run_originate` plays an ``Originate`` of a ``Local`` channel or of a
device, as Asterisk 22 reports them.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs
import trio

from ..sansio import Message
from ._pbx import PBX, Bridge, SimChannel, originate_response
from ._wire import leading_int, parse_callerid

__all__ = ["Call", "Numbering", "OriginateRequest", "run_originate"]

_MAX_WAIT = 365 * 24 * 3600.0  # longest Wait a call simulates, in seconds
_ORIGINATE_FAILURES = {
    # outcome -> (DialStatus, hangup cause)
    "Busy": ("BUSY", 17),
    "NoAnswer": ("NOANSWER", 19),
    "Congestion": ("CONGESTION", 34),
    "Failure": ("CHANUNAVAIL", 0),
}


class Numbering:
    """Channel sequence numbers and uniqueids (``<epoch + seconds since the first>.<n>``)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self._t0: float | None = None
        self._uniqueids = 0
        self._channels = 0

    def now(self) -> float:
        """``trio.current_time()``; the first call starts the uniqueid clock."""
        now = trio.current_time()
        if self._t0 is None:
            self._t0 = now
        return now

    def uniqueid(self) -> str:
        """A new uniqueid."""
        now = self.now()
        start = now if self._t0 is None else self._t0
        self._uniqueids += 1
        return f"{self.epoch + int(now - start)}.{self._uniqueids}"

    def channel_seq(self) -> int:
        """The next channel sequence number (the hex suffix of channel names)."""
        self._channels += 1
        return self._channels


@attrs.define(eq=False)
class Call:
    """One call's channels on ``pbx``; a ``Hangup`` action ends it (:meth:`request_hangup`)."""

    pbx: PBX
    numbering: Numbering
    #: Durations given to :meth:`pause` are multiplied by this.
    time_scale: float = 1.0
    channels: list[SimChannel] = attrs.Factory(list)
    hangup_requested: trio.Event = attrs.Factory(trio.Event)
    hangup_channel: SimChannel | None = None
    hangup_cause: int = 0
    bridge: Bridge | None = None
    #: (caller, callee) while a Dial is in progress (DialBegin sent, DialEnd not yet).
    dialing: tuple[SimChannel | None, SimChannel] | None = None

    def request_hangup(self, channel: SimChannel, cause: int) -> None:
        if not self.hangup_requested.is_set():
            self.hangup_channel = channel
            self.hangup_cause = cause
            self.hangup_requested.set()

    def new_channel(
        self, name: str, *, linkedid: str | None = None, **fields: object
    ) -> SimChannel:
        """A new channel of this call (``Newchannel``)."""
        created = self.numbering.now()
        uniqueid = self.numbering.uniqueid()
        channel = SimChannel(
            name=name,
            uniqueid=uniqueid,
            linkedid=linkedid or uniqueid,
            created=created,
            call=self,
            **fields,  # type: ignore[arg-type]
        )
        self.channels.append(channel)
        return self.pbx.add_channel(channel)

    def dial_begin(self, caller: SimChannel | None, callee: SimChannel, dialstring: str) -> None:
        self.dialing = (caller, callee)
        pairs = caller.headers() if caller is not None else []
        self.pbx.emit("DialBegin", [*pairs, *callee.headers("Dest"), ("DialString", dialstring)])

    def dial_end(self, status: str) -> None:
        if self.dialing is None:
            return
        caller, callee = self.dialing
        self.dialing = None
        pairs = caller.headers() if caller is not None else []
        self.pbx.emit("DialEnd", [*pairs, *callee.headers("Dest"), ("DialStatus", status)])

    def bridge_channels(self, rng: random.Random, channels: list[SimChannel]) -> None:
        r = rng.getrandbits
        uniqueid = f"{r(32):08x}-{r(16):04x}-4{r(12):03x}-{0x8000 | r(14):04x}-{r(48):012x}"
        self.bridge = self.pbx.bridge(uniqueid, channels)

    def after_dial(self, caller: SimChannel, status: str, cause: int) -> None:
        """The caller's dialplan after an unsuccessful Dial: set DIALSTATUS, hang up."""
        self.pbx.varset(caller, "DIALSTATUS", status)
        caller.priority += 1
        caller.application, caller.app_data = "Hangup", ""
        self.pbx.newexten(caller)
        self.pbx.hangup_channel(caller, cause)

    def teardown(self, first: SimChannel | None, cause: int, *, request: str | None) -> None:
        """Hang up every live channel of the call, ``first`` first; ``request`` names the
        event announcing it (``HangupRequest``/``SoftHangupRequest``) or is ``None``."""
        self.dial_end("CANCEL")
        live = [ch for ch in self.channels if self.pbx.is_live(ch)]
        if first in live:
            live.remove(first)
            live.insert(0, first)
        for index, channel in enumerate(live):
            if request is not None:
                name = request if index == 0 else "HangupRequest"
                request_cause = 16 if name == "SoftHangupRequest" else cause
                self.pbx.emit(name, [*channel.headers(), ("Cause", str(request_cause))])
            self.pbx.hangup_channel(channel, cause)
        if self.bridge is not None:
            self.pbx.destroy_bridge(self.bridge)

    def end_on_request(self) -> None:
        """Tear down after a ``Hangup`` action, as Asterisk reports a soft hangup."""
        self.teardown(self.hangup_channel, self.hangup_cause, request="SoftHangupRequest")

    async def pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` (scaled); True if a hangup was requested meanwhile."""
        if self.hangup_requested.is_set():
            return True
        with trio.move_on_after(max(0.0, seconds * self.time_scale)):
            await self.hangup_requested.wait()
            return True
        return False


@attrs.frozen
class OriginateRequest:
    """How an originated call goes: its outcome, whether an ``OriginateResponse`` reports
    it, ring and talk times (``(min, max)`` seconds), and ``report(answered)``, called once
    the call is answered or has failed."""

    outcome: str
    emit_response: bool
    ring_time: tuple[float, float]
    talk_time: tuple[float, float]
    report: Callable[[bool], None]


async def run_originate(
    call: Call, rng: random.Random, action: Message, request: OriginateRequest
) -> None:
    """Play the call ``action`` (an ``Originate``) asks for, to its end."""
    if (action.get("Channel") or "").lower().startswith("local/"):
        await _originate_local(call, rng, action, request)
    else:
        await _originate_device(call, rng, action, request)


def _setup(pbx: PBX, channel: SimChannel, action: Message) -> None:
    """Apply the Originate's variables and caller ID to ``channel``."""
    for variable in action.get_all("Variable"):
        name, _, value = variable.partition("=")
        if name:
            pbx.set_variable(channel, name, value)
    callerid = action.get("CallerID")
    if callerid:
        name, num = parse_callerid(callerid)
        channel.caller_num, channel.caller_name = num or "<unknown>", name or "<unknown>"
        pbx.emit(
            "NewCallerid",
            [*channel.headers(), ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")],
        )
        channel.connected_num, channel.connected_name = channel.caller_num, channel.caller_name
        pbx.emit("NewConnectedLine", channel.headers())


def _failed(pbx: PBX, action: Message, outcome: str, emit_response: bool) -> None:
    if emit_response:
        name, num = parse_callerid(action.get("CallerID") or "")
        pbx.emit(
            "OriginateResponse",
            originate_response(
                action, outcome, action.get("Channel") or "", "<unknown>", num=num, name=name
            ),
        )


def _answered(pbx: PBX, action: Message, channel: SimChannel, emit: bool) -> None:
    if emit:
        pbx.emit(
            "OriginateResponse",
            originate_response(
                action,
                "Success",
                channel.name,
                channel.uniqueid,
                num="" if channel.caller_num == "<unknown>" else channel.caller_num,
                name="" if channel.caller_name == "<unknown>" else channel.caller_name,
            ),
        )


def _run_time(rng: random.Random, action: Message, talk_time: tuple[float, float]) -> float:
    if (action.get("Application") or "").lower() == "wait":
        try:
            seconds = float(action.get("Data") or "")
        except ValueError:
            seconds = -1.0
        if 0 <= seconds < _MAX_WAIT:  # not "inf", "nan" or "-5", whatever a client sends
            return seconds
    return rng.uniform(*talk_time)


async def _originate_local(
    call: Call, rng: random.Random, action: Message, request: OriginateRequest
) -> None:
    outcome, emit_response, report = request.outcome, request.emit_response, request.report
    destination = (action.get("Channel") or "").partition("/")[2]
    target = destination.partition("/")[0]  # drop /n style options
    exten, _, context = target.partition("@")
    context = context or "default"
    seq = call.numbering.channel_seq()
    one = call.new_channel(
        f"Local/{target}-{seq:08x};1",
        state=0,
        context=context,
        exten=exten,
        endpoint=target,
    )
    two = call.new_channel(
        f"Local/{target}-{seq:08x};2",
        linkedid=one.uniqueid,
        state=4,
        context=context,
        exten=exten,
        endpoint=target,
    )
    one.application, one.app_data = "AppDial2", "(Outgoing Line)"
    call.pbx.newexten(one)
    _setup(call.pbx, one, action)
    _setup(call.pbx, two, action)
    if outcome != "Success":
        call.pbx.hangup_channel(two, 0)
        call.pbx.hangup_channel(one, 0)
        _failed(call.pbx, action, outcome, emit_response)
        _local_device_state(call.pbx, target, "INVALID")
        report(False)
        return
    call.pbx.emit(
        "LocalBridge",
        [
            *one.headers("LocalOne"),
            *two.headers("LocalTwo"),
            ("Context", context),
            ("Exten", exten),
            ("LocalOptimization", "Yes"),
        ],
    )
    call.dial_begin(None, one, target)
    two.application, two.app_data = "Answer", ""
    call.pbx.newexten(two)
    call.pbx.set_state(two, 6)
    call.pbx.set_state(one, 6)
    call.dial_end("ANSWER")
    _answered(call.pbx, action, one, emit_response)
    _local_device_state(call.pbx, target, "INUSE")
    one.application = action.get("Application") or ""
    one.app_data = action.get("Data") or ""
    report(True)
    run_time = _run_time(rng, action, request.talk_time)
    two.priority, two.application, two.app_data = 2, "Wait", str(max(1, int(run_time)))
    call.pbx.newexten(two)
    if await call.pause(run_time):
        call.end_on_request()
    else:
        two.priority, two.application, two.app_data = 3, "Hangup", ""
        call.pbx.newexten(two)
        call.teardown(two, 16, request="SoftHangupRequest")
    _local_device_state(call.pbx, target, "NOT_INUSE")


def _local_device_state(pbx: PBX, target: str, state: str) -> None:
    # Asterisk reports a Local device once per half of the pair.
    for _ in range(2):
        pbx.emit("DeviceStateChange", [("Device", f"Local/{target}"), ("State", state)])


async def _originate_device(
    call: Call, rng: random.Random, action: Message, request: OriginateRequest
) -> None:
    outcome, emit_response, report = request.outcome, request.emit_response, request.report
    requested = action.get("Channel") or ""
    tech, _, data = requested.partition("/")
    endpoint = data.partition("/")[0].partition("@")[0]
    channel = call.new_channel(
        f"{tech}/{endpoint}-{call.numbering.channel_seq():08x}",
        state=0,
        context=action.get("Context") or "default",
        exten=action.get("Exten") or "s",
        endpoint=endpoint,
    )
    _setup(call.pbx, channel, action)
    call.dial_begin(None, channel, data)
    call.pbx.set_state(channel, 5)
    ring = rng.uniform(*request.ring_time)
    if await call.pause(ring):
        call.end_on_request()
        _failed(call.pbx, action, "Failure", emit_response)
        report(False)
        return
    if outcome != "Success":
        status, cause = _ORIGINATE_FAILURES[outcome]
        call.dial_end(status)
        call.pbx.hangup_channel(channel, cause)
        _failed(call.pbx, action, outcome, emit_response)
        report(False)
        return
    call.pbx.set_state(channel, 6)
    call.dial_end("ANSWER")
    _answered(call.pbx, action, channel, emit_response)
    report(True)
    run_time = _run_time(rng, action, request.talk_time)
    if action.get("Application"):
        channel.application = action.get("Application") or ""
        channel.app_data = action.get("Data") or ""
    else:
        priority = leading_int(action.get("Priority") or "")
        channel.priority = 1 if priority is None else priority
        channel.application, channel.app_data = "Wait", str(max(1, int(run_time)))
    call.pbx.newexten(channel)
    if await call.pause(run_time):
        call.end_on_request()
    else:
        call.teardown(channel, 16, request="HangupRequest")
