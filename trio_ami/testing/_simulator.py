"""A small simulated PBX that feeds a :class:`~trio_ami.testing.FakeAMIServer` with call traffic.

:class:`PBXSimulator` places calls between PJSIP extensions and from a trunk, and emits the events
Asterisk 22 emits for them, with the same header sets: ``Newchannel``, ``Newexten``, ``VarSet``,
``DialBegin``, ``Newstate`` (Ring, Ringing, Up), ``DialEnd``, ``BridgeCreate``/``Enter``/``Leave``/
``Destroy``, ``HangupRequest``, ``Hangup`` (``Cause``, ``Cause-txt``), ``DeviceStateChange``, and
for originated calls ``LocalBridge`` and ``OriginateResponse``. It tracks the live channels, so
``CoreShowChannels``, ``Status``, ``core show channels``, ``Hangup``, ``Redirect`` and channel
``Setvar``/``Getvar`` on the server see them.

Guarantees tests can rely on: every ``Newchannel`` is followed, eventually, by exactly one
``Hangup`` of that channel (also when the simulation is cancelled: the remaining channels are
hung up on the way out); every ``DialBegin`` by a ``DialEnd``; every ``BridgeEnter`` by a
``BridgeLeave``; every ``BridgeCreate`` by a ``BridgeDestroy``.

Randomness comes from ``random.Random(seed)`` and time from ``trio.sleep`` only: the same seed
gives the same calls (parties, outcomes, durations), and under :class:`trio.testing.MockClock`
the same event stream.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, TypeAlias

import attrs
import trio

from ..sansio import Event, Message
from ._builtins import originate_response
from ._wire import (
    CAUSE_TEXT,
    CHANNEL_STATE_DESC,
    leading_int,
    parse_callerid,
    recorded_event,
)

if TYPE_CHECKING:
    from ._server import FakeAMIServer

__all__ = ["OUTCOMES", "PBXSimulator", "SimChannel"]

_MAX_WAIT = 365 * 24 * 3600.0  # longest Wait a call simulates, in seconds

#: How a simulated call ends: answered, not answered in time, callee busy, no route, or the
#: caller hanging up while it rings.
OUTCOMES = ("ANSWER", "NOANSWER", "BUSY", "CONGESTION", "CANCEL")

_DEFAULT_OUTCOME_WEIGHTS = {
    "ANSWER": 0.7,
    "NOANSWER": 0.1,
    "BUSY": 0.08,
    "CONGESTION": 0.02,
    "CANCEL": 0.1,
}
_NAMES = (
    "Alice Johnson",
    "Bob Smith",
    "Carlos Gómez",
    "Zoë Ångström",
    "François Dupont",
    "Jürgen Müller",
    "Łukasz Żółć",
    "Søren Kierkegaard",
    "Ольга Иванова",
    "山田太郎",
    "Nguyễn Văn An",
    "Dana O'Neil",
    "Siobhán Ní Bhriain",
    "Ahmed Al-Farsi",
    "Priya Raghunathan",
    "Mei-Ling Chen",
    "Kwame Mensah",
    "Ana Lúcia Ferreira",
    "Björn Lindqvist",
    "Chloé Lefèvre",
    "Dmitri Sokolov",
    "Fatima Zahra",
    "Giulia Rossi",
    "Hiroshi Tanaka",
    "İsmail Yılmaz",  # noqa: RUF001 - a real Turkish name
    "Reception",
)
_Report: TypeAlias = Callable[[bool], None]
_ORIGINATE_FAILURES = {
    # outcome -> (DialStatus, hangup cause)
    "Busy": ("BUSY", 17),
    "NoAnswer": ("NOANSWER", 19),
    "Congestion": ("CONGESTION", 34),
    "Failure": ("CHANUNAVAIL", 0),
}


@attrs.define(eq=False)
class SimChannel:
    """A live simulated channel."""

    name: str
    uniqueid: str
    linkedid: str
    state: int = 0
    caller_num: str = "<unknown>"
    caller_name: str = "<unknown>"
    connected_num: str = "<unknown>"
    connected_name: str = "<unknown>"
    context: str = "default"
    exten: str = "s"
    priority: int = 1
    application: str = ""
    app_data: str = ""
    language: str = "en"
    accountcode: str = ""
    #: ``trio.current_time()`` when the channel was created.
    created: float = 0.0
    bridge_id: str = ""
    variables: dict[str, str] = attrs.Factory(dict)
    #: The endpoint (device) behind the channel, e.g. ``"100"`` for ``PJSIP/100-00000001``.
    endpoint: str = ""
    call: _Call | None = attrs.field(default=None, repr=False)

    @property
    def tech(self) -> str:
        """The channel technology: ``PJSIP``, ``Local``..."""
        return self.name.partition("/")[0]

    @property
    def device(self) -> str:
        """The device whose state the channel affects, e.g. ``PJSIP/100``."""
        return f"{self.tech}/{self.endpoint}"

    @property
    def state_desc(self) -> str:
        """``ChannelStateDesc``: ``Down``, ``Ring``, ``Ringing``, ``Up``..."""
        return CHANNEL_STATE_DESC.get(self.state, "Unknown")

    def headers(self, prefix: str = "") -> list[tuple[str, str]]:
        """The channel snapshot headers events carry, optionally prefixed (``Dest``...)."""
        return [
            (f"{prefix}Channel", self.name),
            (f"{prefix}ChannelState", str(self.state)),
            (f"{prefix}ChannelStateDesc", self.state_desc),
            (f"{prefix}CallerIDNum", self.caller_num),
            (f"{prefix}CallerIDName", self.caller_name),
            (f"{prefix}ConnectedLineNum", self.connected_num),
            (f"{prefix}ConnectedLineName", self.connected_name),
            (f"{prefix}Language", self.language),
            (f"{prefix}AccountCode", self.accountcode),
            (f"{prefix}Context", self.context),
            (f"{prefix}Exten", self.exten),
            (f"{prefix}Priority", str(self.priority)),
            (f"{prefix}Uniqueid", self.uniqueid),
            (f"{prefix}Linkedid", self.linkedid),
        ]

    def get_variable(self, name: str, global_vars: Mapping[str, str]) -> str:
        """A variable as ``Getvar`` reads it: the channel's, some built-ins, then globals."""
        builtins = {
            "CHANNEL": self.name,
            "UNIQUEID": self.uniqueid,
            "LINKEDID": self.linkedid,
            "CONTEXT": self.context,
            "EXTEN": self.exten,
            "PRIORITY": str(self.priority),
            "CALLERID(num)": self.caller_num,
            "CALLERID(name)": self.caller_name,
            "CALLERID(all)": f'"{self.caller_name}" <{self.caller_num}>',
        }
        if name in self.variables:
            return self.variables[name]
        if name in builtins:
            return builtins[name]
        return global_vars.get(name, "")


