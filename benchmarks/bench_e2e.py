"""End-to-end throughput of the trio client against the fake server, over loopback TCP.

Usage::

    python benchmarks/bench_e2e.py            # full run: 200k events, best of 3
    python benchmarks/bench_e2e.py --quick    # 40k events, best of 2
    python benchmarks/bench_e2e.py --json     # one JSON object on stdout

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
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import time
from collections.abc import Awaitable, Callable

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
        trio_ami.open_ami(
            host, port, username="admin", secret="secret", action_timeout=None
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="40k events, 2 repeats")
    ap.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    ap.add_argument("--events", type=int, help="events per run (default 200000, quick 40000)")
    ap.add_argument("--repeats", type=int, help="repeats (default 3, quick 2)")
    ap.add_argument("--pings", type=int, help="pings per caller task (default 200, quick 50)")
    args = ap.parse_args()
    total = args.events or (40_000 if args.quick else 200_000)
    if total <= 0 or total % BLOCK_EVENTS:
        ap.error(f"--events must be a positive multiple of {BLOCK_EVENTS}")
    repeats = args.repeats or (2 if args.quick else 3)
    per_caller = args.pings or (50 if args.quick else 200)

    def log(line: str) -> None:
        if not args.json:
            print(line, flush=True)

    log(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"trio {trio.__version__}, {os.cpu_count()} CPUs, {platform.platform()}"
    )
    started = time.perf_counter()
    result = trio.run(run, total, repeats, per_caller, log)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    log(f"wall time: {result['wall_seconds']} s")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
