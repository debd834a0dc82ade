"""Soak: a reconnecting client under mixed traffic, with restarts and black holes on a schedule.

Usage::

    python benchmarks/soak.py                   # 2 minutes
    python benchmarks/soak.py --duration 900    # longer
    python benchmarks/soak.py --quick           # a few seconds (what the smoke test runs)
    python benchmarks/soak.py --json            # one JSON object on stdout

One process, one ``trio.run``: a :class:`trio_ami.testing.FakeAMIServer` on 127.0.0.1 with a
:class:`trio_ami.testing.PBXSimulator` attached, and a client made by
``trio_ami.resilience.open_reconnecting_ami`` with keepalive on.

- events: the simulator places calls (``Newchannel``, ``Newstate``, ``DialBegin``, ``Hangup``...)
  and a pump pushes ``UserEvent: SoakTick`` events carrying a sequence number, at a steady rate.
  One subscription reads everything, markers included. For each connected period (from a login
  to the loss of that link) the report gives the events the server queued to that session, how
  many of them before the black hole that ended it (if one did), and those the subscription
  delivered, and the same for the ticks: what a restart or a dead link cut off is the
  difference. The
  ``OriginateResponse`` events are left out: each goes to the ``Originate`` waiting for it, or
  reaches the subscription when that action was lost with an earlier link (counted apart).
- actions: worker tasks send ``Ping``, ``Getvar``, ``Setvar``, ``CoreShowChannels``,
  ``UserEvent`` and async ``Originate`` (waiting for its ``OriginateResponse``) at a steady
  rate, each with an ActionID of its own (``soak-<n>``). Counted: sent, answered (a response,
  success or error), failed (the link was lost under it, or it timed out waiting for one), and
  at the server how many times each ActionID arrived: an action that must not be resent
  (anything but the client's read-only retry list) arriving twice is a duplicate, which must
  never happen; read-only ones sent again after a reconnect are counted apart.
- faults, at fixed fractions of the duration: a restart keeping the PBX (at 15%), a black hole
  (at 35%, lifted after ``--black-hole`` seconds), a restart of the whole PBX (at 55%), a
  second black hole (at 75%). The time from each black hole to the client's ``LinkLost`` is
  the time to detect it (keepalive + its timeout, at most).
- memory: ``tracemalloc`` (on for the whole run) and the resident set size at each tenth of
  the run (the first is "the start": everything is warm by then) and at the end, once the last
  calls are over. Both the server and the client live in the process: this is their sum.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import sys
import time
import tracemalloc
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import trio

import trio_ami
from trio_ami.resilience import (
    RETRY_SAFE_ACTIONS,
    LinkLost,
    LinkRestored,
    ReconnectingAMI,
    ReconnectPolicy,
    open_reconnecting_ami,
)
from trio_ami.sansio import Action, requests
from trio_ami.testing import FakeAMIServer, PBXSimulator

USERS = {"soak": "soak-secret"}
TICK = "SoakTick"
KINDS = ("Ping", "Getvar", "Setvar", "CoreShowChannels", "UserEvent", "Originate")
#: How often each kind of action is sent, relatively.
WEIGHTS = (4, 3, 2, 1, 2, 1)


@dataclass
class Config:
    duration: float
    tick_rate: float  # ticks pushed per second
    action_rate: float  # actions sent per second, all workers together
    workers: int
    calls_per_second: float
    keepalive: float
    keepalive_timeout: float
    black_hole: float  # seconds each black hole lasts
    restart_delay: float
    action_timeout: float
    call_time_scale: float  # the simulated calls' ring and talk times are multiplied by it
    seed: int = 1

    @classmethod
    def default(cls, duration: float) -> Config:
        return cls(
            duration=duration,
            tick_rate=200,
            action_rate=40,
            workers=4,
            calls_per_second=2,
            keepalive=2.0,
            keepalive_timeout=2.0,
            black_hole=8.0,
            restart_delay=1.0,
            action_timeout=10.0,
            call_time_scale=0.1,
        )

    @classmethod
    def quick(cls) -> Config:
        return cls(
            duration=6.0,
            tick_rate=200,
            action_rate=40,
            workers=4,
            calls_per_second=4,
            keepalive=0.3,
            keepalive_timeout=0.3,
            black_hole=1.0,
            restart_delay=0.2,
            action_timeout=3.0,
            call_time_scale=0.02,
        )


# -- the server's side -----------------------------------------------------------------------------
@dataclass
class SessionTicks:
    """The ticks queued to one server session: how many, the first and the last."""

    session_id: int
    count: int = 0
    first: int = -1
    last: int = -1
    events_queued: int = 0  # every event queued to the session, ticks included
    # OriginateResponse events among them, left out of the comparison: each answers one of the
    # client's Originates, which takes it, unless it was lost with an earlier link (the event
    # then reaches the subscription).
    outcomes: int = 0
    # (events, ticks) queued when a black hole struck this session: what came after went into
    # it. (A restart closes the session at once: what it queued is what it was sent.)
    before_fault: tuple[int, int] | None = None

    @property
    def events(self) -> int:
        return self.events_queued - self.outcomes


class ServerBooks:
    """What the server saw: ticks per session, and how many times each ActionID arrived.

    Bounded: one byte per action sent (a saturating counter indexed by its number), one record
    per session; the server's own lists of received actions are emptied as they are counted.
    """

    def __init__(self, server: FakeAMIServer) -> None:
        self.server = server
        self.seq = 0
        self.sessions: dict[int, SessionTicks] = {}
        self._live: dict[int, Any] = {}  # session id -> session, to read events_sent at the end
        self.arrivals = bytearray()
        self.kinds = bytearray()  # the kind of each action, by number (index in KINDS)
        self.other_actions = 0  # logins, keepalive pings, logoffs: the client's own
        server.pbx.add_listener(self._model_event)

    def _logged_in(self) -> list[SessionTicks]:
        found = []
        for session in self.server.sessions:
            if session.logged_in:
                books = self.sessions.get(session.id)
                if books is None:
                    books = self.sessions[session.id] = SessionTicks(session.id)
                    self._live[session.id] = session
                books.events_queued = session.events_sent
                found.append(books)
        return found

    def _model_event(self, name: str, pairs: object) -> None:
        if name == "OriginateResponse":
            for books in self._logged_in():
                books.outcomes += 1

    def fault_strikes(self) -> None:
        """Note what the sessions got before a black hole."""
        for books in self._logged_in():
            if books.before_fault is None:
                books.before_fault = (books.events, books.count)

    def push_tick(self) -> None:
        self.seq += 1
        self.server.push_event(TICK, {"UserEvent": TICK, "Seq": str(self.seq)}, privilege="user")
        for books in self._logged_in():
            books.count += 1
            books.first = self.seq if books.first < 0 else books.first
            books.last = self.seq

    def note_action(self, number: int, kind: int) -> None:
        while len(self.kinds) <= number:
            self.kinds.append(255)
            self.arrivals.append(0)
        self.kinds[number] = kind

    def drain(self) -> None:
        """Count the actions received since the last call, and forget them."""
        received = self.server.received
        for action in received:
            action_id = action.get("ActionID") or ""
            if not action_id.startswith("soak-"):
                self.other_actions += 1
                continue
            number = int(action_id[5:])
            while len(self.arrivals) <= number:
                self.arrivals.append(0)
                self.kinds.append(255)
            self.arrivals[number] = min(255, self.arrivals[number] + 1)
        received.clear()
        for session in self.server.sessions:
            session.received.clear()

    def finish(self) -> None:
        self.drain()
        for session_id, session in self._live.items():
            self.sessions[session_id].events_queued = session.events_sent
        self._live.clear()

    def repeats(self) -> tuple[int, int]:
        """ActionIDs that arrived more than once: of actions that must not be resent, and of
        read-only ones (which the client sends again after a reconnect)."""
        safe = {index for index, kind in enumerate(KINDS) if kind.lower() in RETRY_SAFE_ACTIONS}
        duplicated = resent = 0
        for number, count in enumerate(self.arrivals):
            if count > 1:
                if self.kinds[number] in safe:
                    resent += 1
                else:
                    duplicated += 1
        return duplicated, resent


async def pump_ticks(books: ServerBooks, rate: float, stop_at: float) -> None:
    """Push ``rate`` ticks a second, in small batches, until ``stop_at``."""
    step = 0.01
    owed = 0.0
    while trio.current_time() < stop_at:
        owed += rate * step
        while owed >= 1:
            books.push_tick()
            owed -= 1
        books.drain()
        await trio.sleep(step)


@dataclass
class Fault:
    at: float  # seconds from the start
    kind: str  # "restart", "restart-fresh", "black-hole"
    started: float = -1.0
    detected_after: float | None = None  # black holes: seconds until the client's LinkLost


def schedule(config: Config) -> list[Fault]:
    span = config.duration
    return [
        Fault(0.15 * span, "restart"),
        Fault(0.35 * span, "black-hole"),
        Fault(0.55 * span, "restart-fresh"),
        Fault(0.75 * span, "black-hole"),
    ]


async def inject(books: ServerBooks, faults: list[Fault], config: Config, start: float) -> None:
    server = books.server
    for fault in faults:
        await trio.sleep_until(start + fault.at)
        fault.started = trio.current_time()
        if fault.kind == "black-hole":
            books.fault_strikes()
            server.black_hole()
            await trio.sleep(config.black_hole)
            server.lift_black_hole()
        else:
            await server.restart(delay=config.restart_delay, keep_state=fault.kind == "restart")


# -- the client's side -----------------------------------------------------------------------------
@dataclass
class Period:
    """One connected period, as the subscription saw it."""

    events: int = 0
    ticks: int = 0
    first_tick: int = -1
    last_tick: int = -1
    overflowed: int = 0
    late_outcomes: int = 0  # OriginateResponses of Originates lost with an earlier link
    lost_because: str = ""  # the LinkLost's reason, "" for the last period
    down_for: float = 0.0  # from the LinkRestored that began it (0 for the first)


@dataclass
class ClientBooks:
    periods: list[Period] = field(default_factory=lambda: [Period()])
    markers: list[str] = field(default_factory=list)
    sent: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # by exception type
    next_number: int = 0


async def consume(ami: ReconnectingAMI, books: ClientBooks, faults: list[Fault]) -> None:
    async with ami.subscribe() as items:
        while True:
            try:
                item = await items.receive()
            except trio_ami.SubscriptionOverflow as overflow:
                books.periods[-1].overflowed += overflow.missed
                continue
            except trio.EndOfChannel:
                return
            period = books.periods[-1]
            if isinstance(item, LinkLost):
                period.lost_because = item.reason
                books.markers.append(f"lost: {item.reason}")
                now = trio.current_time()
                for fault in faults:
                    started = fault.kind == "black-hole" and fault.started >= 0
                    if started and fault.detected_after is None:
                        fault.detected_after = now - fault.started
            elif isinstance(item, LinkRestored):
                books.markers.append(f"back after {item.down_for:.2f} s")
                books.periods.append(Period(down_for=item.down_for))
            elif item.name == "OriginateResponse":
                period.late_outcomes += 1
            elif item.name != "FullyBooted":  # a greeting, not an event the server queued
                period.events += 1
                if item.get("UserEvent") == TICK:
                    seq = int(item["Seq"])
                    period.ticks += 1
                    period.first_tick = seq if period.first_tick < 0 else period.first_tick
                    period.last_tick = seq


def make_action(kind: str, number: int, rng: random.Random) -> tuple[Action, str | None]:
    """The action of ``kind`` with ActionID ``soak-<number>``, and the event it waits for."""
    action_id = f"soak-{number}"
    if kind == "Originate":
        caller, callee = rng.sample(range(100, 120), 2)
        request = requests.originate(
            f"PJSIP/{caller}", context="from-internal", exten=str(callee), priority=1, wait=True
        )
        return request.action.with_action_id(action_id), request.outcome_event
    headers: dict[str, str] = {
        "Ping": {},
        "Getvar": {"Variable": f"SOAK{number % 50}"},
        "Setvar": {"Variable": f"SOAK{number % 50}", "Value": str(number)},
        "CoreShowChannels": {},
        "UserEvent": {"UserEvent": "SoakAction", "Number": str(number)},
    }[kind]
    return Action(kind, [*headers.items(), ("ActionID", action_id)]), None


async def send_actions(
    ami: ReconnectingAMI,
    books: ClientBooks,
    server_books: ServerBooks,
    config: Config,
    stop_at: float,
    seed: int,
) -> None:
    rng = random.Random(seed)
    interval = config.workers / config.action_rate
    next_at = trio.current_time() + rng.random() * interval
    while next_at < stop_at:
        await trio.sleep_until(next_at)
        next_at += interval
        index = rng.choices(range(len(KINDS)), WEIGHTS)[0]
        kind = KINDS[index]
        number = books.next_number
        books.next_number += 1
        server_books.note_action(number, index)
        action, outcome = make_action(kind, number, rng)
        books.sent[kind] += 1
        try:
            await ami.action(
                action, timeout=config.action_timeout, check=False, outcome_event=outcome
            )
        except trio_ami.AMIError as error:
            books.failed[kind] += 1
            books.failures[type(error).__name__] += 1
        else:
            books.answered[kind] += 1


# -- memory ---------------------------------------------------------------------------------------
def memory() -> dict[str, float]:
    """``tracemalloc``'s current and peak, and the resident set size, in MB."""
    current, peak = tracemalloc.get_traced_memory()
    with open("/proc/self/statm") as statm:  # resident pages, Linux
        resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return {
        "tracemalloc_mb": round(current / 1e6, 2),
        "tracemalloc_peak_mb": round(peak / 1e6, 2),
        "rss_mb": round(resident / 1e6, 2),
    }


