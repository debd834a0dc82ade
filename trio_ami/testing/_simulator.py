"""A small simulated PBX that feeds a :class:`~trio_ami.testing.FakeAMIServer` with call traffic.

:class:`PBXSimulator` places calls between PJSIP extensions and from a trunk, and emits the events
Asterisk 22 emits for them, with the same header sets: ``Newchannel``, ``Newexten``, ``VarSet``,
``DialBegin``, ``Newstate`` (Ring, Ringing, Up), ``DialEnd``, ``BridgeCreate``/``Enter``/``Leave``/
``Destroy``, ``HangupRequest``, ``Hangup`` (``Cause``, ``Cause-txt``), ``DeviceStateChange``, and
for originated calls ``LocalBridge`` and ``OriginateResponse``. Its channels live in a
:class:`~trio_ami.testing.PBX` model (its own, or the server's once attached), so
``CoreShowChannels``, ``Status``, ``core show channels``, ``Hangup``, ``Redirect`` and channel
``Setvar``/``Getvar`` on the server see them, and its events reach the server's sessions through
the model.

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
from collections.abc import Mapping, Sequence
from functools import partial

import trio

from ..sansio import Event, Message
from ._calls import Call, Numbering, OriginateRequest, run_originate
from ._pbx import PBX, SimChannel
from ._wire import Pairs, recorded_event

__all__ = ["OUTCOMES", "PBXSimulator"]

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


class PBXSimulator:
    """Simulated call traffic for a :class:`~trio_ami.testing.FakeAMIServer`.

    ``extensions`` are the PJSIP endpoints (default ``100``-``119``) in ``context``; inbound
    calls come from endpoint ``trunk`` into ``inbound_context``. ``outcomes`` weighs how calls
    end (see :data:`OUTCOMES`); ``ring_time`` / ``talk_time`` are ``(min, max)`` seconds, all
    durations multiplied by ``time_scale`` (use e.g. 0.01 in tests). ``record=True`` keeps every
    event of its model in :attr:`events`.

    It runs on its own :class:`~trio_ami.testing.PBX` (``pbx``) until a server adopts it
    (``FakeAMIServer(simulator=...)``), which moves it onto the server's model with
    :meth:`use_pbx`.
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
        #: Calls begun and calls over.
        self.calls_started = 0
        self.calls_completed = 0
        #: Events of the model so far.
        self.events_emitted = 0
        #: Every event of the model, when ``record=True``.
        self.events: list[Event] = []
        self.record = record
        self._nurseries: list[trio.Nursery] = []
        self._numbering = Numbering(epoch)
        #: The model the simulated calls live in.
        self.pbx = PBX()
        self.pbx.add_listener(self._record)
        self.pbx.register_extensions(self.extensions, self.context)

    def use_pbx(self, pbx: PBX) -> None:
        """Run the calls in ``pbx`` from now on (a server's model): its extensions become this
        simulator's, its events are the ones :attr:`events` records."""
        if pbx is self.pbx:
            return
        if self.pbx.channels:
            raise RuntimeError("the simulator has calls in progress in its current model")
        self.pbx.remove_listener(self._record)
        self.pbx = pbx
        pbx.add_listener(self._record)
        pbx.register_extensions(self.extensions, self.context)

    @property
    def channels(self) -> dict[str, SimChannel]:
        """The model's live channels by name, in order of creation."""
        return self.pbx.channels

    @property
    def calls_processed(self) -> int:
        """The calls ``core show channels`` counts."""
        return self.pbx.calls_processed

    def _record(self, name: str, pairs: Pairs) -> None:
        self.events_emitted += 1
        if self.record:
            self.events.append(recorded_event(name, pairs))

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

    # -- queries and control (the model answers) ------------------------------------------
    def find_channel(self, name: str) -> SimChannel | None:
        """A live channel by name or uniqueid (names compare case-insensitively)."""
        return self.pbx.find_channel(name)

    def endpoint_channels(self, endpoint: str) -> list[SimChannel]:
        """The live PJSIP channels of ``endpoint``."""
        return self.pbx.endpoint_channels(endpoint)

    def device_state(self, endpoint: str) -> str:
        """``NOT_INUSE``, ``RINGING``, ``INUSE`` or ``RINGINUSE`` for a PJSIP endpoint."""
        return self.pbx.device_state(f"PJSIP/{endpoint}")

    def hint(self, exten: str, context: str) -> str:
        """The hint of ``exten@context``: ``PJSIP/<exten>`` for the simulator's extensions."""
        return self.pbx.hint(exten, context)

    def hint_state(self, hint: str) -> int:
        """The extension state number of a hint (0 idle, 1 in use, 8 ringing, 9 both)."""
        return self.pbx.hint_state(hint)

    def hangup(self, channel: SimChannel, cause: int = 0) -> None:
        """Ask for ``channel`` to be hung up (the ``Hangup`` action); its call tears down."""
        self.pbx.hangup(channel, cause)

    def redirect(self, channel: SimChannel, context: str, exten: str, priority: int) -> None:
        """Send ``channel`` to ``exten@context:priority`` (the ``Redirect`` action)."""
        self.pbx.redirect(channel, context, exten, priority)

    def set_variable(self, channel: SimChannel, name: str, value: str) -> None:
        """Set a channel variable, emitting ``VarSet`` (the ``Setvar`` action)."""
        self.pbx.set_variable(channel, name, value)

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

    def _new_call(self) -> Call:
        self.calls_started += 1
        self.pbx.count_call()
        return Call(self.pbx, self._numbering, self.time_scale)

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
        call = self._new_call()
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
            call.teardown(None, 16, request=None)
            self.calls_completed += 1

    async def _dial_scenario(
        self,
        rng: random.Random,
        call: Call,
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
        a = call.new_channel(
            f"PJSIP/{endpoint}-{self._numbering.channel_seq():08x}",
            state=4,
            caller_num=number,
            caller_name=name,
            context=context,
            exten=callee_ext,
            endpoint=endpoint,
        )
        if inbound:
            self.pbx.set_variable(a, "FROM_DID", callee_ext)
        a.application, a.app_data = "Dial", f"PJSIP/{callee_ext},30"
        self.pbx.newexten(a)
        b = call.new_channel(
            f"PJSIP/{callee_ext}-{self._numbering.channel_seq():08x}",
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
        call.dial_begin(a, b, callee_ext)
        if outcome in ("BUSY", "CONGESTION"):
            if await call.pause(min(ring, 0.5)):
                call.end_on_request()
                return
            cause = 17 if outcome == "BUSY" else 34
            self.pbx.hangup_channel(b, cause)
            call.dial_end(outcome)
            call.after_dial(a, outcome, cause)
            return
        self.pbx.set_state(b, 5)
        if await call.pause(ring):
            call.end_on_request()
            return
        if outcome == "CANCEL":
            self.pbx.emit("HangupRequest", [*a.headers(), ("Cause", "16")])
            call.dial_end("CANCEL")
            self.pbx.hangup_channel(b, 0)
            self.pbx.hangup_channel(a, 16)
            return
        if outcome == "NOANSWER":
            call.dial_end("NOANSWER")
            self.pbx.hangup_channel(b, 19)
            call.after_dial(a, "NOANSWER", 19)
            return
        self.pbx.set_state(b, 6)
        call.dial_end("ANSWER")
        self.pbx.set_state(a, 6)
        self.pbx.varset(a, "DIALSTATUS", "ANSWER")
        self.pbx.newexten(b)
        call.bridge_channels(rng, [a, b])
        if await call.pause(talk):
            call.end_on_request()
            return
        first = a if rng.random() < 0.5 else b
        call.teardown(first, 16, request="HangupRequest")

    async def _originate_call(
        self,
        action: Message,
        outcome: str,
        emit_response: bool,
        *,
        task_status: trio.TaskStatus[bool] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        rng = random.Random(self.rng.getrandbits(64))
        call = self._new_call()
        started = False

        def report(success: bool) -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started(success)

        request = OriginateRequest(outcome, emit_response, self.ring_time, self.talk_time, report)
        try:
            await run_originate(call, rng, action, request)
        finally:
            call.teardown(None, 16, request=None)
            self.calls_completed += 1
