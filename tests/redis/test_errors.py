"""Redis missing at the start, bad entries in a stream, bad arguments: typed errors and counts,
never a hang or a leaked password."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
import trio

from trio_ami import AMIError
from trio_ami.redis import (
    AMIServer,
    Collector,
    EmbeddedRedis,
    Keys,
    RedisUnavailable,
    ScaleOutError,
    open_redis,
    open_worker,
)

from .scaleout import (
    Handled,
    ami_server,
    call_events,
    fake_pbx,
    run_worker,
    start_collectors,
    wait_until,
)

NOWHERE = "redis://admin:hunter2@127.0.0.1:1"


async def test_a_worker_without_redis_fails_at_once_without_the_password() -> None:
    with trio.fail_after(5), pytest.raises(RedisUnavailable) as failed:
        async with open_worker(NOWHERE, ["pbx1"]):
            pass  # pragma: no cover
    assert isinstance(failed.value, AMIError)
    assert "hunter2" not in str(failed.value) and "admin:***@127.0.0.1:1" in str(failed.value)


async def test_a_collector_without_redis_fails_at_once() -> None:
    collector = Collector(NOWHERE, [AMIServer("pbx1", "127.0.0.1", 1)])
    with trio.fail_after(5), pytest.raises(RedisUnavailable):
        await collector.run()


async def test_errors_in_the_block_come_out_as_they_are(redis_server: EmbeddedRedis) -> None:
    with pytest.raises(KeyError):
        async with open_redis(redis_server.url):
            raise KeyError("mine")
    with trio.move_on_after(0.05) as scope:
        async with open_redis(redis_server.url):
            await trio.sleep_forever()
    assert scope.cancelled_caught


async def test_a_bad_url_is_a_redis_error() -> None:
    with pytest.raises(RedisUnavailable):
        async with open_redis("http://example.com"):
            pass  # pragma: no cover


async def test_malformed_entries_are_skipped_counted_and_logged(
    redis_server: EmbeddedRedis, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    stream = keys.events("pbx1")
    bad: list[dict[str, str | bytes]] = [
        {"server": "pbx1"},  # no packet
        {"packet": "Response: Success", "server": "pbx1", "received": "1", "collector": "c"},
        {"packet": "Event: X\r\nSeq: a", "server": "pbx2", "received": "1", "collector": "c"},
        {"packet": "Event: X\r\nSeq: b", "server": "pbx1", "received": "soon", "collector": "c"},
        {"packet": "Event: X\r\nSeq: c", "server": "pbx1", "received": "inf", "collector": "c"},
        {"packet": "Event: X\r\nSeq: d", "server": "pbx1", "received": "1"},
        {"packet": "Event: X\r\nSeq: e", "server": b"\xff", "received": "1", "collector": "c"},
    ]
    async with open_redis(redis_server.url) as client:
        for fields in bad:
            await client.xadd(stream, fields)
        await client.xadd(
            stream,
            {
                "packet": "Event: X\r\nSeq: ok",
                "server": "pbx1",
                "received": "1.5",
                "collector": "c",
            },
        )
        with caplog.at_level(logging.WARNING, "trio_ami.redis"):
            async with open_worker(redis_server.url, ["pbx1"], keys=keys) as worker:
                event = await worker.__anext__()
                assert event.event["Seq"] == "ok" and event.received == 1.5
                assert worker.statistics().malformed == len(bad)
                await worker.flush()
                assert await worker.pending() == {"pbx1": 1}  # only the one being handled
                event.ack()
                await worker.flush()
                assert await worker.pending() == {"pbx1": 0}
    assert len([r for r in caplog.records if "skipped" in r.getMessage()]) == len(bad)


async def test_a_worker_restarted_under_its_name_gets_back_what_it_held(
    redis_server: EmbeddedRedis, keys: Keys
) -> None:
    handled = Handled()
    async with fake_pbx() as (pbx, port), trio.open_nursery() as nursery:
        await start_collectors(nursery, redis_server.url, [ami_server("pbx1", port)], keys)
        await pbx.wait_for_sessions(2)
        for name, headers in call_events(0):
            pbx.push_event(name, headers)
        with trio.CancelScope() as first_life:
            async with open_worker(redis_server.url, ["pbx1"], keys=keys, consumer="w") as w:
                async for event in w:
                    handled.add("w", event)
                    first_life.cancel()  # dies with its batch unacknowledged
                    await trio.sleep_forever()
        await nursery.start(run_worker, redis_server.url, ["pbx1"], keys, "w", handled)
        await handled.wait_for(len(call_events(0)))
        nursery.cancel_scope.cancel()
    counts = handled.counts()
    assert sorted(counts.values())[-1] == 2 and sum(counts.values()) == len(counts) + 1


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Collector("redis://x", []), "distinct names"),
        (lambda: Collector("redis://x", [AMIServer("a", "h")], maxlen=0), "at least 1"),
        (lambda: Collector("redis://x", [AMIServer("a", "h")], dedup_window=-1), "negative"),
        (lambda: AMIServer("a b", "h"), "server name"),
        (lambda: AMIServer("", "h"), "server name"),
    ],
)
def test_bad_settings_are_refused(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


async def test_bad_worker_settings_are_refused(redis_server: EmbeddedRedis) -> None:
    for servers, options, message in (
        (["a", "a"], {}, "distinct"),
        (["a"], {"batch": 0}, "positive"),
        (["a:b"], {}, "server name"),
    ):
        with pytest.raises(ValueError, match=message):
            async with open_worker(redis_server.url, servers, **options):
                pass  # pragma: no cover


def test_the_core_and_the_client_never_import_the_redis_part() -> None:
    code = (
        "import sys, trio_ami, trio_ami.sansio, trio_ami.testing; "
        "trio_ami.open_ami; trio_ami.AMIConnection; "
        "bad = sorted(m for m in sys.modules if m.startswith(('coredis', 'trio_ami.redis'))); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_command_line_offers_its_commands_without_importing_coredis() -> None:
    code = (
        "import sys, trio_ami._cli as cli; cli._parsers(); "
        "bad = sorted(m for m in sys.modules if m.startswith('coredis')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


async def test_a_command_redis_refuses_is_retried_and_logged(
    redis_server: EmbeddedRedis, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        fake_pbx() as (pbx, port),
        open_redis(redis_server.url) as client,
        trio.open_nursery() as nursery,
    ):
        await client.set(keys.events("pbx1"), "not a stream")  # every XADD fails: WRONGTYPE
        [collector] = await start_collectors(
            nursery, redis_server.url, [ami_server("pbx1", port)], keys, count=1
        )
        await pbx.wait_for_sessions(1)
        pbx.push_event("Hangup", {"Seq": "1"})
        await wait_until(lambda: collector.statistics().servers["pbx1"].redis_errors >= 2)
        assert collector.statistics().servers["pbx1"].buffered == 1
        with pytest.raises(ScaleOutError, match="consumer group"):
            async with open_worker(redis_server.url, ["pbx1"], keys=keys):
                pass  # pragma: no cover
        await client.delete([keys.events("pbx1")])
        await wait_until(lambda: collector.statistics().servers["pbx1"].appended == 1)
        nursery.cancel_scope.cancel()
    assert any("refused a command" in record.getMessage() for record in caplog.records)
