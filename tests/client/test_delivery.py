"""Event delivery: nothing lost before the first subscription, bursts kept up with, and the
opt-in backpressure policy. Events are counted, never timed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from helpers.scripted import ScriptedServer, packet, stream_pair
from trio.testing import MockClock

import trio_ami
from trio_ami import SubscriptionOverflow


def events(count: int, name: str = "Newexten", start: int = 0) -> bytes:
    return b"".join(
        packet(("Event", name), ("Channel", f"PJSIP/{n}"), ("N", str(n)))
        for n in range(start, start + count)
    )


@asynccontextmanager
async def session(
    after_login: bytes = b"", **options: Any
) -> AsyncIterator[tuple[trio_ami.AMIConnection, ScriptedServer]]:
    """A connection whose server sends ``after_login`` in the same write as the login answer."""
    client, server = stream_pair()
    settings: dict[str, Any] = {"username": "admin", "secret": "pw", "auth": "plain"}
    settings.update(options)

    async def accept() -> None:
        await server.greet()
        login = await server.expect("Login")
        answer = packet(("Response", "Success"), ("ActionID", login.action_id or ""))
        await server.send(answer + after_login)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(accept)
        ami = await trio_ami.wrap_ami_stream(nursery, client, **settings)
        yield ami, server
        nursery.cancel_scope.cancel()


# -- before the first subscription ------------------------------------------------------------
async def test_the_first_subscription_gets_what_came_since_the_login(
    autojump_clock: MockClock,
) -> None:
    booted = packet(("Event", "FullyBooted"), ("Status", "Fully Booted"))
    async with session(booted + events(3)) as (ami, _):
        await trio.testing.wait_all_tasks_blocked()
        assert ami.statistics().backlog == 4
        async with ami.subscribe("FullyBooted", "Newexten") as first:
            names = [(await first.receive()).name for _ in range(4)]
            assert names == ["FullyBooted", "Newexten", "Newexten", "Newexten"]
            async with ami.subscribe() as second:  # only the first one gets the backlog
                assert second.statistics().buffered == 0
        assert ami.statistics().backlog == 0


async def test_a_backlog_that_overflowed_says_so(autojump_clock: MockClock) -> None:
    async with session(events(8), event_backlog=5) as (ami, _):
        await trio.testing.wait_all_tasks_blocked()
        assert ami.statistics().backlog_dropped == 3
        async with ami.subscribe() as first:
            with pytest.raises(SubscriptionOverflow) as caught:
                await first.receive()
            assert caught.value.missed == 3
            assert [(await first.receive())["N"] for _ in range(5)] == ["0", "1", "2", "3", "4"]


async def test_no_backlog_when_asked(autojump_clock: MockClock) -> None:
    async with session(events(3), event_backlog=0) as (ami, _):
        await trio.testing.wait_all_tasks_blocked()
        async with ami.subscribe() as first:
            assert first.statistics().buffered == 0


# -- bursts -----------------------------------------------------------------------------------
async def test_a_burst_larger_than_the_buffer_loses_nothing_at_default_settings(
    autojump_clock: MockClock,
) -> None:
    # The server writes 30,000 events as fast as the stream takes them; the reader frames a
    # whole read per turn. A consumer that only counts must keep up.
    total = 30_000
    async with session() as (ami, server):
        async with ami.subscribe() as subscription:
            await server.send(events(total))
            received = 0
            async for _ in subscription:
                received += 1
                if received == total:
                    break
            assert subscription.statistics().dropped == 0


async def test_a_subscriber_takes_what_was_buffered_then_yields(autojump_clock: MockClock) -> None:
    async with session() as (ami, server):
        async with ami.subscribe() as subscription:
            await server.send(events(50))
            await trio.testing.wait_all_tasks_blocked()
            assert subscription.statistics().buffered == 50
            steps = TaskSteps(trio.lowlevel.current_task())
            trio.lowlevel.add_instrument(steps)
            try:
                for _ in range(50):
                    await subscription.receive()
            finally:
                trio.lowlevel.remove_instrument(steps)
            # The first receive takes its event and yields once; the 49 that were buffered
            # behind it come without another yield.
            assert steps.yields == 1


async def test_a_batch_takes_at_most_what_is_asked_in_order(autojump_clock: MockClock) -> None:
    async with session() as (ami, server):
        async with ami.subscribe() as subscription:
            await server.send(events(5))
            await trio.testing.wait_all_tasks_blocked()
            first = await subscription.receive_batch(max_events=2)
            rest = await subscription.receive_batch()
            assert [event["N"] for event in first] == ["0", "1"]
            assert [event["N"] for event in rest] == ["2", "3", "4"]
            assert subscription.statistics().delivered == 5


async def test_a_predicate_failing_within_a_read_keeps_what_it_took_before(
    autojump_clock: MockClock,
) -> None:
    def broken(event: trio_ami.Event) -> bool:
        if event["N"] == "2":
            raise ZeroDivisionError("predicate bug")
        return True

    async with session() as (ami, server):
        async with ami.subscribe(predicate=broken) as bad, ami.subscribe("Newexten") as good:
            await server.send(events(4))  # one read: the four events are routed together
            await trio.testing.wait_all_tasks_blocked()
            assert [(await bad.receive())["N"] for _ in range(2)] == ["0", "1"]
            with pytest.raises(ZeroDivisionError):
                await bad.receive()
            assert [(await good.receive())["N"] for _ in range(4)] == ["0", "1", "2", "3"]


async def test_a_predicate_failing_on_the_backlog_ends_only_that_subscription(
    autojump_clock: MockClock,
) -> None:
    def broken(event: trio_ami.Event) -> bool:
        if event["N"] == "1":
            raise ZeroDivisionError("predicate bug")
        return event["N"] != "0"

    async with session(events(3)) as (ami, server):
        await trio.testing.wait_all_tasks_blocked()
        async with ami.subscribe(predicate=broken) as first:
            with pytest.raises(ZeroDivisionError):
                await first.receive()
            assert ami.statistics().subscriptions == ()
            async with ami.subscribe() as second:
                await server.send(events(1, start=3))
                assert (await second.receive())["N"] == "3"


class TaskSteps(trio.abc.Instrument):
    """Counts the times one task yields to the scheduler."""

    def __init__(self, task: trio.lowlevel.Task) -> None:
        self.task = task
        self.yields = 0

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.yields += 1


async def test_cancellation_is_honoured_at_every_receive(autojump_clock: MockClock) -> None:
    async with session() as (ami, server):
        async with ami.subscribe() as subscription:
            await server.send(events(10))
            await subscription.receive()  # yields: the other 9 are taken without yielding
            with trio.CancelScope() as scope:
                scope.cancel()
                await subscription.receive()
                pytest.fail("a receive in a cancelled scope returned")  # pragma: no cover
            assert subscription.statistics().delivered == 1


# -- backpressure (opt-in) --------------------------------------------------------------------
async def test_waiting_for_a_slow_subscriber_loses_nothing(autojump_clock: MockClock) -> None:
    async with session() as (ami, server):
        async with ami.subscribe(buffer=10, overflow="wait", max_wait=5.0) as subscription:
            await server.send(events(100))
            for n in range(100):
                event = await subscription.receive()
                assert event["N"] == str(n)
                await trio.sleep(0.01)  # slower than the reader
            stats = subscription.statistics()
            assert stats.dropped == 0
            assert stats.waited > 0


async def test_waiting_is_bounded_and_then_loud(autojump_clock: MockClock) -> None:
    async with session() as (ami, server):
        async with ami.subscribe(buffer=10, overflow="wait", max_wait=2.0) as subscription:
            await server.send(events(50))
            start = trio.current_time()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ami.ping)  # a response behind the burst waits too
                ping = await server.expect("Ping")
                await server.answer(ping, "Success", ("Ping", "Pong"))
            assert trio.current_time() - start == pytest.approx(2.0)  # the reader waited
            with pytest.raises(SubscriptionOverflow) as caught:
                await subscription.receive()
            assert caught.value.missed > 0
            stats = subscription.statistics()
            assert stats.dropped == caught.value.missed
            assert stats.buffered <= 10
            assert stats.waited == pytest.approx(2.0)


async def test_the_buffer_arguments_are_checked(autojump_clock: MockClock) -> None:
    async with session() as (ami, _):
        with pytest.raises(ValueError, match="max_wait must not be negative"):
            async with ami.subscribe(overflow="wait", max_wait=-1):
                pass