async def sample_memory(memory_at: dict[str, Any], start: float, duration: float) -> None:
    """Memory at each tenth of the run; the first is the start (the client is warm by then)."""
    for tenth in range(1, 11):
        await trio.sleep_until(start + tenth * duration / 10)
        memory_at["samples"].append(memory())
    memory_at["start"] = memory_at["samples"][0]


# -- the run --------------------------------------------------------------------------------------
async def soak(config: Config) -> dict[str, Any]:
    simulator = PBXSimulator(seed=config.seed, time_scale=config.call_time_scale)
    server = FakeAMIServer(users=USERS, simulator=simulator, seed=config.seed)
    server_books = ServerBooks(server)
    books = ClientBooks()
    faults = schedule(config)
    memory_at: dict[str, Any] = {"samples": []}
    policy = ReconnectPolicy(initial_delay=0.1, max_delay=1.0)
    async with server.listen_tcp() as (host, port):
        async with open_reconnecting_ami(
            host,
            port,
            username="soak",
            secret=USERS["soak"],
            policy=policy,
            keepalive=config.keepalive,
            keepalive_timeout=config.keepalive_timeout,
            connect_timeout=config.keepalive_timeout,
            login_timeout=config.keepalive_timeout,
        ) as ami:
            await ami.wait_connected()
            start = trio.current_time()
            stop_at = start + config.duration
            async with trio.open_nursery() as nursery:
                nursery.start_soon(consume, ami, books, faults)
                async with trio.open_nursery() as traffic:
                    traffic.start_soon(
                        lambda: simulator.run(
                            calls_per_second=config.calls_per_second, duration=config.duration
                        )
                    )
                    traffic.start_soon(pump_ticks, server_books, config.tick_rate, stop_at)
                    traffic.start_soon(inject, server_books, faults, config, start)
                    for worker in range(config.workers):
                        traffic.start_soon(
                            send_actions, ami, books, server_books, config, stop_at, worker
                        )
                    traffic.start_soon(sample_memory, memory_at, start, config.duration)
                # Every call placed has ended, every action is done: let the calls originated
                # last end too, and their last events arrive.
                with trio.move_on_after(config.action_timeout):
                    while server.live_channels():
                        await trio.sleep(0.05)
                await trio.sleep(0.5)
                server_books.finish()
                memory_at["end"] = memory()
                statistics = ami.statistics()
                nursery.cancel_scope.cancel()
    return report(config, server, server_books, books, faults, memory_at, statistics)


