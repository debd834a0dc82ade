"""Two collectors on one fake server, three workers, a real Redis: each event handled once, a dead
worker's events taken over, Redis restarted under them, actions sent through the collectors."""

from __future__ import annotations

from functools import partial

import trio

from trio_ami.redis import EmbeddedRedis, Keys

from .scaleout import (
    Handled,
    ami_server,
    call_events,
    fake_pbx,
    run_worker,
    start_collectors,
    wait_until,
)


async def test_every_event_of_a_call_flow_is_handled_exactly_once(
    redis_server: EmbeddedRedis, keys: Keys
) -> None:
    handled = Handled()
    async with fake_pbx() as (pbx, port), trio.open_nursery() as nursery:
        collectors = await start_collectors(
            nursery, redis_server.url, [ami_server("pbx1", port)], keys
        )
        await pbx.wait_for_sessions(2)
        for name in ("w0", "w1", "w2"):
            await nursery.start(run_worker, redis_server.url, ["pbx1"], keys, name, handled)
        sent = []
        for call in range(10):
            for name, headers in call_events(call):
                pbx.push_event(name, headers)
                sent.append(headers["Seq"])
            pbx.push_event("VarSet", {"Variable": "X", "Seq": f"{call}.varset"})  # not collected
            await trio.sleep(0)
        await handled.wait_for(len(sent))
        await trio.sleep(0.3)  # time for a duplicate to show, if there were one
        nursery.cancel_scope.cancel()
    counts = handled.counts()
    assert sorted(counts) == sorted(sent)
    assert set(counts.values()) == {1}
    stats = [collector.statistics().servers["pbx1"] for collector in collectors]
    assert [s.received for s in stats] == [len(sent), len(sent)]
    assert sum(s.appended for s in stats) == len(sent)
    assert sum(s.duplicates for s in stats) == len(sent)
    assert {worker for worker, _, _ in handled.log} <= {"w0", "w1", "w2"}
    first = handled.log[0][2]
    assert first.server == "pbx1"
    assert first.collector in ("c0", "c1")
    assert first.packet.startswith(b"Event: ")
    assert first.event.raw == first.packet


async def test_a_dead_workers_events_are_taken_over_and_none_is_lost(
    redis_server: EmbeddedRedis, keys: Keys
) -> None:
    handled = Handled()
    stuck = trio.Event()

    async def dies_on_its_first_event(*, task_status: trio.TaskStatus[None]) -> None:
        from trio_ami.redis import open_worker

        async with open_worker(redis_server.url, ["pbx1"], keys=keys, consumer="doomed") as w:
            task_status.started()
            async for event in w:
                handled.add("doomed", event)
                stuck.set()
                await trio.sleep_forever()  # hangs: the worker is as good as dead

    async with fake_pbx() as (pbx, port), trio.open_nursery() as nursery:
        await start_collectors(nursery, redis_server.url, [ami_server("pbx1", port)], keys)
        await pbx.wait_for_sessions(2)
        doomed = trio.CancelScope()

        async def doomed_worker(*, task_status: trio.TaskStatus[None]) -> None:
            with doomed:
                await dies_on_its_first_event(task_status=task_status)

        await nursery.start(doomed_worker)
        sent = []
        for call in range(4):
            for name, headers in call_events(call):
                pbx.push_event(name, headers)
                sent.append(headers["Seq"])
        await stuck.wait()
        doomed.cancel()  # killed in the middle of an event
        for name in ("w1", "w2"):
            await nursery.start(
                partial(run_worker, claim_idle=0.3), redis_server.url, ["pbx1"], keys, name, handled
            )
        await handled.wait_for(len(sent))
        await wait_until(lambda: handled.counts()[handled.log[0][1]] >= 2)
        await trio.sleep(0.3)
        nursery.cancel_scope.cancel()
    counts = handled.counts()
    assert sorted(counts) == sorted(sent)  # none lost
    _, first_seq, _ = handled.log[0]
    assert counts[first_seq] == 2  # the one it died on: handled again, by another worker
    assert {seq for seq, count in counts.items() if count > 1} == {first_seq}
    again = [event for worker, seq, event in handled.log if seq == first_seq and worker != "doomed"]
    assert len(again) == 1 and again[0].reclaimed


async def test_redis_restarted_under_collectors_and_workers_loses_no_event(
    own_redis: EmbeddedRedis, keys: Keys
) -> None:
    handled = Handled()
    async with fake_pbx() as (pbx, port), trio.open_nursery() as nursery:
        collectors = await start_collectors(
            nursery, own_redis.url, [ami_server("pbx1", port)], keys
        )
        await pbx.wait_for_sessions(2)
        for name in ("w0", "w1", "w2"):
            await nursery.start(run_worker, own_redis.url, ["pbx1"], keys, name, handled)
        sent = []
        for call in range(3):
            for name, headers in call_events(call):
                pbx.push_event(name, headers)
                sent.append(headers["Seq"])
        await handled.wait_for(len(sent))
        await trio.to_thread.run_sync(own_redis.stop)
        for call in range(3, 6):
            for name, headers in call_events(call):
                pbx.push_event(name, headers)
                sent.append(headers["Seq"])
        # Both collectors hold what came while Redis was away.
        await wait_until(
            lambda: all(c.statistics().servers["pbx1"].received == len(sent) for c in collectors)
        )
        await wait_until(
            lambda: all(c.statistics().servers["pbx1"].redis_errors > 0 for c in collectors)
        )
        assert all(c.statistics().servers["pbx1"].buffered > 0 for c in collectors)
        await trio.to_thread.run_sync(own_redis.start)
        await handled.wait_for(len(sent))
        await trio.sleep(0.3)
        nursery.cancel_scope.cancel()
    counts = handled.counts()
    assert sorted(counts) == sorted(sent)
    assert set(counts.values()) == {1}
    stats = [c.statistics().servers["pbx1"] for c in collectors]
    assert all(s.buffered == 0 and s.overflowed == 0 for s in stats)


async def test_events_beyond_the_buffer_while_redis_is_away_are_counted(
    own_redis: EmbeddedRedis, keys: Keys
) -> None:
    handled = Handled()
    async with fake_pbx() as (pbx, port), trio.open_nursery() as nursery:
        [collector] = await start_collectors(
            nursery, own_redis.url, [ami_server("pbx1", port)], keys, count=1, buffer=5
        )
        await pbx.wait_for_sessions(1)
        await nursery.start(run_worker, own_redis.url, ["pbx1"], keys, "w0", handled)
        await trio.to_thread.run_sync(own_redis.stop)
        sent = []
        for call in range(2):
            for name, headers in call_events(call):
                pbx.push_event(name, headers)
                sent.append(headers["Seq"])
        await wait_until(lambda: collector.statistics().servers["pbx1"].received == len(sent))
        stats = collector.statistics().servers["pbx1"]
        assert (stats.buffered, stats.overflowed) == (5, len(sent) - 5)
        await trio.to_thread.run_sync(own_redis.start)
        await handled.wait_for(5)
        await trio.sleep(0.3)
        nursery.cancel_scope.cancel()
    assert sorted(handled.counts()) == sorted(sent[:5])  # the first five, kept in the buffer
    assert collector.statistics().servers["pbx1"].appended == 5
