"""The trio layer's lifecycle on in-memory streams, under a clock that jumps.

Every test plays the server byte by byte (``helpers.scripted``), so each race is exact, and runs
with pytest-trio's ``autojump_clock``: a timeout of minutes takes no wall time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

import pytest
import trio
import trio.testing
from helpers.scripted import BreakableStream, ScriptedServer, packet, stream_pair
from trio.testing import MockClock

import trio_ami
from trio_ami import (
    ActionTimeout,
    AMIConnectionError,
    AuthenticationError,
    ConnectionClosed,
    Ending,
    ListTooLong,
)
from trio_ami.sansio import requests


@asynccontextmanager
async def session(
    **options: Any,
) -> AsyncIterator[tuple[trio_ami.AMIConnection, ScriptedServer, BreakableStream]]:
    """A logged-in connection on a memory stream, its scripted server and its client stream.

    The connection runs in a nursery of its own; leaving the block closes it (the test answers
    the Logoff, or the logoff timeout runs out).
    """
    client, server = stream_pair()
    settings: dict[str, Any] = {"username": "admin", "secret": "pw", "auth": "plain"}
    settings.update(options)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.accept_login)
        ami = await trio_ami.wrap_ami_stream(nursery, client, **settings)
        yield ami, server, client
        await ami.aclose()


def ending_of(ami: trio_ami.AMIConnection) -> Ending | None:
    return ami.ending


# -- how a session ends -----------------------------------------------------------------------
async def test_a_logoff_never_answered_is_closed_locally_not_by_the_server(
    autojump_clock: MockClock,
) -> None:
    async with session(logoff_timeout=2.0) as (ami, server, client):
        start = trio.current_time()
        await ami.aclose()  # the server reads the Logoff and says nothing
    assert (await server.next_action())["Action"] == "Logoff"
    assert trio.current_time() - start == pytest.approx(2.0)
    assert ami.ending is Ending.CLOSED_LOCALLY
    assert ami.close_reason == "no answer to Logoff within 2.0 s"
    assert client.closed


async def test_an_answered_logoff_is_logged_off(autojump_clock: MockClock) -> None:
    async with session() as (ami, server, _):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.answer_logoff)
            await ami.aclose()
    assert ami.ending is Ending.LOGGED_OFF
    assert ami.close_reason == "logged off"


async def test_the_server_closing_is_closed_by_the_server(autojump_clock: MockClock) -> None:
    async with session() as (ami, server, _):
        await server.close()
        await ami.wait_closed()
        assert ami.ending is Ending.CLOSED_BY_SERVER
        with pytest.raises(ConnectionClosed, match="the server closed the connection") as caught:
            await ami.ping()
        assert caught.value.ending is Ending.CLOSED_BY_SERVER


async def test_a_broken_link_is_a_transport_error_with_the_os_error(
    autojump_clock: MockClock,
) -> None:
    async with session() as (ami, server, client):
        async with trio.open_nursery() as nursery:

            async def ping() -> None:
                with pytest.raises(ConnectionClosed) as caught:
                    await ami.ping()
                error = caught.value
                assert error.ending is Ending.TRANSPORT_ERROR
                assert (
                    "Ping cannot complete: the connection broke: Connection reset by peer"
                    in str(error)
                )
                assert isinstance(error.__cause__, AMIConnectionError)
                assert isinstance(error.__cause__.__cause__, trio.BrokenResourceError)
                assert isinstance(error.__cause__.__cause__.__cause__, ConnectionResetError)

            nursery.start_soon(ping)
            await server.expect("Ping")
            client.break_now()
    assert ami.ending is Ending.TRANSPORT_ERROR
    assert ami.close_reason == "the connection broke: Connection reset by peer"


async def test_a_write_that_fails_is_a_transport_error(autojump_clock: MockClock) -> None:
    async with session() as (ami, _, client):
        client.break_now(BrokenPipeError(32, "Broken pipe"))
        with pytest.raises(ConnectionClosed) as caught:
            await ami.ping()
        assert caught.value.ending is Ending.TRANSPORT_ERROR
        assert "Broken pipe" in str(caught.value)


async def test_garbage_is_a_protocol_error(autojump_clock: MockClock) -> None:
    async with session(protocol=trio_ami.ClientProtocol(max_line_length=100)) as (ami, server, _):
        await server.send(b"Event: Junk\r\nData: " + b"x" * 200 + b"\r\n\r\n")
        await ami.wait_closed()
    assert ami.ending is Ending.PROTOCOL_ERROR
    error = ami.closed_error()
    assert isinstance(error.__cause__, trio_ami.LimitExceeded)


# -- closing while work waits -----------------------------------------------------------------
async def test_a_loss_fails_every_waiting_action_list_stream_and_subscription(
    autojump_clock: MockClock,
) -> None:
    async with session() as (ami, server, _):
        failures: dict[str, BaseException] = {}

        async def keep(name: str, work: Callable[[], Awaitable[object]]) -> None:
            try:
                await work()
            except ConnectionClosed as exc:
                failures[name] = exc

        async def read_stream() -> None:
            async with ami.action_stream("CoreShowChannels") as channels:
                async for _ in channels:
                    pass

        async def read_events() -> None:
            async with ami.subscribe() as events:
                async for _ in events:
                    pass

        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep, "action", ami.ping)
            nursery.start_soon(keep, "list", ami.core_show_channels)
            nursery.start_soon(keep, "stream", read_stream)
            nursery.start_soon(keep, "events", read_events)
            for _ in range(3):
                await server.next_action()
            await trio.testing.wait_all_tasks_blocked()
            await server.close()
    assert sorted(failures) == ["action", "events", "list", "stream"]
    assert all(error.ending is Ending.CLOSED_BY_SERVER for error in failures.values())  # type: ignore[attr-defined]
    assert ami.statistics().waiting_actions == 0


async def test_aclose_while_work_waits_ends_it_cleanly(autojump_clock: MockClock) -> None:
    async with session() as (ami, server, _):
        outcomes: list[str] = []

        async def read_events() -> None:
            async with ami.subscribe() as events:
                async for _ in events:
                    pass
            outcomes.append("events ended")

        async def ping() -> None:
            with pytest.raises(ConnectionClosed) as caught:
                await ami.ping()
            assert caught.value.ending is Ending.LOGGED_OFF
            outcomes.append("ping closed")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_events)
            nursery.start_soon(ping)
            await server.expect("Ping")
            nursery.start_soon(server.answer_logoff)
            await ami.aclose()
    assert sorted(outcomes) == ["events ended", "ping closed"]


async def test_aclose_from_two_tasks_logs_off_once(autojump_clock: MockClock) -> None:
    async with session() as (ami, server, _):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ami.aclose)
            nursery.start_soon(ami.aclose)
            await server.answer_logoff()
    assert ami.ending is Ending.LOGGED_OFF
    assert [action["Action"] for action in server.received] == ["Login", "Logoff"]


async def test_a_logoff_sent_as_an_action_is_waited_for_by_aclose(
    autojump_clock: MockClock,
) -> None:
    async with session() as (ami, server, _):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ami.action, "Logoff")
            await server.expect("Logoff")
            nursery.start_soon(ami.aclose)
            await trio.sleep(1)
            assert not ami.closed
            await server.send(
                packet(("Response", "Goodbye"), ("ActionID", server.received[-1].action_id or ""))
            )
    assert ami.ending is Ending.LOGGED_OFF


async def test_a_link_that_breaks_during_logoff(autojump_clock: MockClock) -> None:
    async with session() as (ami, server, client):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ami.aclose)
            await server.expect("Logoff")
            client.break_now()
    assert ami.ending is Ending.TRANSPORT_ERROR


async def test_a_peer_that_stops_reading_does_not_hold_the_logoff_for_ever(
    autojump_clock: MockClock,
) -> None:
    async with session(logoff_timeout=3.0) as (ami, _, client):
        client.stop_reading()
        start = trio.current_time()
        await ami.aclose()
    assert trio.current_time() - start == pytest.approx(3.0)
    assert ami.ending is Ending.CLOSED_LOCALLY


# -- every entry point owns its shutdown ------------------------------------------------------
async def test_cancelling_the_nursery_of_wrap_ami_stream_logs_off(
    autojump_clock: MockClock,
) -> None:
    client, server = stream_pair()
    async with trio.open_nursery() as outer:
        outer.start_soon(server.accept_login)
        async with trio.open_nursery() as nursery:
            ami = await trio_ami.wrap_ami_stream(
                nursery, client, username="admin", secret="pw", auth="plain"
            )
            nursery.cancel_scope.cancel()
            outer.start_soon(server.answer_logoff)
    assert ami.ending is Ending.LOGGED_OFF
    assert client.closed


async def test_cancelling_the_nursery_with_a_silent_server_is_bounded(
    autojump_clock: MockClock,
) -> None:
    client, server = stream_pair()
    async with trio.open_nursery() as outer:
        outer.start_soon(server.accept_login)
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            ami = await trio_ami.wrap_ami_stream(
                nursery, client, username="admin", secret="pw", auth="plain", logoff_timeout=1.5
            )
            nursery.cancel_scope.cancel()
    assert trio.current_time() - start == pytest.approx(1.5)
    assert ami.ending is Ending.CLOSED_LOCALLY
    assert [action["Action"] for action in server.received] == ["Login"]  # Logoff unread


async def test_async_with_the_connection_closes_it(autojump_clock: MockClock) -> None:
    client, server = stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.accept_login)
        ami = await trio_ami.wrap_ami_stream(
            nursery, client, username="a", secret="b", auth="plain"
        )
        nursery.start_soon(server.answer_logoff)
        async with ami:
            assert isinstance(ami, trio.abc.AsyncResource)
    assert ami.ending is Ending.LOGGED_OFF


# -- logging in -------------------------------------------------------------------------------
async def test_a_silent_peer_has_no_banner(autojump_clock: MockClock) -> None:
    client, _server = stream_pair()
    async with trio.open_nursery() as nursery:
        with pytest.raises(AMIConnectionError, match=r"^no banner from the server within 4 s$"):
            await trio_ami.wrap_ami_stream(
                nursery, client, username="a", secret="b", login_timeout=4
            )
    assert client.closed


@pytest.mark.parametrize("auth", ["md5", "plain"])
async def test_a_login_never_answered(
    auth: Literal["md5", "plain"], autojump_clock: MockClock
) -> None:
    client, server = stream_pair()
    await server.greet()
    async with trio.open_nursery() as nursery:
        with pytest.raises(
            AMIConnectionError, match=r"^no answer to the login from the server within 4 s$"
        ):
            await trio_ami.wrap_ami_stream(
                nursery,
                client,
                username="a",
                secret="b",
                auth=auth,
                login_timeout=4,
            )
    assert client.closed


@pytest.mark.parametrize(
    ("greeting", "match"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n", "not an Asterisk Manager Interface banner: 'SSH-2.0"),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not an Asterisk Manager Interface banner: 'HTTP"),
    ],
    ids=["ssh", "http"],
)
async def test_a_peer_that_is_not_ami(
    greeting: bytes, match: str, autojump_clock: MockClock
) -> None:
    client, server = stream_pair()
    await server.send(greeting)
    async with trio.open_nursery() as nursery:
        with pytest.raises(AMIConnectionError, match=match) as caught:
            await trio_ami.wrap_ami_stream(nursery, client, username="a", secret="b")
    assert str(caught.value).startswith("could not log in to the server: protocol error: ")
    assert isinstance(caught.value.__cause__, trio_ami.RemoteProtocolError)


async def test_a_server_that_closes_during_login(autojump_clock: MockClock) -> None:
    client, server = stream_pair()
    await server.greet()
    async with trio.open_nursery() as nursery:
        with pytest.raises(
            AMIConnectionError,
            match="could not log in to the server: the server closed the connection",
        ):
            nursery.start_soon(server.close)
            await trio_ami.wrap_ami_stream(nursery, client, username="a", secret="b")


async def test_a_link_that_breaks_during_login(autojump_clock: MockClock) -> None:
    client, server = stream_pair()

    async def script() -> None:
        await server.greet()
        await server.expect("Challenge")
        client.break_now()

    async with trio.open_nursery() as nursery:
        with pytest.raises(
            AMIConnectionError, match="the connection broke: Connection reset"
        ) as caught:
            nursery.start_soon(script)
            await trio_ami.wrap_ami_stream(nursery, client, username="a", secret="b")
    assert isinstance(caught.value.__cause__, AMIConnectionError)


async def test_a_refused_login_is_an_authentication_error(autojump_clock: MockClock) -> None:
    client, server = stream_pair()

    async def script() -> None:
        await server.greet()
        login = await server.expect("Login")
        await server.answer(login, "Error", ("Message", "Authentication failed"))

    async with trio.open_nursery() as nursery:
        with pytest.raises(AuthenticationError, match="Authentication failed"):
            nursery.start_soon(script)
            await trio_ami.wrap_ami_stream(nursery, client, username="a", secret="b", auth="plain")
    assert client.closed


# -- actions ----------------------------------------------------------------------------------
async def test_an_endless_list_fails_only_its_action(autojump_clock: MockClock) -> None:
    async with session() as (ami, server, _):
        async with trio.open_nursery() as nursery:

            async def flood() -> None:
                action = await server.expect("CoreShowChannels")
                await server.answer(action, "Success", ("EventList", "start"))
                item = packet(("Event", "CoreShowChannel"), ("ActionID", action.action_id or ""))
                for _ in range(100):  # and never a CoreShowChannelsComplete
                    await server.send(item * 10)

            nursery.start_soon(flood)
            with pytest.raises(ListTooLong, match="max_list_items=50") as caught:
                await ami.action("CoreShowChannels", max_items=50)
            assert caught.value.limit == 50
        ping = trio_ami.Action("Ping")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ami.action, ping)
            answered = await server.expect("Ping")
            await server.answer(answered, "Success", ("Ping", "Pong"))
        assert ami.protocol.statistics().late_packets_dropped == 1000 - 50
        assert not ami.closed


async def test_the_default_list_bound_comes_from_the_protocol(autojump_clock: MockClock) -> None:
    protocol = trio_ami.ClientProtocol(max_list_items=5)
    async with session(protocol=protocol) as (ami, server, _):
        async with trio.open_nursery() as nursery:

            async def flood() -> None:
                action = await server.expect("Status")
                await server.answer(action, "Success", ("EventList", "start"))
                item = packet(("Event", "Status"), ("ActionID", action.action_id or ""))
                await server.send(item * 6)

            nursery.start_soon(flood)
            with pytest.raises(ListTooLong, match="max_list_items=5"):
                await ami.status()


async def test_originate_ring_time_and_deadline_are_separate(autojump_clock: MockClock) -> None:
    async with session(action_timeout=30.0) as (ami, server, _):
        start = trio.current_time()
        async with trio.open_nursery() as nursery:

            async def originate() -> None:
                with pytest.raises(ActionTimeout):
                    await ami.originate(
                        "PJSIP/100",
                        context="internal",
                        exten="200",
                        priority=1,
                        ring_timeout=60,
                        wait=True,
                    )

            nursery.start_soon(originate)
            action = await server.expect("Originate")
            assert action["Timeout"] == "60000"
            await server.answer(action, "Success", ("Message", "Originate successfully queued"))
        # ring time + action_timeout, and no OriginateResponse came
        assert trio.current_time() - start == pytest.approx(90.0)
        start = trio.current_time()
        async with trio.open_nursery() as nursery:

            async def explicit() -> None:
                with pytest.raises(ActionTimeout, match="within 5 s"):
                    await ami.request(
                        requests.originate(
                            "PJSIP/100", application="Playback", data="hello", wait=True
                        ),
                        timeout=5,
                    )

            nursery.start_soon(explicit)
            action = await server.expect("Originate")
            assert "Timeout" not in action
        assert trio.current_time() - start == pytest.approx(5.0)
        start = trio.current_time()
        with pytest.raises(ActionTimeout):
            await ami.originate("PJSIP/100", application="Playback", data="x", ring_timeout=60)
        assert trio.current_time() - start == pytest.approx(
            30.0, abs=0.05
        )  # without wait: action_timeout
        async with trio.open_nursery() as nursery:

            async def default_ring() -> None:
                with pytest.raises(ActionTimeout):
                    await ami.originate("PJSIP/100", application="Playback", data="x", wait=True)

            start = trio.current_time()
            nursery.start_soon(default_ring)
        assert trio.current_time() - start == pytest.approx(
            30.0 + 30.0, abs=0.05
        )  # Asterisk's 30 s ring


# -- subscriptions ----------------------------------------------------------------------------
async def test_a_subscribe_cancelled_at_its_checkpoint_registers_nothing(
    autojump_clock: MockClock,
) -> None:
    async with session() as (ami, _, _):
        with trio.CancelScope() as scope:
            scope.cancel()
            async with ami.subscribe("Hangup"):
                pytest.fail("the subscription was opened in a cancelled scope")
        assert ami.statistics().subscriptions == ()


async def test_a_closed_connection_refuses_new_work(autojump_clock: MockClock) -> None:
    async with session() as (ami, server, _):
        await server.close()
        await ami.wait_closed()
        with pytest.raises(ConnectionClosed):
            async with ami.subscribe():
                pass
        with pytest.raises(ConnectionClosed):
            async with ami.action_stream("CoreShowChannels"):
                pass


async def test_a_session_that_ends_right_after_the_login_is_had_then_lost(
    autojump_clock: MockClock,
) -> None:
    client, server = stream_pair()

    async def script() -> None:
        await server.greet()
        login = await server.expect("Login")
        await server.send(
            packet(("Response", "Success"), ("ActionID", login.action_id or "")),
            b"garbage without an end",
        )
        await server.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(script)
        ami = await trio_ami.wrap_ami_stream(
            nursery, client, username="a", secret="b", auth="plain"
        )
        await ami.wait_closed()
        assert ami.ending is Ending.PROTOCOL_ERROR
        assert "the stream ended inside a packet" in (ami.close_reason or "")


# -- what the reader meets, and what callers may not do ---------------------------------------
async def test_a_response_nobody_waits_for_is_counted_and_logged(
    autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with session() as (ami, server, _):
        await server.send(packet(("Response", "Success"), ("ActionID", "nobody-1")))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ami.ping)
            await server.answer(await server.expect("Ping"))
        assert ami.statistics().unexpected_messages == 1
    assert "unexpected AMI packet" in caplog.text


async def test_work_asked_for_while_closing_is_refused(autojump_clock: MockClock) -> None:
    async with session() as (ami, server, _):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ami.aclose)
            await server.expect("Logoff")
            with pytest.raises(ConnectionClosed, match="the AMI connection is closing"):
                await ami.ping()
            await server.send(
                packet(("Response", "Goodbye"), ("ActionID", server.received[-1].action_id or ""))
            )


async def test_a_peer_that_stops_reading_fails_queued_senders_when_the_link_breaks(
    autojump_clock: MockClock,
) -> None:
    async with session() as (ami, _, client):
        client.stop_reading()
        failures: list[ConnectionClosed] = []

        async def ping() -> None:
            try:
                await ami.ping()
            except ConnectionClosed as exc:
                failures.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ping)  # the writer takes it, and waits on the peer for ever
            await trio.testing.wait_all_tasks_blocked()
            for _ in range(1100):  # more than the send queue holds: some senders wait on it
                nursery.start_soon(ping)
            await trio.testing.wait_all_tasks_blocked()
            assert ami.statistics().waiting_actions == 1101
            nursery.start_soon(ami.aclose)  # its Logoff waits for room in the queue too
            await trio.testing.wait_all_tasks_blocked()
            client.break_now()
    assert len(failures) == 1101
    assert ami.ending is Ending.TRANSPORT_ERROR


async def test_helpers_send_what_asterisk_reads(autojump_clock: MockClock) -> None:
    async with session() as (ami, server, _):
        answers: dict[str, list[tuple[str, str]]] = {
            "GetConfig": [("Category-000000", "general"), ("Line-000000-000000", "a=1"),
                          ("Line-000001-000000", "orphan=1")],
            "Events": [("Events", "Off")],
        }  # fmt: skip

        async def serve() -> None:
            while True:
                action = await server.next_action()
                await server.answer(action, "Success", *answers.get(action["Action"], []))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            await ami.originate(
                "Local/100@test", application="Playback", data="hello",
                extra={"Variable": ["A=1", "B=2"]},
            )  # fmt: skip
            with pytest.raises(ValueError, match="either exten"):
                await ami.originate("Local/100@test")
            response = await ami.redirect("PJSIP/1-0001", "test", "200")
            assert response.name == "Success"
            assert await ami.get_config("sip.conf") == {"general": ["a=1"]}
            await ami.user_event("Wallboard", {"Queue": "sales"})
            await ami.user_event("Wallboard", [("Queue", "support")])
            await ami.events(False)
            await ami.events(["call", "system"])
            nursery.cancel_scope.cancel()
        sent = {action["Action"]: action for action in server.received}
        assert sent["Originate"].get_all("Variable") == ["A=1", "B=2"]
        assert sent["Redirect"]["Priority"] == "1"
        assert [a["Queue"] for a in server.received if a["Action"] == "UserEvent"] == [
            "sales",
            "support",
        ]
        assert [a["EventMask"] for a in server.received if a["Action"] == "Events"] == [
            "off",
            "call,system",
        ]
        with pytest.raises(TypeError, match="either in the Action or as arguments"):
            await ami.action(trio_ami.Action("Ping"), Data="x")


async def test_subscription_arguments_are_checked(autojump_clock: MockClock) -> None:
    async with session() as (ami, _, _):
        with pytest.raises(ValueError, match="buffer must be at least 1"):
            async with ami.subscribe(buffer=0):
                pass
        with pytest.raises(ValueError, match="overflow must be"):
            async with ami.subscribe(overflow="block"):  # type: ignore[arg-type]
                pass
        async with ami.subscribe() as events:
            with pytest.raises(ValueError, match="max_events must be at least 1"):
                await events.receive_batch(0)
            assert not events.closed
        assert events.closed
        assert ami.statistics().subscriptions == ()


async def test_a_connection_runs_as_one_task_started_in_a_nursery(
    autojump_clock: MockClock,
) -> None:
    client, server = stream_pair()
    ami = trio_ami.AMIConnection(client, trio_ami.Settings(auth="plain"), peer="pbx:5038")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.accept_login)
        await nursery.start(ami.run, "admin", "pw")  # returns once logged in
        assert ami.protocol.state is trio_ami.sansio.State.READY
        nursery.start_soon(server.answer_logoff)
        await ami.aclose()
    assert ami.ending is Ending.LOGGED_OFF