def report(
    config: Config,
    server: FakeAMIServer,
    server_books: ServerBooks,
    books: ClientBooks,
    faults: list[Fault],
    memory_at: dict[str, Any],
    statistics: Any,
) -> dict[str, Any]:
    periods = []
    by_session = sorted(server_books.sessions.values(), key=lambda s: s.session_id)
    for index, period in enumerate(books.periods):
        session = next(
            (s for s in by_session if s.first <= period.first_tick <= s.last),
            None,
        )
        before = (None, None) if session is None else session.before_fault or (None, None)
        periods.append(
            {
                "period": index + 1,
                "events_sent": None if session is None else session.events,
                "events_sent_before_fault": before[0],
                "events_delivered": period.events,
                "ticks_sent": None if session is None else session.count,
                "ticks_sent_before_fault": before[1],
                "ticks_delivered": period.ticks,
                "overflowed": period.overflowed,
                "late_originate_responses": period.late_outcomes,
                "down_before_s": round(period.down_for, 3),
                "ended_by": period.lost_because or "the end of the run",
            }
        )
    duplicated, resent = server_books.repeats()
    server_stats = server.statistics()
    return {
        "duration_s": config.duration,
        "config": asdict(config),
        "periods": periods,
        "sessions_with_ticks": len(by_session),
        "actions": {
            "sent": sum(books.sent.values()),
            "answered": sum(books.answered.values()),
            "failed": sum(books.failed.values()),
            "duplicated": duplicated,
            "read_only_resent": resent,
            "by_kind": {
                kind: {
                    "sent": books.sent[kind],
                    "answered": books.answered[kind],
                    "failed": books.failed[kind],
                }
                for kind in KINDS
            },
            "failures": dict(books.failures),
            "client_own_actions": server_books.other_actions,
        },
        "faults": [
            {
                "kind": fault.kind,
                "at_s": round(fault.at, 2),
                "detected_after_s": None
                if fault.detected_after is None
                else round(fault.detected_after, 3),
            }
            for fault in faults
        ],
        "markers": books.markers,
        "reconnects": statistics.reconnects,
        "time_down_s": round(statistics.time_down, 3),
        "time_connected_s": round(statistics.time_connected, 3),
        "server": {
            "connections": server_stats.connections,
            "restarts": server_stats.restarts,
            "events_pushed": server_stats.events_pushed,
            "overflow_disconnects": server_stats.overflow_disconnects,
        },
        "memory": memory_at,
        "python": platform.python_version(),
        "trio": trio.__version__,
        "cpus": os.cpu_count(),
    }


