"""Actions from a worker reach the server once, through a collector, and their answer comes
back; nothing is ever sent twice or late."""

from __future__ import annotations

import socket

import attrs
import pytest
import trio

from trio_ami import ActionFailed, ActionTimeout, InvalidActionError
from trio_ami.redis import (
    AMIServer,
    Collector,
    EmbeddedRedis,
    Keys,
    RemoteServer,
    ServerUnavailable,
    open_redis,
)
from trio_ami.redis._entries import RequestEntry
from trio_ami.testing import FakeSession

from .scaleout import ami_server, fake_pbx, start_collectors, wait_until


async def test_an_action_reaches_the_server_once_and_its_answer_comes_back(
    redis_server: EmbeddedRedis, keys: Keys
) -> None:
    async with (
        fake_pbx() as (pbx, port),
        open_redis(redis_server.url) as client,
        trio.open_nursery() as nursery,
    ):
        await start_collectors(nursery, redis_server.url, [ami_server("pbx1", port)], keys)
        await pbx.wait_for_sessions(2)
        remote = RemoteServer(client, "pbx1", keys=keys, action_timeout=5.0)
        pong = await remote.ping()
        assert pong["Ping"] == "Pong"
        await remote.set_var("FOO", "bar")
        assert await remote.get_var("FOO") == "bar"
        channels = await remote.core_show_channels()  # an event list, items and all
        assert channels == []
        outcome = await remote.originate(
            "PJSIP/201", context="from-internal", exten="100", priority=1, wait=True
        )
        assert outcome.outcome is not None and outcome.outcome["Response"] == "Success"
        with pytest.raises(ActionFailed) as failed:
            await remote.action("NoSuchAction")
        assert failed.value.result is not None
        nursery.cancel_scope.cancel()
    names = [message["Action"] for message in pbx.received]
    for name in ("Ping", "Setvar", "Getvar", "CoreShowChannels", "Originate", "NoSuchAction"):
        assert names.count(name) == 1, (name, names)


async def test_an_action_nobody_sends_times_out_and_is_never_sent_late(
    redis_server: EmbeddedRedis, keys: Keys
) -> None:
    async with fake_pbx() as (pbx, port), open_redis(redis_server.url) as client:
        remote = RemoteServer(client, "pbx1", keys=keys)
        with pytest.raises(ActionTimeout):
            await remote.action("Ping", timeout=0.2)
        async with trio.open_nursery() as nursery:
            [collector] = await start_collectors(
                nursery, redis_server.url, [ami_server("pbx1", port)], keys, count=1
            )
            await wait_until(lambda: collector.statistics().servers["pbx1"].expired == 1)
            nursery.cancel_scope.cancel()
    assert [m for m in pbx.received if m["Action"] == "Ping"] == []


async def test_an_action_the_server_answers_too_late_times_out(
    redis_server: EmbeddedRedis, keys: Keys
) -> None:
    async def never(session: FakeSession, action: object) -> None:
        await trio.sleep_forever()

    async with (
        fake_pbx() as (pbx, port),
        open_redis(redis_server.url) as client,
        trio.open_nursery() as nursery,
    ):
        pbx.set_handler("Ping", never)
        await start_collectors(nursery, redis_server.url, [ami_server("pbx1", port)], keys, count=1)
        await pbx.wait_for_sessions(1)
        remote = RemoteServer(client, "pbx1", keys=keys)
        with pytest.raises(ActionTimeout, match="Ping"):
            await remote.action("Ping", timeout=0.3)
        nursery.cancel_scope.cancel()
    assert len([m for m in pbx.received if m["Action"] == "Ping"]) == 1


async def test_a_request_that_is_not_one_is_skipped_and_counted(
    redis_server: EmbeddedRedis, keys: Keys
) -> None:
    async with (
        fake_pbx() as (pbx, port),
        open_redis(redis_server.url) as client,
        trio.open_nursery() as nursery,
    ):
        [collector] = await start_collectors(
            nursery, redis_server.url, [ami_server("pbx1", port)], keys, count=1
        )
        await pbx.wait_for_sessions(1)
        await client.xadd(keys.requests("pbx1"), {"id": "x1", "action": "Nonsense"})
        await wait_until(lambda: collector.statistics().servers["pbx1"].malformed == 1)
        pong = await RemoteServer(client, "pbx1", keys=keys).ping()  # still serving
        assert pong["Ping"] == "Pong"
        nursery.cancel_scope.cancel()


