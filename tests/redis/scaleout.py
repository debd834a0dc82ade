"""What the scale-out tests share: a fake PBX, collectors and workers run as tasks, and a record
of which worker handled which event."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from trio_ami.redis import AMIServer, Collector, Keys, StreamEvent, open_worker
from trio_ami.testing import FakeAMIServer

#: The events of one call, in order, as the collectors are told to collect them.
CALL_FLOW = ("Newchannel", "Newstate", "DialBegin", "Newchannel", "DialEnd", "Hangup", "Hangup")
COLLECTED = ("Newchannel", "Newstate", "Dial*", "Hangup", "UserEvent")


def call_events(call: int) -> list[tuple[str, dict[str, str]]]:
    """The events of call number ``call``: each packet unique (a ``Seq`` header), as Asterisk's
    ``timestampevents`` makes them."""
    return [
        (name, {"Channel": f"PJSIP/{100 + call}-{call:08x}", "Seq": f"{call}.{step}"})
        for step, name in enumerate(CALL_FLOW)
    ]


@attrs.define
class Handled:
    """Which worker handled which event (by its ``Seq``), in order."""

    log: list[tuple[str, str, StreamEvent]] = attrs.field(factory=list)

    def add(self, worker: str, event: StreamEvent) -> None:
        self.log.append((worker, event.event["Seq"], event))

    def counts(self) -> Counter[str]:
        return Counter(seq for _, seq, _ in self.log)

    async def wait_for(self, count: int, timeout: float = 15.0) -> None:
        """Wait until ``count`` distinct events were handled."""
        with trio.fail_after(timeout):
            while len(self.counts()) < count:
                await trio.sleep(0.02)


async def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.02)


def ami_server(name: str, port: int) -> AMIServer:
    return AMIServer(name, "127.0.0.1", port, username="admin", secret="secret")


async def start_collectors(
    nursery: trio.Nursery,
    redis_url: str,
    servers: Sequence[AMIServer],
    keys: Keys,
    count: int = 2,
    **options: Any,
) -> list[Collector]:
    collectors = []
    for number in range(count):
        collector = Collector(
            redis_url, servers, events=COLLECTED, name=f"c{number}", keys=keys, **options
        )
        await nursery.start(collector.run)
        collectors.append(collector)
    return collectors


async def run_worker(
    redis_url: str,
    servers: Sequence[str],
    keys: Keys,
    name: str,
    handled: Handled,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    **options: Any,
) -> None:
    async with open_worker(redis_url, servers, keys=keys, consumer=name, **options) as worker:
        task_status.started()
        async for event in worker:
            handled.add(name, event)


@asynccontextmanager
async def fake_pbx() -> AsyncIterator[tuple[FakeAMIServer, int]]:
    server = FakeAMIServer(users={"admin": "secret"})
    async with server.listen_tcp() as (_, port):
        yield server, port