def print_text(result: dict[str, Any]) -> None:
    config = result["config"]
    print(
        f"soak: {result['duration_s']:g} s; ticks {config['tick_rate']:g}/s, actions "
        f"{config['action_rate']:g}/s over {config['workers']} workers, "
        f"{config['calls_per_second']:g} simulated calls/s; keepalive "
        f"{config['keepalive']:g} s + {config['keepalive_timeout']:g} s"
    )
    print(f"Python {result['python']}, trio {result['trio']}, {result['cpus']} CPUs")
    print()
    print("Per connected period: events (ticks among them) queued by the server for that session,")
    print("how many of them before the black hole that ended it, if one did, and delivered to")
    print("the subscription.")
    print()
    print(
        f"{'period':>6}  {'events sent':>11} {'before':>6} {'delivered':>9}  "
        f"{'ticks sent':>10} {'before':>6} {'delivered':>9}  {'overflow':>8}  "
        f"{'down before':>11}  ended by"
    )
    for row in result["periods"]:
        cells = [
            "?" if row[key] is None else str(row[key])
            for key in (
                "events_sent",
                "events_sent_before_fault",
                "ticks_sent",
                "ticks_sent_before_fault",
            )
        ]
        ended = row["ended_by"].removeprefix("the AMI connection is closed: ")
        print(
            f"{row['period']:>6}  {cells[0]:>11} {cells[1]:>6} {row['events_delivered']:>9}  "
            f"{cells[2]:>10} {cells[3]:>6} {row['ticks_delivered']:>9}  "
            f"{row['overflowed']:>8}  {row['down_before_s']:>9.2f} s  {ended}"
        )
    actions = result["actions"]
    print()
    print(
        f"actions: {actions['sent']} sent, {actions['answered']} answered, "
        f"{actions['failed']} failed, {actions['duplicated']} duplicated "
        f"({actions['read_only_resent']} read-only ones sent again after a reconnect)"
    )
    for kind, row in actions["by_kind"].items():
        print(
            f"  {kind:<17} {row['sent']:>6} sent {row['answered']:>6} answered "
            f"{row['failed']:>4} failed"
        )
    if actions["failures"]:
        print("  failures: " + ", ".join(f"{k} {v}" for k, v in actions["failures"].items()))
    print()
    for fault in result["faults"]:
        detected = fault["detected_after_s"]
        extra = (
            ""
            if fault["kind"] != "black-hole"
            else ("  not detected" if detected is None else f"  detected after {detected:.2f} s")
        )
        print(f"fault at {fault['at_s']:>7.2f} s: {fault['kind']}{extra}")
    print(
        f"reconnects {result['reconnects']}, time down {result['time_down_s']:.2f} s, "
        f"connected {result['time_connected_s']:.2f} s"
    )
    for when in ("start", "end"):
        row = result["memory"].get(when, {})
        print(
            f"memory at the {when}: tracemalloc {row.get('tracemalloc_mb')} MB "
            f"(peak {row.get('tracemalloc_peak_mb')} MB), RSS {row.get('rss_mb')} MB"
        )
    samples = result["memory"]["samples"]
    print("tracemalloc at each tenth, MB: " + " ".join(f"{m['tracemalloc_mb']}" for m in samples))
    print("RSS at each tenth, MB:         " + " ".join(f"{m['rss_mb']}" for m in samples))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, help="seconds (default 120)")
    parser.add_argument("--quick", action="store_true", help="6 seconds, short timeouts")
    parser.add_argument("--black-hole", type=float, help="seconds each black hole lasts")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--verbose", action="store_true", help="show the client's log (each loss and attempt)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(message)s")
    logging.getLogger("trio_ami").setLevel(logging.INFO if args.verbose else logging.ERROR)
    config = Config.quick() if args.quick else Config.default(120.0)
    if args.duration is not None:
        config.duration = args.duration
    if args.black_hole is not None:
        config.black_hole = args.black_hole
    tracemalloc.start()
    started = time.monotonic()
    result = trio.run(soak, config)
    result["wall_s"] = round(time.monotonic() - started, 2)
    if args.json:
        print(json.dumps(result))
    else:
        print_text(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
