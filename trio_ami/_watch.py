"""``trio-ami events`` across reconnections: events, and a line where the link broke."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from ._markers import LinkLost, LinkRestored
from ._open import open_reconnecting_ami
from .sansio import Event

__all__ = ["watch_events"]


async def watch_events(args: argparse.Namespace, print_event: Callable[[Event], None]) -> None:
    """Print the events ``args`` asks for with ``print_event``, reconnecting whenever the link
    is lost, with a line of its own where it was lost and where it came back (on stderr with
    ``--raw``: its stdout holds packets only)."""
    markers = sys.stderr if args.raw else sys.stdout
    async with open_reconnecting_ami(
        args.host,
        args.port,
        username=args.username,
        secret=args.secret,
        auth=args.auth,
        tls=args.tls or None,
        keepalive=args.keepalive,
        keepalive_timeout=args.keepalive,
    ) as ami:
        async with ami.subscribe(*args.names) as stream:
            async for item in stream:
                if isinstance(item, LinkLost):
                    why = item.reason.removeprefix("the AMI connection is closed: ")
                    marker = f"--- link lost: {why}"
                elif isinstance(item, LinkRestored):
                    marker = f"--- link back after {item.down_for:.1f} s"
                else:
                    print_event(item)
                    continue
                print(f"{time.strftime('%H:%M:%S')}  {marker}", file=markers, flush=True)
