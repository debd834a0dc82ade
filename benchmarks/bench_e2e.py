"""End-to-end throughput of the trio client against the fake server, over loopback TCP.

Usage::

    python benchmarks/bench_e2e.py            # full run: 200k events, best of 3
    python benchmarks/bench_e2e.py --quick    # 40k events, best of 2
    python benchmarks/bench_e2e.py --json     # one JSON object on stdout
    python benchmarks/bench_e2e.py --unthrottled          # a real burst: 200k events, 5 runs
    python benchmarks/bench_e2e.py --unthrottled --quick  # 40k events, 2 runs

Throttled (the default)
-----------------------

Everything runs in one process and one ``trio.run``: a :class:`trio_ami.testing.FakeAMIServer`
listening on 127.0.0.1, and a client made by :func:`trio_ami.open_ami` connected to it.

- events: ``N`` realistic events (``Newchannel``, ``Newstate``, ``VarSet``, ``Hangup``, about
  500 bytes each, with ``ChanVariable`` lines) go from the server through TCP to a consumer that
  runs ``async for event in subscription``, reads ``event.name`` of each and counts it in an
  attribute the producer reads (the baseline's consumer only reads). The events are
  serialised once, before timing; the server session writes them with ``send_raw`` in blocks of
  ``BLOCK_EVENTS`` events, so the server costs one queue put and one ``send_all`` per block. The
  client's reader never waits for a subscriber (an overflowing subscription loses events, by
  design), so the producer keeps at most the subscription's buffer size of events in flight
  (sent and not yet consumed), checked every millisecond: enough to keep the consumer supplied,
  and nothing is dropped (checked after each run).
  The rate is timed from the first event the consumer receives to the last.
- baseline, in the same run: a bare ``trio`` memory channel moving the same number of items,
  a producer task calling ``send`` and a consumer task running ``async for`` and reading an
  attribute of each item, at the subscription's buffer size and at a few others (the rate
  depends on it). The ratio compares ours with the baseline at the same buffer size.
- batch: the same events read with ``await subscription.receive_batch()`` in a loop.
- round trips: 100 caller tasks, each awaiting ``ami.ping()`` ``M`` times on one connection.

Each figure is the best of several repeats; the measurements alternate within a repeat.

Unthrottled (``--unthrottled``)
-------------------------------

A separate process (``e2e_producer.py``, started with ``subprocess``) listens on 127.0.0.1,
logs each client in, and writes ``N`` events (the same ones, serialised once before any run)
with ``sock.sendall`` in blocks of about 1 MB, as fast as the socket takes them, then an end
marker ``Event: BenchDone``. Nothing throttles it: whatever the client does not keep up with is
what a real burst costs. Each run is one connection; every repeat runs, in turn:

- per event: ``trio_ami.open_ami`` with the default settings, ``async with ami.subscribe() as
  events``, then a ``UserEvent`` action that sets the flood off, and ``async for event in
  events`` reading ``event.name``. A :class:`trio_ami.SubscriptionOverflow` adds its ``missed``
  to the events lost, and the consumer reads on;
- batch: the same with ``await events.receive_batch()`` in a loop;
- the baseline: a bare trio memory channel moving ``N`` items (buffer 10,000, then ``math.inf``);
- a naive asyncio client (in its own ``asyncio.run``): an ``asyncio.Protocol`` that splits the
  stream on ``b"\r\n\r\n"`` and builds a dict per packet in ``data_received``, handing each to
  a counting consumer inline;
- early subscription: the producer starts right after the login's answer, and ``subscribe()``
  is the first statement of the ``open_ami`` block: how many events are lost before it opens;
- memory: one more per-event run, untimed, under ``tracemalloc`` (its peak, in MB).

Rates are events delivered to the consumer per second, from the first received to the last.
A ``Ping`` sent once the flood has started is answered after the end marker: when it returns
every event has reached the subscription, which also ends a run whose marker was dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import math
import os
import platform
import random
import resource
import select
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

import trio_ami
from trio_ami.testing import FakeAMIServer, FakeSession

SUBSCRIPTION_BUFFER = 10_000  # the default of AMIConnection.subscribe
BASELINE_BUFFERS: tuple[float, ...] = (1000, SUBSCRIPTION_BUFFER, math.inf)
BLOCK_EVENTS = 200  # events per send_raw block
DISTINCT_EVENTS = 2000  # distinct serialised events, cycled
PACING_INTERVAL = 0.001  # how often the producer checks for room (seconds)
CALLERS = 100
TARGET = 0.7  # ours / baseline

_FIRST = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy"]
_LAST = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies"]


# -- the events -----------------------------------------------------------------------------------
def _snapshot(rng: random.Random, serial: int, state: int) -> list[tuple[str, str]]:
    states = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
    uniqueid = f"1718035200.{serial}"
    return [
        ("Channel", f"PJSIP/{rng.choice(['trunk-a', 'trunk-b', '1042'])}-{serial:08x}"),
        ("ChannelState", str(state)),
        ("ChannelStateDesc", states[state]),
        ("CallerIDNum", f"+1{rng.randint(200, 999)}{rng.randint(2000000, 9999999)}"),
        ("CallerIDName", f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"),
        ("ConnectedLineNum", "<unknown>"),
        ("ConnectedLineName", "<unknown>"),
        ("Language", "en"),
        ("AccountCode", rng.choice(["", "acct-7", "dept-sales"])),
        ("Context", "from-trunk"),
        ("Exten", f"{rng.randint(200, 999)}555{rng.randint(1000, 9999)}"),
        ("Priority", str(rng.randint(1, 9))),
        ("Uniqueid", uniqueid),
        ("Linkedid", uniqueid),
        ("ChanVariable", f"SIPCALLID={rng.getrandbits(64):016x}@10.0.0.{rng.randint(1, 254)}"),
        ("ChanVariable", f"TENANT={rng.choice(['acme', 'globex', 'initech'])}"),
        ("ChanVariable", f"CDR(accountcode)={rng.choice(['', '7', '42'])}"),
    ]


def build_events(count: int, seed: int = 1) -> list[bytes]:
    """``count`` distinct serialised events, the wire bytes a real Asterisk 22 would send."""
    rng = random.Random(seed)
    events = []
    for serial in range(count):
        kind = rng.choice(["Newchannel", "Newstate", "VarSet", "Hangup"])
        headers = [
            ("Event", kind),
            ("Privilege", "call,all" if kind != "VarSet" else "dialplan,all"),
        ]
        headers += _snapshot(rng, serial, {"Newchannel": 0, "Hangup": 6}.get(kind, 5))
        if kind == "VarSet":
            headers += [("Variable", "BRIDGEPEER"), ("Value", f"PJSIP/1042-{serial:08x}")]
        elif kind == "Hangup":
            headers += [("Cause", "16"), ("Cause-txt", "Normal Clearing")]
        text = "".join(f"{key}: {value}\r\n" for key, value in headers) + "\r\n"
        events.append(text.encode())
    return events


def build_blocks(events: list[bytes]) -> list[bytes]:
    return [b"".join(events[i : i + BLOCK_EVENTS]) for i in range(0, len(events), BLOCK_EVENTS)]


# -- end to end -----------------------------------------------------------------------------------
class Flow:
    """How many events the consumer has taken: the producer keeps at most ``window`` in flight."""

    def __init__(self) -> None:
        self.consumed = 0


async def produce(
    session: FakeSession, blocks: list[bytes], total: int, window: int, flow: Flow
) -> None:
    sent = 0
    index = 0
    while sent < total:
        while sent + BLOCK_EVENTS - flow.consumed > window:
            await trio.sleep(PACING_INTERVAL)
        session.send_raw(blocks[index])
        index = (index + 1) % len(blocks)
        sent += BLOCK_EVENTS
        await trio.lowlevel.checkpoint()


async def consume_iter(subscription: trio_ami.Subscription, total: int, flow: Flow) -> float:
    first = await subscription.receive()
    _name = first.name
    start = time.perf_counter()
    count = 1
    async for event in subscription:
        _name = event.name
        count += 1
        flow.consumed = count
        if count == total:
            break
    return time.perf_counter() - start


async def consume_batch(subscription: trio_ami.Subscription, total: int, flow: Flow) -> float:
    first = await subscription.receive()
    _name = first.name
    start = time.perf_counter()
    count = 1
    while count < total:
        batch = await subscription.receive_batch()
        for event in batch:
            _name = event.name
        count += len(batch)
        flow.consumed = count
    return time.perf_counter() - start


async def event_run(
    ami: trio_ami.AMIConnection,
    session: FakeSession,
    blocks: list[bytes],
    total: int,
    consume: Callable[[trio_ami.Subscription, int, Flow], Awaitable[float]],
) -> float:
    """Seconds from the first event received to the last (``total - 1`` events)."""
    flow = Flow()
    gc.collect()
    async with ami.subscribe(buffer=SUBSCRIPTION_BUFFER) as subscription:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce, session, blocks, total, SUBSCRIPTION_BUFFER, flow)
            seconds = await consume(subscription, total, flow)
        stats = subscription.statistics()
        if stats.dropped or stats.buffered:
            raise RuntimeError(f"events dropped or left over: {stats}")
    return seconds


# -- the baseline: a bare trio memory channel -----------------------------------------------------
class Item:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


async def channel_run(total: int, buffer: float) -> float:
    """Seconds from the first item received to the last (``total - 1`` items)."""
    send_channel, receive_channel = trio.open_memory_channel[Item](buffer)
    items = [Item(name) for name in ("Newchannel", "Newstate", "VarSet", "Hangup")]
    seconds = 0.0
    gc.collect()

    async def producer() -> None:
        async with send_channel:
            for i in range(total):
                await send_channel.send(items[i & 3])

    async def consumer() -> None:
        nonlocal seconds
        async with receive_channel:
            first = await receive_channel.receive()
            _name = first.name
            start = time.perf_counter()
            count = 1
            async for item in receive_channel:
                _name = item.name
                count += 1
            seconds = time.perf_counter() - start
            assert count == total

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        nursery.start_soon(producer)
    return seconds


# -- action round trips ---------------------------------------------------------------------------
async def round_trip_run(ami: trio_ami.AMIConnection, per_caller: int) -> float:
    async def caller() -> None:
        for _ in range(per_caller):
            await ami.ping()

    gc.collect()
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(CALLERS):
            nursery.start_soon(caller)
    return time.perf_counter() - start


# -- the whole run --------------------------------------------------------------------------------
async def run(
    total: int, repeats: int, per_caller: int, log: Callable[[str], None]
) -> dict[str, object]:
    events = build_events(DISTINCT_EVENTS)
    blocks = build_blocks(events)
    mean_bytes = sum(map(len, events)) / len(events)
    log(
        f"events: {total:,} of ~{mean_bytes:.0f} bytes ({DISTINCT_EVENTS} distinct, cycled), "
        f"written by the server with send_raw in blocks of {BLOCK_EVENTS}; subscription buffer "
        f"{SUBSCRIPTION_BUFFER:,}, at most that many events in flight"
    )
    server = FakeAMIServer({"admin": "secret"}, successful_auth_events=False)
    best: dict[str, float] = {}

    def keep(key: str, seconds: float) -> None:
        best[key] = min(best.get(key, math.inf), seconds)

    async with (
        server.listen_tcp() as (host, port),
        # No backlog: each measured subscription must see only the events of its own run.
        trio_ami.open_ami(
            host, port, username="admin", secret="secret", action_timeout=None, event_backlog=0
        ) as ami,
    ):
        (session,) = server.sessions
        await ami.ping()  # FullyBooted and the login are behind us
        for _ in range(repeats):
            keep("events", await event_run(ami, session, blocks, total, consume_iter))
            for buffer in BASELINE_BUFFERS:
                keep(f"baseline_{buffer}", await channel_run(total, buffer))
            keep("batch", await event_run(ami, session, blocks, total, consume_batch))
            keep("round_trips", await round_trip_run(ami, per_caller))
        stats = ami.statistics()
        if stats.unexpected_messages or stats.protocol.unexpected_messages:
            raise RuntimeError(f"unexpected messages: {stats}")

    moved = total - 1  # timed from the first item received to the last
    events_per_s = moved / best["events"]
    baseline = {buffer: moved / best[f"baseline_{buffer}"] for buffer in BASELINE_BUFFERS}
    baseline_per_s = baseline[SUBSCRIPTION_BUFFER]
    batch_per_s = moved / best["batch"]
    round_trips = CALLERS * per_caller
    round_trips_per_s = round_trips / best["round_trips"]
    ratio = events_per_s / baseline_per_s
    batch_ratio = batch_per_s / baseline_per_s

    log(f"\nbest of {repeats}\n")
    log(f"{'measurement':<44} {'per second':>12} {'vs baseline':>12}")
    log(f"{'async for event in subscription':<44} {events_per_s:>12,.0f} {ratio:>11.2f}x")
    log(f"{'await subscription.receive_batch()':<44} {batch_per_s:>12,.0f} {batch_ratio:>11.2f}x")
    for buffer, rate in baseline.items():
        size = "inf" if buffer == math.inf else f"{buffer:,}"
        label = f"memory channel, buffer {size}"
        mark = "  <- baseline" if buffer == SUBSCRIPTION_BUFFER else ""
        log(f"{label:<44} {rate:>12,.0f} {rate / baseline_per_s:>11.2f}x{mark}")
    log(
        f"\nratio vs memory channel: {ratio:.2f} (target >= {TARGET}: "
        f"{'met' if ratio >= TARGET else 'MISSED'})"
    )
    log(
        f"action round trips: {round_trips_per_s:,.0f}/s "
        f"({CALLERS} tasks x {per_caller} pings, {round_trips:,} in {best['round_trips']:.3f} s)"
    )
    return {
        "mode": "throttled",
        "python": platform.python_version(),
        "trio": trio.__version__,
        "nproc": os.cpu_count(),
        "events": total,
        "mean_event_bytes": round(mean_bytes, 1),
        "server_writes": f"send_raw, {BLOCK_EVENTS} events per block",
        "subscription_buffer": SUBSCRIPTION_BUFFER,
        "repeats": repeats,
        "events_per_s": round(events_per_s),
        "baseline_per_s": round(baseline_per_s),
        "baseline_per_s_by_buffer": {
            ("inf" if b == math.inf else str(int(b))): round(rate) for b, rate in baseline.items()
        },
        "ratio_vs_memory_channel": round(ratio, 3),
        "target_ratio": TARGET,
        "batch_events_per_s": round(batch_per_s),
        "batch_ratio": round(batch_ratio, 3),
        "round_trips_per_s": round(round_trips_per_s),
        "round_trip_callers": CALLERS,
        "round_trips_per_caller": per_caller,
    }


# -- unthrottled: a burst from a separate process -------------------------------------------------
PRODUCER = Path(__file__).with_name("e2e_producer.py")
MARKER = "BenchDone"  # the producer's end marker
RUN_TIMEOUT = 300.0  # seconds any one measured run may take before the benchmark fails
STARTUP_TIMEOUT = 60.0  # seconds the producer may take to say its port
TARGET_LOST = 0
TARGET_VS_CHANNEL = 1.5  # per-event delivery / memory channel, buffer 10,000
TARGET_VS_NAIVE = 1.0  # per-event delivery / naive asyncio
TARGET_BATCH_VS_NAIVE = 1.5  # batch delivery / naive asyncio


@contextmanager
def producer_process(total: int) -> Iterator[int]:
    """Start the producer (``e2e_producer.py``) for floods of ``total`` events; yield its port.

    However the block ends, the process is gone afterwards: closing its stdin makes it exit,
    and it is killed if it has not within 5 seconds.
    """
    process = subprocess.Popen(
        [sys.executable, str(PRODUCER), "--events", str(total)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], STARTUP_TIMEOUT)
        line = process.stdout.readline() if ready else b""
        if not line:
            raise RuntimeError(f"the producer did not start (exit code {process.poll()})")
        yield int(line)
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


@dataclass
class Tally:
    """What one consumer of a flood saw."""

    received: int = 0  # events received (the end marker not counted)
    lost: int = 0  # events reported missed by SubscriptionOverflow (the marker not counted)
    marker: bool = False  # the end marker was received
    start: float = 0.0  # when the first event was received
    end: float = 0.0  # when the last one was
    burst: float = 0.0  # from the start of the flood to the Ping answered after it

    def rate(self) -> float:
        """Events delivered per second, from the first received to the last."""
        return (self.received - 1) / (self.end - self.start)


async def first_event(events: trio_ami.Subscription, tally: Tally) -> trio_ami.Event:
    while True:
        try:
            return await events.receive()
        except trio_ami.SubscriptionOverflow as exc:
            tally.lost += exc.missed


async def consume_each(events: trio_ami.Subscription, tally: Tally) -> None:
    """``async for event in events``, reading ``event.name``, until the end marker."""
    received = 0
    try:
        first = await first_event(events, tally)
        tally.start = time.perf_counter()
        if first.name == MARKER:
            tally.marker = True
            return
        received = 1
        while True:
            try:
                async for event in events:
                    if event.name == MARKER:
                        tally.marker = True
                        return
                    received += 1
            except trio_ami.SubscriptionOverflow as exc:
                tally.lost += exc.missed
    finally:
        tally.end = time.perf_counter()
        tally.received = received


async def consume_batches(events: trio_ami.Subscription, tally: Tally) -> None:
    """``await events.receive_batch()`` in a loop, reading ``event.name``, until the end marker."""
    received = 0
    try:
        first = await first_event(events, tally)
        tally.start = time.perf_counter()
        if first.name == MARKER:
            tally.marker = True
            return
        received = 1
        name = ""
        while True:
            try:
                batch = await events.receive_batch()
            except trio_ami.SubscriptionOverflow as exc:
                tally.lost += exc.missed
                continue
            for event in batch:
                name = event.name
            if name == MARKER:  # the last event of the flood
                tally.marker = True
                received += len(batch) - 1
                return
            received += len(batch)
    finally:
        tally.end = time.perf_counter()
        tally.received = received


async def ours_run(
    port: int,
    total: int,
    consume: Callable[[trio_ami.Subscription, Tally], Awaitable[None]],
    *,
    early: bool = False,
) -> Tally:
    """One flood of ``total`` events into a connection made with the default settings.

    The subscription is opened first, then a ``UserEvent`` action sets the flood off; with
    ``early``, the producer starts right after the login's answer and the subscription is
    opened as the first statement of the block. A ``Ping`` sent once the flood has started is
    answered after the end marker: when it returns, every event has been offered to the
    subscription, and the consumer is stopped once it has taken (or been told it missed)
    whatever was buffered, should the end marker itself have been dropped.
    """
    tally = Tally()
    with trio.fail_after(RUN_TIMEOUT):
        username = "flood-on-login" if early else "flood-on-trigger"
        async with trio_ami.open_ami("127.0.0.1", port, username=username, secret="bench") as ami:
            async with ami.subscribe() as events:
                flood_start = time.perf_counter()
                consumer = trio.CancelScope()

                async def consumer_task() -> None:
                    with consumer:
                        await consume(events, tally)

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(consumer_task)
                    if not early:
                        await ami.action("UserEvent", UserEvent="BenchStart", timeout=None)
                        flood_start = time.perf_counter()
                    await ami.action("Ping", timeout=None)
                    tally.burst = time.perf_counter() - flood_start
                    while not tally.marker:
                        stats = events.statistics()
                        if not stats.buffered and tally.lost == stats.dropped:
                            consumer.cancel()  # it has had everything, but not the marker
                            break
                        await trio.sleep(PACING_INTERVAL)
                stats = events.statistics()
            received = ami.statistics().protocol.events_received
    if received != total + 1:
        raise RuntimeError(f"the connection received {received} events, not {total + 1}")
    if tally.lost != stats.dropped:
        raise RuntimeError(f"{tally.lost} events reported missed, {stats.dropped} dropped")
    if not tally.marker and stats.dropped:
        # The marker, the last event, reached the subscription but not the consumer: dropped.
        tally.lost -= 1
    if not early and tally.received + tally.lost != total:
        raise RuntimeError(f"{tally.received} received + {tally.lost} lost != {total} sent")
    return tally


# -- the naive asyncio client ---------------------------------------------------------------------
class NaiveClient(asyncio.Protocol):
    """What one writes first with asyncio: split on blank lines, a dict per packet, inline.

    It logs in (plain), sets the flood off with a ``UserEvent``, counts the events up to the end
    marker, then logs off.
    """

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.pending = b""
        self.banner = True
        self.received = 0
        self.start = 0.0
        self.end = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, *lines: str) -> None:
        assert self.transport is not None
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        data = self.pending + data
        if self.banner:
            if b"\r\n" not in data:
                self.pending = data
                return
            _banner, _, data = data.partition(b"\r\n")
            self.banner = False
            self.send("Action: Login", "ActionID: 1", "Username: flood-on-trigger", "Secret: x")
        *packets, self.pending = data.split(b"\r\n\r\n")
        for raw in packets:
            packet: dict[str, str] = {}
            for line in raw.decode("utf-8", "surrogateescape").split("\r\n"):
                key, _, value = line.partition(": ")
                packet[key] = value
            self.on_packet(packet)

    def on_packet(self, packet: dict[str, str]) -> None:
        name = packet.get("Event")
        if name is not None:
            if name == MARKER:
                self.end = time.perf_counter()
                self.send("Action: Logoff", "ActionID: 3")
                return
            self.received += 1
            if self.received == 1:
                self.start = time.perf_counter()
            return
        if packet.get("ActionID") == "1":  # logged in
            self.send("Action: UserEvent", "ActionID: 2", "UserEvent: BenchStart")
        elif packet.get("Response") == "Goodbye" and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed before the Goodbye"))


async def naive_session(port: int) -> NaiveClient:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    transport, client = await loop.create_connection(lambda: NaiveClient(done), "127.0.0.1", port)
    try:
        await asyncio.wait_for(done, RUN_TIMEOUT)
    finally:
        transport.close()
    return client


def naive_run(port: int, total: int) -> float:
    """Events per second the naive asyncio client counts, from the first to the last."""
    gc.collect()
    client = asyncio.run(naive_session(port))
    if client.received != total:
        raise RuntimeError(f"the naive client counted {client.received} events, not {total}")
    return (total - 1) / (client.end - client.start)


# -- the unthrottled run --------------------------------------------------------------------------
def traced_peak(port: int, total: int) -> float:
    """Peak MB traced by ``tracemalloc`` during one (untimed) per-event run."""
    gc.collect()
    tracemalloc.start()
    try:
        trio.run(ours_run, port, total, consume_each)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def run_unthrottled(total: int, repeats: int, log: Callable[[str], None]) -> dict[str, object]:
    events = build_events(DISTINCT_EVENTS)
    mean_bytes = sum(map(len, events)) / len(events)
    log(
        f"unthrottled: {total:,} events of ~{mean_bytes:.0f} bytes ({DISTINCT_EVENTS} distinct, "
        f"cycled) written by a separate process with sendall in blocks of "
        f"{len(b''.join(events)) / 1e6:.1f} MB, then {MARKER}; the client has the default "
        f"settings (subscription buffer {SUBSCRIPTION_BUFFER:,})"
    )
    runs: list[dict[str, float | int]] = []
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with producer_process(total) as port:
        log(
            f"\n{'':>3} {'lost':>15} {'per event/s':>12} {'batch/s':>10} {'channel/s':>10}"
            f" {'naive/s':>10} {'ev/chan':>8} {'ev/naive':>9} {'bat/naive':>10}"
            f" {'reader/s':>10} {'peak MB':>8}"
        )
        for repeat in range(repeats):
            each = trio.run(ours_run, port, total, consume_each)
            batch = trio.run(ours_run, port, total, consume_batches)
            gc.collect()
            channel = (total - 1) / trio.run(channel_run, total, SUBSCRIPTION_BUFFER)
            gc.collect()
            channel_inf = (total - 1) / trio.run(channel_run, total, math.inf)
            naive = naive_run(port, total)
            early = trio.run(functools.partial(ours_run, port, total, consume_each, early=True))
            peak = traced_peak(port, total)
            row: dict[str, float | int] = {
                "received_each": each.received,
                "lost_each": each.lost,
                "received_batch": batch.received,
                "lost_batch": batch.lost,
                "each_per_s": round(each.rate()),
                "batch_per_s": round(batch.rate()),
                "channel_per_s": round(channel),
                "channel_inf_per_s": round(channel_inf),
                "naive_asyncio_per_s": round(naive),
                "each_vs_channel": round(each.rate() / channel, 3),
                "each_vs_naive": round(each.rate() / naive, 3),
                "batch_vs_naive": round(batch.rate() / naive, 3),
                "reader_per_s": round(total / each.burst),
                "received_early": early.received,
                "lost_early_overflow": early.lost,
                "lost_early_before_subscription": total - early.received - early.lost,
                "peak_tracemalloc_mb": round(peak, 1),
            }
            runs.append(row)
            lost = f"{each.lost:,}/{batch.lost:,}"
            log(
                f"{repeat + 1:>3} {lost:>15} {each.rate():>12,.0f} {batch.rate():>10,.0f}"
                f" {channel:>10,.0f} {naive:>10,.0f} {row['each_vs_channel']:>7.2f}x"
                f" {row['each_vs_naive']:>8.2f}x {row['batch_vs_naive']:>9.2f}x"
                f" {row['reader_per_s']:>10,} {peak:>8.1f}"
            )
    rss_delta = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024

    def median(key: str) -> float:
        return statistics.median(float(row[key]) for row in runs)

    lost_each = [int(row["lost_each"]) for row in runs]
    lost_batch = [int(row["lost_batch"]) for row in runs]
    summary = {key: median(key) for key in runs[0]}
    log(
        "\nlost: events lost per run (per event / batch); rates are events delivered per second, "
        "from the first received to the last;\nchannel: trio memory channel, buffer "
        f"{SUBSCRIPTION_BUFFER:,} (buffer inf, median: {summary['channel_inf_per_s']:,.0f}/s); "
        "reader/s: the flood's size over the time from setting it off to the answer of a Ping "
        "sent right after;\npeak MB: tracemalloc peak in this process during a separate, "
        "untimed per-event run"
    )
    log(
        "\nearly subscription (flood set off by the login's answer, subscribe() the first "
        "statement of the block): received "
        + ", ".join(f"{int(row['received_early']):,}" for row in runs)
        + "; lost before subscribing "
        + ", ".join(f"{int(row['lost_early_before_subscription']):,}" for row in runs)
        + "; lost to overflow "
        + ", ".join(f"{int(row['lost_early_overflow']):,}" for row in runs)
    )
    log(f"process max RSS grew by {rss_delta:.1f} MiB over the runs (ru_maxrss)")
    log(f"\nmedians of {repeats} runs, against the targets:")
    log(
        f"  events lost, per event: {statistics.median(lost_each):,.0f} of {total:,} "
        f"(target {TARGET_LOST}: {verdict(max(lost_each) <= TARGET_LOST)})"
    )
    log(
        f"  events lost, batch: {statistics.median(lost_batch):,.0f} of {total:,} "
        f"(target {TARGET_LOST}: {verdict(max(lost_batch) <= TARGET_LOST)})"
    )
    for key, label, target in (
        ("each_vs_channel", "per event / memory channel", TARGET_VS_CHANNEL),
        ("each_vs_naive", "per event / naive asyncio", TARGET_VS_NAIVE),
        ("batch_vs_naive", "batch / naive asyncio", TARGET_BATCH_VS_NAIVE),
    ):
        met = verdict(summary[key] >= target)
        log(f"  {label}: {summary[key]:.2f}x (target >= {target}: {met})")
    return {
        "mode": "unthrottled",
        "python": platform.python_version(),
        "trio": trio.__version__,
        "nproc": os.cpu_count(),
        "events": total,
        "mean_event_bytes": round(mean_bytes, 1),
        "repeats": repeats,
        "subscription_buffer": SUBSCRIPTION_BUFFER,
        "memory": "tracemalloc peak in the client process, separate untimed per-event run",
        "targets": {
            "lost": TARGET_LOST,
            "each_vs_channel": TARGET_VS_CHANNEL,
            "each_vs_naive": TARGET_VS_NAIVE,
            "batch_vs_naive": TARGET_BATCH_VS_NAIVE,
        },
        "runs": runs,
        "median": summary,
        "max_rss_growth_mib": round(rss_delta, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="40k events, 2 repeats")
    ap.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    ap.add_argument(
        "--unthrottled",
        action="store_true",
        help="a separate process floods the client (see the module's docstring)",
    )
    ap.add_argument("--events", type=int, help="events per run (default 200000, quick 40000)")
    ap.add_argument("--repeats", type=int, help="repeats (default 3, unthrottled 5; quick 2)")
    ap.add_argument("--pings", type=int, help="pings per caller task (default 200, quick 50)")
    args = ap.parse_args()
    total = args.events or (40_000 if args.quick else 200_000)
    if total <= 0 or (not args.unthrottled and total % BLOCK_EVENTS):
        ap.error(f"--events must be a positive multiple of {BLOCK_EVENTS}")
    repeats = args.repeats or (2 if args.quick else 5 if args.unthrottled else 3)
    per_caller = args.pings or (50 if args.quick else 200)

    def log(line: str) -> None:
        if not args.json:
            print(line, flush=True)

    log(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"trio {trio.__version__}, {os.cpu_count()} CPUs, {platform.platform()}"
    )
    started = time.perf_counter()
    if args.unthrottled:
        result = run_unthrottled(total, repeats, log)
    else:
        result = trio.run(run, total, repeats, per_caller, log)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    log(f"wall time: {result['wall_seconds']} s")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