@attrs.define(eq=False)
class _Bridge:
    uniqueid: str
    members: list[SimChannel] = attrs.Factory(list)
    destroyed: bool = False


@attrs.define(eq=False)
class _Call:
    channels: list[SimChannel] = attrs.Factory(list)
    hangup_requested: trio.Event = attrs.Factory(trio.Event)
    hangup_channel: SimChannel | None = None
    hangup_cause: int = 0
    bridge: _Bridge | None = None
    #: (caller, callee) while a Dial is in progress (DialBegin sent, DialEnd not yet).
    dialing: tuple[SimChannel | None, SimChannel] | None = None


class PBXSimulator:
    """Simulated call traffic for a :class:`~trio_ami.testing.FakeAMIServer`.

    ``extensions`` are the PJSIP endpoints (default ``100``-``119``) in ``context``; inbound
    calls come from endpoint ``trunk`` into ``inbound_context``. ``outcomes`` weighs how calls
    end (see :data:`OUTCOMES`); ``ring_time`` / ``talk_time`` are ``(min, max)`` seconds, all
    durations multiplied by ``time_scale`` (use e.g. 0.01 in tests). ``record=True`` keeps every
    emitted event in :attr:`events`.
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        extensions: Sequence[str] | None = None,
        context: str = "from-internal",
        trunk: str = "trunk",
        inbound_context: str = "from-trunk",
        inbound_ratio: float = 0.3,
        outcomes: Mapping[str, float] | None = None,
        ring_time: tuple[float, float] = (1.0, 8.0),
        talk_time: tuple[float, float] = (2.0, 45.0),
        time_scale: float = 1.0,
        epoch: int = 1_700_000_000,
        record: bool = False,
    ) -> None:
        self.rng = random.Random(seed)
        self.extensions: list[str] = list(extensions or [str(n) for n in range(100, 120)])
        if len(self.extensions) < 2:
            raise ValueError("the simulator needs at least two extensions")
        self.context = context
        self.trunk = trunk
        self.inbound_context = inbound_context
        self.inbound_ratio = inbound_ratio
        weights = dict(outcomes or _DEFAULT_OUTCOME_WEIGHTS)
        for outcome in weights:
            if outcome not in OUTCOMES:
                raise ValueError(f"unknown outcome {outcome!r}; expected one of {OUTCOMES}")
        self.outcomes = weights
        self.ring_time = ring_time
        self.talk_time = talk_time
        self.time_scale = time_scale
        self.epoch = epoch
        #: The caller name of each extension.
        names = list(_NAMES)
        self.rng.shuffle(names)
        self.names: dict[str, str] = {
            ext: names[i % len(names)] for i, ext in enumerate(self.extensions)
        }
        #: Live channels by name, in order of creation.
        self.channels: dict[str, SimChannel] = {}
        #: Calls begun, calls over, and calls counted by ``core show channels``.
        self.calls_started = 0
        self.calls_completed = 0
        self.calls_processed = 0
        #: Events emitted so far.
        self.events_emitted = 0
        #: Every event emitted, when ``record=True``.
        self.events: list[Event] = []
        self.record = record
        self.server: FakeAMIServer | None = None
        self._nurseries: list[trio.Nursery] = []
        self._channel_seq = 0
        self._uniqueid_seq = 0
        self._t0: float | None = None
        self._device_states: dict[str, str] = {}

    def _bind(self, server: FakeAMIServer) -> None:
        self.server = server

    # -- running --------------------------------------------------------------------------------
    async def run(
        self,
        *,
        calls_per_second: float = 1.0,
        duration: float | None = None,
        max_calls: int | None = None,
    ) -> None:
        """Place random calls (Poisson arrivals at ``calls_per_second``, in real seconds).

        Stops placing calls after ``duration`` seconds or ``max_calls`` calls, then waits for
        the calls in progress to end and returns. Without either it runs until cancelled.
        Calls originated through the server while this runs live in its nursery.
        """
        if calls_per_second <= 0:
            raise ValueError("calls_per_second must be positive")
        async with trio.open_nursery() as nursery:
            self._nurseries.append(nursery)
            try:
                start = trio.current_time()
                placed = 0
                while max_calls is None or placed < max_calls:
                    gap = self.rng.expovariate(calls_per_second)
                    if duration is not None and trio.current_time() + gap > start + duration:
                        await trio.sleep_until(start + duration)
                        break
                    await trio.sleep(gap)
                    nursery.start_soon(partial(self._random_call, self.rng.getrandbits(64)))
                    placed += 1
            finally:
                self._nurseries.remove(nursery)

    async def place_call(
        self,
        caller: str | None = None,
        callee: str | None = None,
        *,
        outcome: str | None = None,
        inbound: bool = False,
        ring_time: float | None = None,
        talk_time: float | None = None,
    ) -> None:
        """Run one call to its end: ``caller`` (an extension, or an outside number when
        ``inbound``) calls extension ``callee``; unset parts are drawn at random."""
        await self._call(
            random.Random(self.rng.getrandbits(64)),
            caller,
            callee,
            outcome=outcome,
            inbound=inbound,
            ring_time=ring_time,
            talk_time=talk_time,
        )

    async def _random_call(self, seed: int) -> None:
        rng = random.Random(seed)
        await self._call(rng, None, None, inbound=rng.random() < self.inbound_ratio)

    # -- queries --------------------------------------------------------------------------------
    def find_channel(self, name: str) -> SimChannel | None:
        """A live channel by name or uniqueid (names compare case-insensitively)."""
        channel = self.channels.get(name)
        if channel is not None:
            return channel
        folded = name.lower()
        for channel in self.channels.values():
            if channel.name.lower() == folded or channel.uniqueid == name:
                return channel
        return None

    def endpoint_channels(self, endpoint: str) -> list[SimChannel]:
        """The live PJSIP channels of ``endpoint``."""
        return [
            ch for ch in self.channels.values() if ch.endpoint == endpoint and ch.tech == "PJSIP"
        ]

    def device_state(self, endpoint: str) -> str:
        """``NOT_INUSE``, ``RINGING``, ``INUSE`` or ``RINGINUSE`` for a PJSIP endpoint."""
        return self._device_state(f"PJSIP/{endpoint}")

    def _device_state(self, device: str) -> str:
        states = [ch.state for ch in self.channels.values() if ch.device == device]
        if not states:
            return "NOT_INUSE"
        ringing = any(state == 5 for state in states)
        in_use = any(state != 5 for state in states)
        if ringing and in_use:
            return "RINGINUSE"
        return "RINGING" if ringing else "INUSE"

    def hint(self, exten: str, context: str) -> str:
        """The hint of ``exten@context``: ``PJSIP/<exten>`` for the simulator's extensions."""
        if context == self.context and exten in self.extensions:
            return f"PJSIP/{exten}"
        return ""

    def hint_state(self, hint: str) -> int:
        """The extension state number of a hint (0 idle, 1 in use, 8 ringing, 9 both)."""
        state = 0
        for device in hint.split("&"):
            current = self._device_state(device.strip())
            if current in ("INUSE", "RINGINUSE"):
                state |= 1
            if current in ("RINGING", "RINGINUSE"):
                state |= 8
        return state

    # -- control from the server ----------------------------------------------------------------
    def hangup(self, channel: SimChannel, cause: int = 0) -> None:
        """Ask for ``channel`` to be hung up (the ``Hangup`` action); its call tears down."""
        call = channel.call
        if call is None:
            self._emit("SoftHangupRequest", [*channel.headers(), ("Cause", "16")])
            self._hangup_channel(channel, cause)
            return
        if not call.hangup_requested.is_set():
            call.hangup_channel = channel
            call.hangup_cause = cause
            call.hangup_requested.set()

    def redirect(self, channel: SimChannel, context: str, exten: str, priority: int) -> None:
        """Send ``channel`` to ``exten@context:priority`` (the ``Redirect`` action)."""
        call = channel.call
        bridge = call.bridge if call is not None else None
        if bridge is not None and channel in bridge.members:
            self._bridge_leave(bridge, channel)
        channel.context, channel.exten, channel.priority = context, exten, priority
        channel.application, channel.app_data = "NoOp", ""
        self._newexten(channel)

    def set_variable(self, channel: SimChannel, name: str, value: str) -> None:
        """Set a channel variable, emitting ``VarSet`` (the ``Setvar`` action)."""
        channel.variables[name] = value
        self._varset(channel, name, value)

    async def originate(
        self,
        action: Message,
        outcome: str,
        *,
        emit_response: bool = True,
        nursery: trio.Nursery | None = None,
    ) -> bool:
        """Run the call an ``Originate`` asks for; return once it is answered (True) or has
        failed (False). The call goes on in the simulator's running nursery, else ``nursery``.
        ``outcome`` is ``Success``, ``Failure``, ``Busy``, ``NoAnswer`` or ``Congestion``."""
        target = self._nurseries[-1] if self._nurseries else nursery
        if target is None:
            raise RuntimeError("no nursery to run the originated call in")
        result: bool = await target.start(self._originate_call, action, outcome, emit_response)
        return result

    # -- building blocks ------------------------------------------------------------------------
    def _emit(self, name: str, pairs: list[tuple[str, str]]) -> None:
        self.events_emitted += 1
        if self.record:
            self.events.append(recorded_event(name, pairs))
        if self.server is not None:
            self.server.push_event(name, pairs)

    def _now(self) -> float:
        now = trio.current_time()
        if self._t0 is None:
            self._t0 = now
        return now

    def _new_uniqueid(self) -> str:
        now = self._now()
        start = now if self._t0 is None else self._t0
        self._uniqueid_seq += 1
        return f"{self.epoch + int(now - start)}.{self._uniqueid_seq}"

    def _next_channel_seq(self) -> int:
        self._channel_seq += 1
        return self._channel_seq

    def _new_channel(
        self, call: _Call, name: str, *, linkedid: str | None = None, **fields: object
    ) -> SimChannel:
        created = self._now()
        uniqueid = self._new_uniqueid()
        channel = SimChannel(
            name=name,
            uniqueid=uniqueid,
            linkedid=linkedid or uniqueid,
            created=created,
            call=call,
            **fields,  # type: ignore[arg-type]
        )
        call.channels.append(channel)
        self.channels[name] = channel
        self._emit("Newchannel", channel.headers())
        self._device_changed(channel.device)
        return channel

    def _device_changed(self, device: str) -> None:
        if device.startswith("Local/"):
            return
        state = self._device_state(device)
        if self._device_states.get(device, "NOT_INUSE") != state:
            self._device_states[device] = state
            self._emit("DeviceStateChange", [("Device", device), ("State", state)])

    def _set_state(self, channel: SimChannel, state: int) -> None:
        channel.state = state
        self._emit("Newstate", channel.headers())
        self._device_changed(channel.device)

    def _newexten(self, channel: SimChannel) -> None:
        self._emit(
            "Newexten",
            [
                *channel.headers(),
                ("Extension", channel.exten),
                ("Application", channel.application),
                ("AppData", channel.app_data),
            ],
        )

    def _varset(self, channel: SimChannel, name: str, value: str) -> None:
        self._emit("VarSet", [*channel.headers(), ("Variable", name), ("Value", value)])

    def _dial_begin(self, caller: SimChannel | None, callee: SimChannel, dialstring: str) -> None:
        call = callee.call
        assert call is not None
        call.dialing = (caller, callee)
        pairs = caller.headers() if caller is not None else []
        self._emit("DialBegin", [*pairs, *callee.headers("Dest"), ("DialString", dialstring)])

    def _dial_end(self, call: _Call, status: str) -> None:
        if call.dialing is None:
            return
        caller, callee = call.dialing
        call.dialing = None
        pairs = caller.headers() if caller is not None else []
        self._emit("DialEnd", [*pairs, *callee.headers("Dest"), ("DialStatus", status)])

    def _bridge_pairs(self, bridge: _Bridge) -> list[tuple[str, str]]:
        return [
            ("BridgeUniqueid", bridge.uniqueid),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
            ("BridgeNumChannels", str(len(bridge.members))),
            ("BridgeVideoSourceMode", "none"),
        ]

    def _bridge(self, rng: random.Random, call: _Call, channels: Iterable[SimChannel]) -> None:
        r = rng.getrandbits
        uniqueid = f"{r(32):08x}-{r(16):04x}-4{r(12):03x}-{0x8000 | r(14):04x}-{r(48):012x}"
        bridge = _Bridge(uniqueid)
        call.bridge = bridge
        self._emit("BridgeCreate", self._bridge_pairs(bridge))
        members = list(channels)
        for channel in members:
            bridge.members.append(channel)
            channel.bridge_id = uniqueid
            self._emit("BridgeEnter", [*self._bridge_pairs(bridge), *channel.headers()])
        for channel in members:
            peer = next((m for m in members if m is not channel), None)
            if peer is not None:
                self._varset(channel, "BRIDGEPEER", peer.name)

    def _bridge_leave(self, bridge: _Bridge, channel: SimChannel) -> None:
        bridge.members.remove(channel)
        channel.bridge_id = ""
        self._emit("BridgeLeave", [*self._bridge_pairs(bridge), *channel.headers()])

    def _hangup_channel(self, channel: SimChannel, cause: int) -> None:
        if self.channels.get(channel.name) is not channel:
            return
        call = channel.call
        if call is not None and call.bridge is not None and channel in call.bridge.members:
            self._bridge_leave(call.bridge, channel)
        del self.channels[channel.name]
        self._emit(
            "Hangup",
            [
                *channel.headers(),
                ("Cause", str(cause)),
                ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown")),
            ],
        )
        self._device_changed(channel.device)

    def _teardown(
        self, call: _Call, first: SimChannel | None, cause: int, *, request: str | None
    ) -> None:
        """Hang up every live channel of ``call``, ``first`` first; ``request`` names the
        event announcing it (``HangupRequest``/``SoftHangupRequest``) or is ``None``."""
        self._dial_end(call, "CANCEL")
        live = [ch for ch in call.channels if self.channels.get(ch.name) is ch]
        if first in live:
            live.remove(first)
            live.insert(0, first)
        for index, channel in enumerate(live):
            if request is not None:
                name = request if index == 0 else "HangupRequest"
                request_cause = 16 if name == "SoftHangupRequest" else cause
                self._emit(name, [*channel.headers(), ("Cause", str(request_cause))])
            self._hangup_channel(channel, cause)
        bridge = call.bridge
        if bridge is not None and not bridge.destroyed:
            for channel in list(bridge.members):
                self._bridge_leave(bridge, channel)
            bridge.destroyed = True
            self._emit("BridgeDestroy", self._bridge_pairs(bridge))

    def _end_on_request(self, call: _Call) -> None:
        """Tear down after a ``Hangup`` action, as Asterisk reports a soft hangup."""
        self._teardown(call, call.hangup_channel, call.hangup_cause, request="SoftHangupRequest")

    async def _pause(self, call: _Call, seconds: float) -> bool:
        """Sleep ``seconds`` (scaled); True if a hangup was requested meanwhile."""
        if call.hangup_requested.is_set():
            return True
        with trio.move_on_after(max(0.0, seconds * self.time_scale)):
            await call.hangup_requested.wait()
            return True
        return False

    @staticmethod
    def _digits(rng: random.Random, count: int) -> str:
        return "".join(str(rng.randrange(10)) for _ in range(count))

    def _outside_number(self, rng: random.Random) -> str:
        style = rng.randrange(3)
        if style == 0:
            return "+49" + self._digits(rng, 10)
        if style == 1:
            return "0" + str(rng.randrange(1, 10)) + self._digits(rng, 8)
        return "+1" + str(rng.randrange(2, 10)) + self._digits(rng, 9)

    # -- scenarios ------------------------------------------------------------------------------
    async def _call(
        self,
        rng: random.Random,
        caller: str | None,
        callee: str | None,
        *,
        outcome: str | None = None,
        inbound: bool = False,
        ring_time: float | None = None,
        talk_time: float | None = None,
    ) -> None:
        callee = callee or rng.choice(self.extensions)
        if outcome is None:
            choices = list(self.outcomes)
            outcome = rng.choices(choices, weights=[self.outcomes[c] for c in choices])[0]
        elif outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {OUTCOMES}")
        ring = ring_time if ring_time is not None else rng.uniform(*self.ring_time)
        talk = talk_time if talk_time is not None else rng.uniform(*self.talk_time)
        if inbound:
            number = caller or self._outside_number(rng)
            name = rng.choice(_NAMES) if rng.random() < 0.7 else "<unknown>"
        else:
            caller = caller or rng.choice([e for e in self.extensions if e != callee])
            number, name = caller, self.names.get(caller, caller)
        call = _Call()
        self.calls_started += 1
        self.calls_processed += 1
        try:
            await self._dial_scenario(
                rng,
                call,
                caller=(number, name),
                callee_ext=callee,
                outcome=outcome,
                ring=ring,
                talk=talk,
                inbound=inbound,
            )
        finally:
            # Whatever happened (including cancellation), no channel outlives its call.
            self._teardown(call, None, 16, request=None)
            self.calls_completed += 1

    async def _dial_scenario(
        self,
        rng: random.Random,
        call: _Call,
        *,
        caller: tuple[str, str],
        callee_ext: str,
        outcome: str,
        ring: float,
        talk: float,
        inbound: bool,
    ) -> None:
        number, name = caller
        context = self.inbound_context if inbound else self.context
        endpoint = self.trunk if inbound else number
        a = self._new_channel(
            call,
            f"PJSIP/{endpoint}-{self._next_channel_seq():08x}",
            state=4,
            caller_num=number,
            caller_name=name,
            context=context,
            exten=callee_ext,
            endpoint=endpoint,
        )
        if inbound:
            self.set_variable(a, "FROM_DID", callee_ext)
        a.application, a.app_data = "Dial", f"PJSIP/{callee_ext},30"
        self._newexten(a)
        b = self._new_channel(
            call,
            f"PJSIP/{callee_ext}-{self._next_channel_seq():08x}",
            linkedid=a.uniqueid,
            state=0,
            caller_num=callee_ext,
            caller_name=self.names.get(callee_ext, callee_ext),
            connected_num=number,
            connected_name=name,
            context=self.context,
            exten=callee_ext,
            application="AppDial",
            app_data="(Outgoing Line)",
            endpoint=callee_ext,
        )
        a.connected_num, a.connected_name = b.caller_num, b.caller_name
        self._dial_begin(a, b, callee_ext)
        if outcome in ("BUSY", "CONGESTION"):
            if await self._pause(call, min(ring, 0.5)):
                self._end_on_request(call)
                return
            cause = 17 if outcome == "BUSY" else 34
            self._hangup_channel(b, cause)
            self._dial_end(call, outcome)
            self._after_dial(a, outcome, cause)
            return
        self._set_state(b, 5)
        if await self._pause(call, ring):
            self._end_on_request(call)
            return
        if outcome == "CANCEL":
            self._emit("HangupRequest", [*a.headers(), ("Cause", "16")])
            self._dial_end(call, "CANCEL")
            self._hangup_channel(b, 0)
            self._hangup_channel(a, 16)
            return
        if outcome == "NOANSWER":
            self._dial_end(call, "NOANSWER")
            self._hangup_channel(b, 19)
            self._after_dial(a, "NOANSWER", 19)
            return
        self._set_state(b, 6)
        self._dial_end(call, "ANSWER")
        self._set_state(a, 6)
        self._varset(a, "DIALSTATUS", "ANSWER")
        self._newexten(b)
        self._bridge(rng, call, [a, b])
        if await self._pause(call, talk):
            self._end_on_request(call)
            return
        first = a if rng.random() < 0.5 else b
        self._teardown(call, first, 16, request="HangupRequest")

    def _after_dial(self, caller: SimChannel, status: str, cause: int) -> None:
        """The caller's dialplan after an unsuccessful Dial: set DIALSTATUS, hang up."""
        self._varset(caller, "DIALSTATUS", status)
        caller.priority += 1
        caller.application, caller.app_data = "Hangup", ""
        self._newexten(caller)
        self._hangup_channel(caller, cause)

    async def _originate_call(
        self,
        action: Message,
        outcome: str,
        emit_response: bool,
        *,
        task_status: trio.TaskStatus[bool] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        rng = random.Random(self.rng.getrandbits(64))
        call = _Call()
        self.calls_started += 1
        self.calls_processed += 1
        started = False

        def report(success: bool) -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started(success)

        try:
            requested = action.get("Channel") or ""
            if requested.lower().startswith("local/"):
                await self._originate_local(
                    rng, call, action, outcome=outcome, emit_response=emit_response, report=report
                )
            else:
                await self._originate_device(
                    rng, call, action, outcome=outcome, emit_response=emit_response, report=report
                )
        finally:
            self._teardown(call, None, 16, request=None)
            self.calls_completed += 1

    def _originate_setup(self, channel: SimChannel, action: Message) -> None:
        for variable in action.get_all("Variable"):
            name, _, value = variable.partition("=")
            if name:
                self.set_variable(channel, name, value)
        callerid = action.get("CallerID")
        if callerid:
            name, num = parse_callerid(callerid)
            channel.caller_num, channel.caller_name = num or "<unknown>", name or "<unknown>"
            self._emit(
                "NewCallerid",
                [*channel.headers(), ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")],
            )
            channel.connected_num, channel.connected_name = channel.caller_num, channel.caller_name
            self._emit("NewConnectedLine", channel.headers())

    def _originate_failed(self, action: Message, outcome: str, emit_response: bool) -> None:
        if emit_response:
            name, num = parse_callerid(action.get("CallerID") or "")
            self._emit(
                "OriginateResponse",
                originate_response(
                    action, outcome, action.get("Channel") or "", "<unknown>", num=num, name=name
                ),
            )

    def _originate_answered(self, action: Message, channel: SimChannel, emit: bool) -> None:
        if emit:
            self._emit(
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

    def _run_time(self, rng: random.Random, action: Message) -> float:
        if (action.get("Application") or "").lower() == "wait":
            try:
                seconds = float(action.get("Data") or "")
            except ValueError:
                seconds = -1.0
            if 0 <= seconds < _MAX_WAIT:  # not "inf", "nan" or "-5", whatever a client sends
                return seconds
        return rng.uniform(*self.talk_time)

    async def _originate_local(
        self,
        rng: random.Random,
        call: _Call,
        action: Message,
        *,
        outcome: str,
        emit_response: bool,
        report: _Report,
    ) -> None:
        destination = (action.get("Channel") or "").partition("/")[2]
        target = destination.partition("/")[0]  # drop /n style options
        exten, _, context = target.partition("@")
        context = context or "default"
        seq = self._next_channel_seq()
        one = self._new_channel(
            call,
            f"Local/{target}-{seq:08x};1",
            state=0,
            context=context,
            exten=exten,
            endpoint=target,
        )
        two = self._new_channel(
            call,
            f"Local/{target}-{seq:08x};2",
            linkedid=one.uniqueid,
            state=4,
            context=context,
            exten=exten,
            endpoint=target,
        )
        one.application, one.app_data = "AppDial2", "(Outgoing Line)"
        self._newexten(one)
        self._originate_setup(one, action)
        self._originate_setup(two, action)
        if outcome != "Success":
            self._hangup_channel(two, 0)
            self._hangup_channel(one, 0)
            self._originate_failed(action, outcome, emit_response)
            self._local_device_state(target, "INVALID")
            report(False)
            return
        self._emit(
            "LocalBridge",
            [
                *one.headers("LocalOne"),
                *two.headers("LocalTwo"),
                ("Context", context),
                ("Exten", exten),
                ("LocalOptimization", "Yes"),
            ],
        )
        self._dial_begin(None, one, target)
        two.application, two.app_data = "Answer", ""
        self._newexten(two)
        self._set_state(two, 6)
        self._set_state(one, 6)
        self._dial_end(call, "ANSWER")
        self._originate_answered(action, one, emit_response)
        self._local_device_state(target, "INUSE")
        one.application = action.get("Application") or ""
        one.app_data = action.get("Data") or ""
        report(True)
        run_time = self._run_time(rng, action)
        two.priority, two.application, two.app_data = 2, "Wait", str(max(1, int(run_time)))
        self._newexten(two)
        if await self._pause(call, run_time):
            self._end_on_request(call)
        else:
            two.priority, two.application, two.app_data = 3, "Hangup", ""
            self._newexten(two)
            self._teardown(call, two, 16, request="SoftHangupRequest")
        self._local_device_state(target, "NOT_INUSE")

    def _local_device_state(self, target: str, state: str) -> None:
        # Asterisk reports a Local device once per half of the pair.
        for _ in range(2):
            self._emit("DeviceStateChange", [("Device", f"Local/{target}"), ("State", state)])

    async def _originate_device(
        self,
        rng: random.Random,
        call: _Call,
        action: Message,
        *,
        outcome: str,
        emit_response: bool,
        report: _Report,
    ) -> None:
        requested = action.get("Channel") or ""
        tech, _, data = requested.partition("/")
        endpoint = data.partition("/")[0].partition("@")[0]
        channel = self._new_channel(
            call,
            f"{tech}/{endpoint}-{self._next_channel_seq():08x}",
            state=0,
            context=action.get("Context") or "default",
            exten=action.get("Exten") or "s",
            endpoint=endpoint,
        )
        self._originate_setup(channel, action)
        self._dial_begin(None, channel, data)
        self._set_state(channel, 5)
        ring = rng.uniform(*self.ring_time)
        if await self._pause(call, ring):
            self._end_on_request(call)
            self._originate_failed(action, "Failure", emit_response)
            report(False)
            return
        if outcome != "Success":
            status, cause = _ORIGINATE_FAILURES[outcome]
            self._dial_end(call, status)
            self._hangup_channel(channel, cause)
            self._originate_failed(action, outcome, emit_response)
            report(False)
            return
        self._set_state(channel, 6)
        self._dial_end(call, "ANSWER")
        self._originate_answered(action, channel, emit_response)
        report(True)
        run_time = self._run_time(rng, action)
        if action.get("Application"):
            channel.application = action.get("Application") or ""
            channel.app_data = action.get("Data") or ""
        else:
            priority = leading_int(action.get("Priority") or "")
            channel.priority = 1 if priority is None else priority
            channel.application, channel.app_data = "Wait", str(max(1, int(run_time)))
        self._newexten(channel)
        if await self._pause(call, run_time):
            self._end_on_request(call)
        else:
            self._teardown(call, channel, 16, request="HangupRequest")