async def test_an_action_the_collector_cannot_send_says_so(
    redis_server: EmbeddedRedis, keys: Keys
) -> None:
    async with open_redis(redis_server.url) as client:
        remote = RemoteServer(client, "pbx1", keys=keys)
        for failure, error in (("invalid", InvalidActionError), ("unavailable", ServerUnavailable)):
            from trio_ami.redis._entries import Reply as Answer, encode_reply

            async def answer(failure: str = failure) -> None:
                found = await client.xread({keys.requests("pbx1"): "0"}, block=2000)
                assert found
                entries = next(iter(found.values()))
                request = RequestEntry.from_fields(entries[-1].field_values)
                await client.delete([keys.requests("pbx1")])
                blob = encode_reply(Answer(failure=failure, message="no session"))
                await client.rpush(keys.reply(request.request_id), [blob])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(answer)
                with pytest.raises(error, match="no session"):
                    await remote.action("Ping", timeout=2.0)


@pytest.mark.parametrize("reconnect", [True, False])
async def test_a_collector_whose_server_drops_it_reconnects_and_goes_on(
    redis_server: EmbeddedRedis, keys: Keys, reconnect: bool
) -> None:
    server = AMIServer(
        "pbx1", "127.0.0.1", 0, username="admin", secret="secret", reconnect=reconnect
    )
    async with (
        fake_pbx() as (pbx, port),
        open_redis(redis_server.url) as client,
        trio.open_nursery() as nursery,
    ):
        server = attrs.evolve(server, port=port)
        collector = Collector(
            redis_server.url, [server], events=("UserEvent",), keys=keys, reconnect=(0.01, 0.1)
        )
        await nursery.start(collector.run)
        assert collector.statistics().servers["pbx1"].connected
        pbx.disconnect_all()
        await wait_until(lambda: collector.statistics().servers["pbx1"].connects == 2)
        await pbx.wait_for_sessions(1)
        pbx.push_event("UserEvent", {"UserEvent": "after"})
        await wait_until(lambda: collector.statistics().servers["pbx1"].appended == 1)
        pong = await RemoteServer(client, "pbx1", keys=keys).ping()
        assert pong["Ping"] == "Pong"
        nursery.cancel_scope.cancel()


async def test_a_collector_of_two_servers_goes_on_while_one_is_down(
    redis_server: EmbeddedRedis, keys: Keys
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    async with (
        fake_pbx() as (pbx, port),
        open_redis(redis_server.url) as client,
        trio.open_nursery() as nursery,
    ):
        servers = [ami_server("pbx1", port), ami_server("pbx2", dead_port)]
        collector = Collector(
            redis_server.url, servers, events=["UserEvent"], keys=keys, reconnect=(0.05, 0.5)
        )
        with trio.fail_after(5):
            await nursery.start(collector.run)
        stats = collector.statistics().servers
        assert stats["pbx1"].connected and not stats["pbx2"].connected
        pbx.push_event("UserEvent", {"UserEvent": "one"})
        await wait_until(lambda: collector.statistics().servers["pbx1"].appended == 1)
        with pytest.raises(ActionTimeout):  # no collector has a link to pbx2: never sent
            await RemoteServer(client, "pbx2", keys=keys).action("Ping", timeout=0.3)
        nursery.cancel_scope.cancel()


async def test_a_refused_login_is_tried_again_only_after_a_long_wait(
    redis_server: EmbeddedRedis, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    async with fake_pbx() as (_, port), trio.open_nursery() as nursery:
        wrong = AMIServer("pbx1", "127.0.0.1", port, username="admin", secret="wrong")
        collector = Collector(
            redis_server.url, [wrong], keys=keys, reconnect=(0.01, 0.05), refused_login_delay=0.5
        )
        await nursery.start(collector.run)
        await trio.sleep(0.3)
        assert collector.statistics().servers["pbx1"].refused_logins == 1
        await wait_until(lambda: collector.statistics().servers["pbx1"].refused_logins == 2)
        nursery.cancel_scope.cancel()
    assert not collector.statistics().servers["pbx1"].connected
    assert "wrong" not in caplog.text
    assert "Authentication failed" in caplog.text or "refused" in caplog.text
