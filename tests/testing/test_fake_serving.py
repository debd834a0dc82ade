"""Serving and scripting: handlers and canned replies, what a handler that raises does, serving
memory streams, the lifetime of listen_tcp, the wait helpers, settings."""

from __future__ import annotations

import sys

import attrs
import pytest
import trio
import trio.testing
from helpers.fake_server import Client, serving

from trio_ami.sansio import Event, Message
from trio_ami.testing import FakeAMIServer, FakeSession, HandlerResult

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup


async def test_handlers_and_canned_replies() -> None:
    async with serving(handler_errors="respond") as (server, connect):
        server.set_reply("Foo", {"Response": "Success", "Message": "x"})

        async def queue_status(session: FakeSession, action: Message) -> list[object]:
            await trio.sleep(0)
            return [
                [
                    ("Response", "Success"),
                    ("EventList", "start"),
                    ("Message", "Queue status will follow"),
                ],
                {"Event": "QueueParams", "Queue": "support"},
                Event("Event: QueueStatusComplete\nEventList: Complete\nListItems: 1"),
            ]

        server.set_handler("QueueStatus", queue_status)  # type: ignore[arg-type]
        server.set_handler(
            "Ping", lambda session, action: {"Response": "Success", "Ping": "Custom"}
        )
        server.set_handler("Explode", lambda session, action: {"Value": str(1 / 0)})
        server.set_reply("Raw", b"Response: Success\r\nMessage: raw\r\n\r\n")
        server.set_reply("Nothing", None)
        client = await connect()
        foo = await client.call("Foo")
        assert foo.headers == (("Response", "Success"), ("ActionID", "t-2"), ("Message", "x"))
        _, items, complete = await client.listing("QueueStatus")
        assert [(i.name, i["ActionID"]) for i in items] == [("QueueParams", "t-3")]
        assert complete["ListItems"] == "1"
        assert (await client.call("Ping"))["Ping"] == "Custom"
        boom = await client.call("Explode")
        assert boom.name == "Error" and "ZeroDivisionError" in boom["Message"]
        assert isinstance(server.handler_exceptions[0], ZeroDivisionError)
        await client.action("Raw", action_id="r")
        raw = await client.response(None)
        assert raw["Message"] == "raw"
        await client.action("Nothing")
        server.set_handler("Ping", None)
        pong = await client.call("Ping")
        assert pong["Ping"] == "Pong"
        assert server.received[-2]["Action"] == "Nothing"


async def test_serve_stream_on_memory_streams() -> None:
    server = FakeAMIServer(users={"admin": "secret"})
    client_end, server_end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_stream, server_end)
        client = Client(client_end)
        await client.login()
        await client.action("Originate", {"Channel": "PJSIP/1", "Application": "E", "Async": "1"})
        assert (await client.event("OriginateResponse"))["Response"] == "Success"
        await client.call("Logoff")
        assert await client.rest() == []
    assert server.sessions == []


async def test_listen_tcp_cleans_up_and_propagates_errors() -> None:
    server = FakeAMIServer()
    with pytest.raises(KeyError):
        async with server.listen_tcp() as (host, port):
            client = Client(await trio.open_tcp_stream(host, port))
            await client.login()
            assert len(server.sessions) == 1
            raise KeyError("boom")
    assert server.sessions == []
    try:
        assert [m.name for m in await client.rest()] == ["FullyBooted", "SuccessfulAuth"]
    finally:
        await client.stream.aclose()
    await server.wait_for_sessions(0)


async def test_listen_tcp_under_outer_cancellation() -> None:
    server = FakeAMIServer()
    with trio.move_on_after(0.05) as scope:
        async with server.listen_tcp() as (host, port):
            stream = await trio.open_tcp_stream(host, port)
            await trio.sleep(10)
    await stream.aclose()
    assert scope.cancelled_caught
    assert server.sessions == []


async def test_wait_helpers() -> None:
    async with serving() as (server, connect):
        async with trio.open_nursery() as nursery:

            async def later() -> None:
                client = await connect()
                await client.action("Ping")

            nursery.start_soon(later)
            await server.wait_for_sessions(1)
            ping = await server.wait_for_action("Ping")
            assert ping["ActionID"] == "t-2"


# -- a handler that raises ------------------------------------------------------------------------
def explode(session: FakeSession, action: Message) -> HandlerResult:
    return {"Value": str(1 / 0)}


