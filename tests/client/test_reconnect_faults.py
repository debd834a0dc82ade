"""``open_reconnecting_ami`` over loopback TCP against ``FakeAMIServer`` and its faults: a restart
in the middle of a list and of an action, a black hole, a login refused on reconnect, a TLS
failure on reconnect, a slow consumer during a reconnect; and the block's error contract."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
import trio
import trustme

from trio_ami import AMIConnectionError, AuthenticationError, ConnectionClosed, Event
from trio_ami.resilience import (
    LinkLost,
    LinkRestored,
    ReconnectingAMI,
    ReconnectPolicy,
    SubscriptionItem,
    open_reconnecting_ami,
)
from trio_ami.testing import FakeAMIServer, SimChannel

FAST = ReconnectPolicy(initial_delay=0.01, max_delay=0.05)
LIMIT = 10.0  # no test waits this long unless it hangs


def channel(number: int) -> SimChannel:
    return SimChannel(
        name=f"PJSIP/100-0000000{number}",
        uniqueid=f"1700000000.{number}",
        linkedid=f"1700000000.{number}",
        endpoint="100",
    )


@asynccontextmanager
async def client_of(
    server: FakeAMIServer, policy: ReconnectPolicy = FAST, **options: Any
) -> AsyncIterator[ReconnectingAMI]:
    """A reconnecting client of ``server``, listening on loopback; connected on entry."""
    with trio.fail_after(LIMIT):
        async with server.listen_tcp() as (host, port):
            async with open_reconnecting_ami(
                host, port, username="admin", secret="secret", policy=policy, **options
            ) as ami:
                await ami.wait_connected()
                yield ami


def kinds(items: list[SubscriptionItem]) -> list[str]:
    return [item.name if isinstance(item, Event) else type(item).__name__ for item in items]


async def test_a_restart_in_the_middle_of_a_list_retries_the_read_only_list() -> None:
    server = FakeAMIServer()
    for number in range(1, 5):
        server.pbx.add_channel(channel(number))
    async with client_of(server) as ami:
        server.close_mid_list(after=2)  # the connection closes after two items
        channels = await ami.core_show_channels()
        assert [item["Channel"] for item in channels] == [
            f"PJSIP/100-0000000{n}" for n in range(1, 5)
        ]
        statistics = ami.statistics()
        assert statistics.reconnects == 1
        assert statistics.state == "connected"
    coreshow = [a for a in server.received if a["Action"] == "CoreShowChannels"]
    assert len(coreshow) == 2


async def test_a_list_read_as_it_comes_is_not_sent_again_when_cut() -> None:
    server = FakeAMIServer()
    for number in range(1, 5):
        server.pbx.add_channel(channel(number))
    async with client_of(server) as ami:
        server.close_mid_list(after=2)
        seen = []
        with pytest.raises(ConnectionClosed):
            async with ami.action_stream("CoreShowChannels") as channels:
                async for item in channels:
                    seen.append(item["Channel"])
        assert seen == ["PJSIP/100-00000001", "PJSIP/100-00000002"]
        async with ami.action_stream("CoreShowChannels") as channels:  # on the next link
            assert len([item async for item in channels]) == 4
    coreshow = [a for a in server.received if a["Action"] == "CoreShowChannels"]
    assert len(coreshow) == 2  # the cut one, once, and the new one


async def test_a_restart_in_the_middle_of_an_action_fails_it_and_never_sends_it_again() -> None:
    server = FakeAMIServer()
    server.stall("Originate")  # in flight when the server restarts
    async with client_of(server) as ami:
        async with trio.open_nursery() as nursery:

            async def originate() -> None:
                with pytest.raises(ConnectionClosed, match="the server closed the connection"):
                    await ami.originate("PJSIP/100", context="internal", exten="200", priority=1)

            nursery.start_soon(originate)
            await server.wait_for_action("Originate")
            await server.restart(delay=0.05)
        server.unstall("Originate")
        await ami.ping()  # waits for the new link
        assert [a["Action"] for a in server.received].count("Originate") == 1
        assert ami.statistics().reconnects == 1


async def test_a_black_hole_is_found_by_the_keepalive_and_left() -> None:
    server = FakeAMIServer()
    async with client_of(server, keepalive=0.2, keepalive_timeout=0.2) as ami:
        async with ami.subscribe("UserEvent") as events:
            server.push_event("UserEvent", {"UserEvent": "Before"})
            assert kinds([await events.receive()]) == ["UserEvent"]
            server.black_hole()
            lost = await events.receive()  # when, exactly: test_keepalive.py
            assert isinstance(lost, LinkLost)
            assert "no answer to the keepalive Ping within 0.2 s" in lost.reason
            server.lift_black_hole()  # the old sessions wake; the client has moved on
            restored = await events.receive()
            assert isinstance(restored, LinkRestored)
            server.push_event("UserEvent", {"UserEvent": "After"})
            after = await events.receive()
            assert isinstance(after, Event) and after["UserEvent"] == "After"


async def test_a_login_refused_on_reconnect_stops_the_client_and_ends_the_block() -> None:
    server = FakeAMIServer()
    with pytest.raises(AuthenticationError, match="Authentication failed"):
        async with client_of(server) as ami:
            async with ami.subscribe("UserEvent") as events:  # markers only here
                server.refuse_logins(1)
                server.disconnect_all()
                assert isinstance(await events.receive(), LinkLost)
                await events.receive()  # the failure, or the cancelled block
    assert ami.state == "failed"


async def test_an_option_rides_out_logins_refused_on_reconnect(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = FakeAMIServer()
    policy = ReconnectPolicy(initial_delay=0.01, max_delay=0.02, retry_refused_login=True)
    async with client_of(server, policy) as ami:
        async with ami.subscribe("UserEvent") as events:  # markers only here
            server.refuse_logins(3)
            server.disconnect_all()
            assert kinds([await events.receive(), await events.receive()]) == [
                "LinkLost",
                "LinkRestored",
            ]
            assert server.statistics().logins_refused == 3
    attempts = [
        r.getMessage() for r in caplog.records if "Authentication failed;" in r.getMessage()
    ]
    assert len(attempts) == 3
    assert all(": Authentication failed; next attempt in " in message for message in attempts)
    assert all("secret" not in r.getMessage() for r in caplog.records)


async def test_a_tls_failure_on_reconnect_is_retried() -> None:
    trusted, untrusted = trustme.CA(), trustme.CA()
    contexts = []
    for ca in (trusted, untrusted):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        contexts.append(context)
    current = [contexts[0]]
    server = FakeAMIServer()
    failed = trio.Event()

    async def handler(stream: trio.SocketStream) -> None:
        tls = trio.SSLStream(stream, current[0], server_side=True)
        try:
            await tls.do_handshake()
        except trio.BrokenResourceError:  # the client refused the certificate
            failed.set()
            current[0] = contexts[0]  # the certificate is fixed
            return
        await server.serve_stream(tls)

    client_context = ssl.create_default_context()
    trusted.configure_trust(client_context)
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            async with open_reconnecting_ami(
                "127.0.0.1",
                port,
                username="admin",
                secret="secret",
                policy=FAST,
                tls=client_context,
            ) as ami:
                async with ami.subscribe("UserEvent") as events:  # markers only here
                    await ami.wait_connected()
                    current[0] = contexts[1]  # the next handshake fails verification
                    server.disconnect_all()
                    assert isinstance(await events.receive(), LinkLost)
                    assert isinstance(await events.receive(), LinkRestored)
                    assert failed.is_set()
                    errors = [str(ami.statistics().last_error)]
                    await ami.ping()
            nursery.cancel_scope.cancel()
    assert ami.statistics().attempts == 3
    assert errors  # the last error is reported while connected too


async def test_a_slow_consumer_during_a_reconnect_loses_nothing_of_either_link() -> None:
    server = FakeAMIServer()
    async with client_of(server) as ami:
        async with ami.subscribe("UserEvent", buffer=1000) as events:
            for number in range(300):
                server.push_event("UserEvent", {"UserEvent": "Old", "N": str(number)})
            while events.statistics().buffered < 300:  # all read off the socket, none consumed
                await trio.sleep(0.01)
            await server.restart(delay=0.05)
            while not (ami.connected and ami.statistics().reconnects == 1):
                await trio.sleep(0.01)
            for number in range(300):
                server.push_event("UserEvent", {"UserEvent": "New", "N": str(number)})
            items: list[SubscriptionItem] = []
            while len(items) < 602:
                items.extend(await events.receive_batch())
    assert kinds(items) == ["UserEvent"] * 300 + ["LinkLost", "LinkRestored"] + ["UserEvent"] * 300
    numbers = [(item["UserEvent"], item["N"]) for item in items if isinstance(item, Event)]
    assert numbers == [(tag, str(n)) for tag in ("Old", "New") for n in range(300)]


async def test_the_block_ends_its_client_and_its_own_errors_pass_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="trio_ami")
    server = FakeAMIServer()
    with pytest.raises(KeyError, match="mine"):
        async with client_of(server) as ami:
            raise KeyError("mine")
    assert ami.state == "closed"
    with trio.move_on_after(0.2) as scope:
        async with client_of(server) as ami:
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert ami.state == "closed"
    assert any(a["Action"] == "Logoff" for a in server.received)


async def test_the_default_port_is_that_of_plain_ami() -> None:
    policy = ReconnectPolicy(max_attempts=1)
    with trio.fail_after(LIMIT), pytest.raises(AMIConnectionError) as caught:
        async with open_reconnecting_ami(
            "127.0.0.1", username="admin", secret="secret", policy=policy, connect_timeout=1
        ) as ami:
            await ami.wait_connected()
    assert "could not connect to 127.0.0.1:5038" in str(caught.value)
