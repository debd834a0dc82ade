"""The trio client against the fake AMI server over real loopback TCP."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
import trustme

import trio_ami
from trio_ami import (
    ActionFailed,
    ActionTimeout,
    AMIConnectionError,
    AuthenticationError,
    ConnectionClosed,
    SubscriptionOverflow,
)
from trio_ami.testing import FakeAMIServer

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture
async def server() -> AsyncIterator[FakeAMIServer]:
    yield FakeAMIServer(users={"admin": "s3cret", "reader": "readonly"})


@pytest.fixture
async def address(server: FakeAMIServer) -> AsyncIterator[tuple[str, int]]:
    async with server.listen_tcp() as address:
        yield address


def connect(
    address: tuple[str, int], **kwargs: Any
) -> AbstractAsyncContextManager[trio_ami.AMIConnection]:
    options: dict[str, Any] = {"username": "admin", "secret": "s3cret"}
    options.update(kwargs)
    return trio_ami.open_ami(address[0], address[1], **options)


# -- login --------------------------------------------------------------------------------------
@pytest.mark.parametrize("auth", ["md5", "plain"])
async def test_login_both_ways_and_logoff_on_exit(
    server: FakeAMIServer, address: tuple[str, int], auth: str
) -> None:
    async with connect(address, auth=auth) as ami:
        assert ami.ami_version == "11.0.0"
        assert server.sessions[0].logged_in
        await ami.ping()
    names = [action["Action"].lower() for action in server.received]
    expected = ["challenge", "login"] if auth == "md5" else ["login"]
    assert names == [*expected, "ping", "logoff"]
    if auth == "md5":
        assert "Secret" not in server.received[1]
    assert ami.closed
    assert ami.close_reason == "logged off"


@pytest.mark.parametrize("auth", ["md5", "plain"])
async def test_wrong_secret_raises_authentication_error(
    address: tuple[str, int], auth: str
) -> None:
    with pytest.raises(AuthenticationError, match="Authentication failed"):
        async with connect(address, auth=auth, secret="wrong"):
            pytest.fail("logged in with a wrong secret")


async def test_refused_connection_is_our_connection_error() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()
    with pytest.raises(AMIConnectionError) as caught:
        async with trio_ami.open_ami("127.0.0.1", port, username="a", secret="b"):
            pass
    assert isinstance(caught.value, ConnectionError)


async def test_a_server_that_is_not_ami(server: FakeAMIServer, address: tuple[str, int]) -> None:
    server.banner = b"HTTP/1.1 400 Bad Request\r\n\r\n"
    with pytest.raises(AMIConnectionError, match="not an Asterisk Manager Interface") as caught:
        async with connect(address):
            pass
    assert isinstance(caught.value.__cause__, trio_ami.RemoteProtocolError)


async def test_errors_in_the_block_come_out_unwrapped(address: tuple[str, int]) -> None:
    with pytest.raises(KeyError, match="mine"):
        async with connect(address):
            raise KeyError("mine")


# -- actions ------------------------------------------------------------------------------------
async def test_concurrent_actions_from_many_tasks(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    results: dict[int, str] = {}

    async def worker(ami: trio_ami.AMIConnection, index: int) -> None:
        await ami.set_var(f"VAR{index}", f"value-{index}")
        results[index] = await ami.get_var(f"VAR{index}")

    async with connect(address) as ami, trio.open_nursery() as nursery:
        for index in range(60):
            nursery.start_soon(worker, ami, index)
    assert results == {index: f"value-{index}" for index in range(60)}


async def test_lists_command_and_failures(server: FakeAMIServer, address: tuple[str, int]) -> None:
    async with connect(address) as ami:
        peers = await ami.sip_peers()
        assert peers and all(peer.name == "PeerEntry" for peer in peers)
        result = await ami.action("SIPpeers")
        assert result.complete is not None and result.complete.name == "PeerlistComplete"
        assert result.items_match and result.items_received == len(peers)
        version = await ami.command("core show version")
        assert version and version[0].startswith("Asterisk ")
        with pytest.raises(ActionFailed) as caught:
            await ami.action("NoSuchAction")
        assert caught.value.response["Message"].startswith("Invalid/unknown command")
        unchecked = await ami.action("NoSuchAction", check=False)
        assert not unchecked.success
        assert unchecked.message.startswith("Invalid/unknown command")


async def test_command_output_is_the_same_in_both_formats() -> None:
    outputs = []
    for version in ("11.0.0", "2.10.6"):
        server = FakeAMIServer(users={"admin": "s3cret"}, ami_version=version)
        server.commands["show lines"] = "first: line\n\nthird line\n"
        async with server.listen_tcp() as address, connect(address) as ami:
            outputs.append(await ami.command("show lines"))
    assert outputs[0] == outputs[1] == ["first: line", "", "third line"]


async def test_originate_wait_returns_the_outcome(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    async with connect(address) as ami:
        result = await ami.originate(
            "Local/100@test", application="Wait", data="1", wait=True, variables={"A": "1"}
        )
        assert result.outcome is not None
        assert result.outcome["Response"] == "Success"
        assert result.outcome["ActionID"] == result.action_id
        with pytest.raises(ActionFailed) as caught:
            await ami.originate("Local/999@test", application="Wait", data="1", wait=True)
        assert caught.value.response["Response"] == "Failure"
    sent = next(action for action in server.received if action["Action"] == "Originate")
    assert sent["Async"] == "true" and sent.get_all("Variable") == ["A=1"]


async def test_action_stream_delivers_items_as_they_come(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    async with connect(address) as ami:
        async with ami.action_stream("SIPpeers") as peers:
            names = [peer["ObjectName"] async for peer in peers]
        assert peers.result is not None and peers.result.items_match
        assert len(names) == peers.result.items_received == len(server.sip_peers)
        with pytest.raises(ActionFailed):
            async with ami.action_stream("NoSuchList") as stream:
                async for _ in stream:
                    pass


# -- cancellation, timeouts, late replies -------------------------------------------------------
async def test_timeout_forgets_the_action_and_its_late_reply(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    server.stall("Ping")
    async with connect(address) as ami:
        with pytest.raises(ActionTimeout):
            await ami.action("Ping", timeout=0.1)
        assert ami.protocol.pending_action_ids == []
        stalled = server.received[-1]
        # The late reply arrives now; it must not be taken for the next action's.
        server.unstall("Ping")
        server.sessions[0].send({"Response": "Success", "Ping": "Pong", "Late": "yes"}, stalled)
        result = await ami.action("Getvar", Variable="NOPE")
        assert "Late" not in result.response
        assert result.response.action_id == result.action_id
        await ami.ping()
        assert ami.protocol.statistics().late_packets_dropped == 1


async def test_cancelled_action_leaves_the_connection_usable(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    server.stall("CoreShowChannels")
    async with connect(address) as ami:
        with trio.move_on_after(0.1) as scope:
            await ami.core_show_channels()
        assert scope.cancelled_caught
        assert ami.statistics().waiting_actions == 0
        assert (await ami.ping())["Ping"] == "Pong"


async def test_server_closing_mid_response_fails_every_pending_action(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    server.close_mid_packet("Command")
    server.stall("Ping")
    async with connect(address) as ami:
        outcomes: list[BaseException] = []

        async def run(call: object) -> None:
            try:
                await call  # type: ignore[misc]
            except ConnectionClosed as exc:
                outcomes.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, ami.ping())
            await server.wait_for_action("Ping")
            nursery.start_soon(run, ami.command("core show version"))
        assert len(outcomes) == 2
        assert ami.closed
        with pytest.raises(ConnectionClosed):
            await ami.ping()


# -- subscriptions ------------------------------------------------------------------------------
async def test_subscriptions_filter_by_name_glob_and_predicate(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    async with connect(address) as ami:
        async with (
            ami.subscribe("Hangup") as hangups,
            ami.subscribe("dial*") as dials,
            ami.subscribe(predicate=lambda e: e.get("Channel") == "PJSIP/7-1") as seven,
        ):
            server.push_event("DialBegin", {"Channel": "PJSIP/7-1"})
            server.push_event("Newchannel", {"Channel": "PJSIP/8-1"})
            server.push_event("Hangup", {"Channel": "PJSIP/7-1", "ChanVariable": "a=1"})
            server.push_event("DialEnd", {"Channel": "PJSIP/8-1"})
            hangup = await hangups.receive()
            assert hangup["Channel"] == "PJSIP/7-1"
            assert [(await dials.receive()).name for _ in range(2)] == ["DialBegin", "DialEnd"]
            assert [(await seven.receive()).name for _ in range(2)] == ["DialBegin", "Hangup"]


async def test_slow_subscriber_does_not_stall_a_fast_one_or_actions(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    async with connect(address) as ami:
        async with ami.subscribe("Tick", buffer=5) as slow, ami.subscribe("Tick") as fast:
            for number in range(50):
                server.push_event("Tick", {"N": str(number)})
            seen = [int((await fast.receive())["N"]) for _ in range(50)]
            assert seen == list(range(50))
            assert (await ami.ping())["Ping"] == "Pong"
            # The slow one kept its first five and reports the 45 it missed.
            with pytest.raises(SubscriptionOverflow) as caught:
                await slow.receive()
            assert caught.value.missed == 45
            assert [int((await slow.receive())["N"]) for _ in range(5)] == list(range(5))
            stats = slow.statistics()
            assert stats.dropped == 45 and stats.buffered == 0 and stats.delivered == 5


async def test_drop_oldest_keeps_the_newest(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    async with connect(address) as ami:
        async with ami.subscribe("Tick", buffer=3, overflow="drop_oldest") as ticks:
            for number in range(10):
                server.push_event("Tick", {"N": str(number)})
            await ami.ping()  # the events before the Pong have been read
            batch = await ticks.receive_batch()
            assert [int(event["N"]) for event in batch] == [7, 8, 9]
            assert ticks.statistics().dropped == 7


async def test_subscriptions_end_cleanly_on_logoff_and_with_an_error_on_loss(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    async with connect(address) as ami:
        async with ami.subscribe("Tick") as events:
            server.push_event("Tick", {"N": "1"})
            await ami.ping()
            await ami.aclose()
            assert [event.name async for event in events] == ["Tick"]
    async with connect(address) as ami:
        async with ami.subscribe() as events:
            server.sessions[-1].close()
            with pytest.raises(ConnectionClosed):
                async for _ in events:
                    pass


# -- TLS ----------------------------------------------------------------------------------------
async def test_tls_with_a_verified_certificate(server: FakeAMIServer) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    async def handler(stream: trio.SocketStream) -> None:
        await server.serve_stream(trio.SSLStream(stream, server_context, server_side=True))

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        async with trio_ami.open_ami(
            "127.0.0.1", port, username="admin", secret="s3cret", tls=client_context
        ) as ami:
            assert (await ami.ping())["Ping"] == "Pong"
        # Without the CA the certificate is refused, as our own connection error.
        with pytest.raises(AMIConnectionError):
            async with trio_ami.open_ami(
                "127.0.0.1", port, username="admin", secret="s3cret", tls=True
            ):
                pass
        nursery.cancel_scope.cancel()


async def test_a_failing_predicate_ends_only_its_own_subscription(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    def broken(event: trio_ami.Event) -> bool:
        if event["N"] == "2":
            raise ZeroDivisionError("predicate bug")
        return True

    async with connect(address) as ami, ami.subscribe("Tick", predicate=broken) as bad:
        async with ami.subscribe("Tick") as good:
            for number in range(1, 4):
                server.push_event("Tick", {"N": str(number)})
            assert [(await good.receive())["N"] for _ in range(3)] == ["1", "2", "3"]
            assert (await bad.receive())["N"] == "1"
            with pytest.raises(ZeroDivisionError):
                await bad.receive()
            assert (await ami.ping())["Ping"] == "Pong"
        assert len(ami.statistics().subscriptions) == 0


async def test_a_failed_originate_says_why(server: FakeAMIServer, address: tuple[str, int]) -> None:
    server.originate_outcome = lambda action: "Busy"
    async with connect(address) as ami:
        with pytest.raises(ActionFailed, match="busy") as caught:
            await ami.originate("PJSIP/100", context="internal", exten="200", wait=True)
        assert caught.value.response.get("Reason") == "5"


# -- the other ways to connect ------------------------------------------------------------------
async def test_wrap_any_stream_and_the_callers_nursery(server: FakeAMIServer) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_stream, server_stream)
        ami = await trio_ami.wrap_ami_stream(
            nursery, client_stream, username="admin", secret="s3cret", auth="plain"
        )
        assert (await ami.ping())["Ping"] == "Pong"
        await ami.aclose()
        await ami.aclose()  # idempotent
        assert ami.closed and ami.close_reason == "logged off"


async def test_connect_ami_in_the_callers_nursery(address: tuple[str, int]) -> None:
    async with trio.open_nursery() as nursery:
        ami = await trio_ami.connect_ami(
            nursery, address[0], address[1], username="admin", secret="s3cret"
        )
        assert ami.protocol.state is trio_ami.sansio.State.READY
        await ami.aclose()
    assert ami.closed


# -- the typed helpers --------------------------------------------------------------------------
async def test_configuration_and_state_helpers(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    server.hints["100@test"] = "Custom:test100"
    async with connect(address) as ami:
        config = await ami.get_config("extensions.conf")
        assert config["general"] == ["static=yes", "writeprotect=no"]
        assert "exten=100,1,Answer()" in config["test"]
        assert list(await ami.get_config("extensions.conf", category="test")) == ["test"]
        manager = await ami.get_config_json("manager.conf")
        assert manager["general"]["enabled"] == "yes"
        with pytest.raises(ActionFailed):
            await ami.get_config("nonexistent.conf")
        state = await ami.extension_state("100", "test")
        assert state["Exten"] == "100" and "Status" in state
        peers = await ami.iax_peers()
        assert peers and all(peer.name == "PeerEntry" for peer in peers)
        endpoints = await ami.pjsip_endpoints()
        assert endpoints and all(e.name == "EndpointList" for e in endpoints)
        assert await ami.status() == []  # no channel is up
        await ami.set_var("GLOBALVAR", "1")
        assert await ami.get_var("GLOBALVAR") == "1"
        assert await ami.get_var("NEVER_SET") == ""


async def test_user_event_reaches_subscribers_with_its_action_id(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    async with connect(address) as ami, ami.subscribe("UserEvent") as events:
        response = await ami.user_event("MyEvent", {"Header1": "value1"})
        event = await events.receive()
        assert event["UserEvent"] == "MyEvent" and event["Header1"] == "value1"
        assert event.action_id == response.action_id


async def test_event_mask_and_server_side_filter(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    async with connect(address, events=False) as ami, ami.subscribe() as events:
        server.push_event("Hangup", {"Channel": "PJSIP/1-1"})
        await ami.ping()
        assert events.statistics().buffered == 0  # the mask is off
        assert (await ami.events(["call"]))["Events"] == "On"
        await ami.filter("Event: Hangup")
        server.push_event("Newchannel", {"Channel": "PJSIP/2-1"})
        server.push_event("Hangup", {"Channel": "PJSIP/2-1"})
        assert (await events.receive())["Channel"] == "PJSIP/2-1"
        await ami.ping()
        assert events.statistics().buffered == 0  # the Newchannel was filtered out


async def test_redirect_moves_a_channel(server: FakeAMIServer, address: tuple[str, int]) -> None:
    async with connect(address) as ami:
        with pytest.raises(ActionFailed):
            await ami.redirect("PJSIP/nobody-00000000", "test", "100")
        redirects = [a for a in server.received if a["Action"] == "Redirect"]
        assert redirects[0]["Context"] == "test" and redirects[0]["Priority"] == "1"


async def test_garbage_from_the_server_ends_the_session_with_a_typed_error(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    protocol = trio_ami.ClientProtocol(max_line_length=200)
    async with connect(address, protocol=protocol) as ami:
        server.stall("Ping")
        async with trio.open_nursery() as nursery:
            failures: list[BaseException] = []

            async def ping() -> None:
                try:
                    await ami.ping()
                except ConnectionClosed as exc:
                    failures.append(exc)

            nursery.start_soon(ping)
            await server.wait_for_action("Ping")
            server.sessions[0].send_raw(b"Event: Junk\r\nData: " + b"\xff" * 500 + b"\r\n\r\n")
        [failure] = failures
        assert isinstance(failure.__cause__, trio_ami.LimitExceeded)
        assert failure.__cause__.limit == "max_line_length"
        assert ami.closed


async def test_cancelling_the_whole_block_still_logs_off(
    server: FakeAMIServer, address: tuple[str, int]
) -> None:
    server.stall("CoreShowChannels")
    with trio.move_on_after(0.2) as scope:
        async with connect(address) as ami:
            await ami.core_show_channels()
    assert scope.cancelled_caught
    assert ami.closed and ami.close_reason == "logged off"
    assert server.received[-1]["Action"] == "Logoff"


async def test_a_stalled_logoff_is_bounded(server: FakeAMIServer, address: tuple[str, int]) -> None:
    server.stall("Logoff")
    with trio.fail_after(5):
        async with connect(address, logoff_timeout=0.2) as ami:
            await ami.ping()
    assert ami.closed