async def test_a_handler_that_raises_fails_the_test_by_default() -> None:
    server = FakeAMIServer()
    server.set_handler("Explode", explode)
    with pytest.raises(ZeroDivisionError):
        async with serving(server) as (_, connect):
            client = await connect()
            boom = await client.call("Explode")
            # Meanwhile the client is answered, and the session goes on.
            assert boom.name == "Error" and "ZeroDivisionError" in boom["Message"]
            assert (await client.call("Ping")).name == "Success"
    assert [type(exc) for exc in server.handler_exceptions] == [ZeroDivisionError]


async def test_every_kind_of_user_code_that_raises_counts() -> None:
    server = FakeAMIServer(originate_outcome=lambda action: "sideways")

    async def slowly(session: FakeSession, action: Message) -> HandlerResult:
        await trio.sleep(0)
        raise KeyError("async")

    server.set_handler("Slowly", slowly)
    server.set_reply("Bad", 42)  # type: ignore[arg-type]  # not a reply
    with pytest.raises(ExceptionGroup) as caught:
        async with serving(server) as (_, connect):
            client = await connect()
            for name in ("Slowly", "Bad"):
                assert (await client.call(name)).name == "Error"
            answer = await client.call("Originate", {"Channel": "PJSIP/1", "Application": "E"})
            assert answer.name == "Error"
    assert [type(exc) for exc in caught.value.exceptions] == [KeyError, TypeError, ValueError]


async def test_the_blocks_own_error_wins_and_tells_of_the_handlers() -> None:
    server = FakeAMIServer()
    server.set_handler("Explode", explode)
    with pytest.raises(AssertionError) as caught:
        async with serving(server) as (_, connect):
            client = await connect()
            assert (await client.call("Explode")).name == "Success"
    if sys.version_info >= (3, 11):  # notes are new in 3.11
        assert "ZeroDivisionError" in "".join(caught.value.__notes__)
    async with serving(server):
        pass  # raised once: the next block starts clean


async def test_serve_stream_raises_a_handlers_error_when_the_session_ends() -> None:
    server = FakeAMIServer()
    server.set_handler("Explode", explode)
    client_end, server_end = trio.testing.memory_stream_pair()
    client = Client(client_end)
    with pytest.raises(ExceptionGroup) as caught:  # out of the nursery serve_stream ran in
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.serve_stream, server_end)
            await client.login()
            assert (await client.call("Explode")).name == "Error"
            await client.call("Logoff")
    assert caught.group_contains(ZeroDivisionError, depth=1)


async def test_handler_errors_respond_only_answers() -> None:
    async with serving(handler_errors="respond") as (server, connect):
        server.set_handler("Explode", explode)
        client = await connect()
        assert (await client.call("Explode")).name == "Error"
    assert [type(exc) for exc in server.handler_exceptions] == [ZeroDivisionError]


# -- settings -------------------------------------------------------------------------------------
def test_settings_are_grouped_frozen_and_changed_as_a_whole() -> None:
    server = FakeAMIServer({"crm": "pw"}, ami_version="2.10.6", write_timeout=0.5, seed=1)
    settings = server.settings
    assert settings.flavour.command_is_legacy and settings.flavour.version == "13.38.3"
    assert dict(settings.login.users) == {"crm": "pw"}
    assert settings.output.write_timeout == 0.5
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        settings.output.write_delay = 1.0  # type: ignore[misc]
    server.configure(write_delay=0.01, legacy_command=False)
    assert server.settings.output.write_delay == 0.01 and settings.output.write_delay == 0.0
    assert not server.settings.flavour.command_is_legacy
    server.write_chunk_size = 7  # the documented shorthands
    server.banner = b"nope\r\n"
    assert (server.write_chunk_size, server.settings.flavour.banner) == (7, b"nope\r\n")
    with pytest.raises(TypeError, match="no server setting"):
        server.configure(writ_delay=1)
    with pytest.raises(AttributeError):
        server.legacy_command = True  # type: ignore[attr-defined]  # no such attribute: loud
    with pytest.raises(ValueError, match="handler_errors"):
        FakeAMIServer(handler_errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="session_queue_size"):
        FakeAMIServer(session_queue_size=0)
    with pytest.raises(LookupError):
        FakeAMIServer(encoding="no-such-codec")
