"""The faults a reconnecting client is tested against: a restart on the same port (keeping the
model or not), a black hole (a half-open link), refused logins, a list cut short. Over loopback
TCP, and over memory streams under the autojump clock where time matters."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from helpers.fake_server import Client, serving
from trio.testing import MockClock

from trio_ami.sansio import Event, Message, Response
from trio_ami.testing import FakeAMIServer, SimChannel
from trio_ami.testing._faults import Listening  # the piece itself is what is tested
from trio_ami.testing._wire import list_marker


def a_channel(name: str = "PJSIP/100-00000001") -> SimChannel:
    return SimChannel(name=name, uniqueid="1700000000.1", linkedid="1700000000.1", endpoint="100")


async def served(nursery: trio.Nursery, server: FakeAMIServer, *, login: bool = True) -> Client:
    """A client on a memory stream the server serves (in ``nursery``), read up to its banner
    and logged in, unless ``login=False`` (then nothing is read)."""
    client_end, server_end = trio.testing.memory_stream_pair()
    nursery.start_soon(server.serve_stream, server_end)
    client = Client(client_end)
    if login:
        await client.fill()
        assert (await client.login()).name == "Success"
    return client


async def silence(client: Client, seconds: float) -> bytes:
    """The bytes that arrive within ``seconds`` (the stream may stay open)."""
    before = len(client.raw)
    with trio.move_on_after(seconds):
        while not client.eof:
            await client.fill()
    return bytes(client.raw[before:])


def responses(messages: list[Message]) -> list[Message]:
    return [m for m in messages if isinstance(m, Response)]


# -- restart ---------------------------------------------------------------------------------------
async def test_restart_refuses_connections_then_listens_on_the_same_port() -> None:
    async with serving() as (server, connect):
        client = await connect()
        await client.call("Setvar", {"Variable": "KEPT", "Value": "yes"})
        server.pbx.add_channel(a_channel())
        assert isinstance(client.stream, trio.SocketStream)
        host, port = client.stream.socket.getpeername()[:2]
        assert server.listening
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: server.restart(delay=0.3))
            await server.wait_until(lambda: not server.listening)
            assert server.sessions == []
            # Events of the Setvar and the channel, then the end: no Goodbye.
            assert all(isinstance(m, Event) for m in await client.rest())
            with pytest.raises(OSError):
                await trio.open_tcp_stream(host, port)
            with trio.fail_after(5):  # a waiter wakes when the server listens again
                await server.wait_until(lambda: server.listening)
        assert server.listening and server.statistics().restarts == 1
        again = await connect()  # same host and port
        kept = await again.call("Getvar", {"Variable": "KEPT"})
        assert kept["Value"] == "yes"
        assert [c.name for c in server.live_channels()] == ["PJSIP/100-00000001"]


async def test_restart_without_the_state_forgets_calls_and_variables() -> None:
    async with serving() as (server, connect):
        server.commands["my command"] = "configured"
        client = await connect()
        await client.call("Setvar", {"Variable": "LOST", "Value": "yes"})
        server.pbx.add_channel(a_channel())
        server.pbx.count_call()
        await server.restart(keep_state=False)
        assert responses(await client.rest()) == []
        again = await connect()
        assert (await again.call("Getvar", {"Variable": "LOST"}))["Value"] == ""
        assert server.live_channels() == [] and server.pbx.calls_processed == 0
        assert server.uptime() == 0
        output = await again.call("Command", {"Command": "my command"})
        assert list(output.output) == ["configured"]  # the configuration stays
        _, items, _ = await again.listing("CoreShowChannels")
        assert items == []


async def test_restart_is_refused_a_negative_delay_and_ends_with_the_block() -> None:
    server = FakeAMIServer()
    with pytest.raises(ValueError, match="delay"):
        await server.restart(delay=-1)
    async with server.listen_tcp() as (host, port):
        pass
    assert not server.listening
    await server.restart()  # after the block: nothing to listen on again
    assert not server.listening and server.statistics().restarts == 1
    with pytest.raises(OSError):
        await trio.open_tcp_stream(host, port)


async def test_restart_over_memory_streams_closes_the_sessions(autojump_clock: MockClock) -> None:
    server = FakeAMIServer()
    async with trio.open_nursery() as nursery:
        client = await served(nursery, server)
        start = trio.current_time()
        await server.restart(delay=30)
        assert trio.current_time() - start == pytest.approx(30)
        assert server.sessions == [] and not server.listening
        assert responses(await client.rest()) == []


async def test_listening_sockets_close_and_open_again_on_the_same_port() -> None:
    async def serve(stream: trio.SocketStream) -> None:
        await stream.send_all(b"hello")
        await stream.aclose()

    idle = Listening(await trio.open_tcp_listeners(0, host="127.0.0.1"), serve)
    await idle.stop()  # never started: the sockets are closed all the same
    assert not idle.is_open
    with pytest.raises(OSError):
        await trio.open_tcp_stream(idle.host, idle.port)
    await idle.reopen()  # never started: nothing to accept in
    assert not idle.is_open

    listening = Listening(await trio.open_tcp_listeners(0, host="127.0.0.1"), serve)
    async with trio.open_nursery() as nursery:
        listening.start(nursery)
        for _ in range(2):
            stream = await trio.open_tcp_stream(listening.host, listening.port)
            assert await stream.receive_some() == b"hello"
            await stream.aclose()
            await listening.stop()
            await listening.stop()  # once is enough
            with pytest.raises(OSError):
                await trio.open_tcp_stream(listening.host, listening.port)
            await listening.reopen()
            await listening.reopen()  # open already
        await listening.aclose()
        await listening.reopen()  # closed for good
        assert not listening.is_open


# -- black hole ------------------------------------------------------------------------------------
async def test_a_black_hole_reads_and_writes_nothing_until_lifted(
    autojump_clock: MockClock,
) -> None:
    server = FakeAMIServer()
    async with trio.open_nursery() as nursery:
        client = await served(nursery, server)
        await client.event("SuccessfulAuth")
        server.black_hole()
        assert server.black_holed and server.sessions[0].black_holed
        await client.action("Ping", action_id="unread")
        server.push_event("UserEvent", {"UserEvent": "Queued"})
        assert await silence(client, 600) == b""  # ten minutes: no answer, no event, no close
        assert not client.eof
        assert [a["ActionID"] for a in server.received] == ["t-1"]  # the Ping is not read
        late = await served(nursery, server, login=False)
        with trio.move_on_after(60):
            await late.fill()
        assert late.raw == b""  # a client connecting meanwhile gets no banner

        server.lift_black_hole()
        assert not server.black_holed and not server.sessions[0].black_holed
        got = await client.until(lambda m: m.get("ActionID") == "unread")
        assert [m.name for m in got] == ["UserEvent", "Success"]  # queued output first
        await late.fill()
        assert late.raw.startswith(b"Asterisk Call Manager/")
        nursery.cancel_scope.cancel()


async def test_a_close_in_a_black_hole_reaches_the_client_when_lifted(
    autojump_clock: MockClock,
) -> None:
    server = FakeAMIServer()
    async with trio.open_nursery() as nursery:
        client = await served(nursery, server)
        [session] = server.sessions
        session.black_hole()  # this session only
        assert not server.black_holed
        other = await served(nursery, server)
        assert (await other.call("Ping")).name == "Success"
        session.close()
        assert await silence(client, 600) == b"" and not client.eof
        session.lift_black_hole()
        # What was written before the black hole; the other's SuccessfulAuth, queued in it,
        # was dropped by the close.
        assert [m.name for m in await client.rest()] == ["FullyBooted", "SuccessfulAuth"]
        server.lift_black_hole()  # nothing in a black hole: nothing happens
        nursery.cancel_scope.cancel()


async def test_a_session_finished_in_a_black_hole_reads_nothing_more(
    autojump_clock: MockClock,
) -> None:
    server = FakeAMIServer()
    async with trio.open_nursery() as nursery:
        client = await served(nursery, server)
        [session] = server.sessions
        session.black_hole()
        assert session.send_event("UserEvent", {"UserEvent": "Queued"})
        await client.action("Ping", action_id="never")
        assert await silence(client, 600) == b""
        session.finish()  # a graceful close: what is queued goes out first, once lifted
        session.lift_black_hole()
        names = [m.name for m in await client.rest()]
        assert names == ["FullyBooted", "SuccessfulAuth", "UserEvent"]
        assert [a["Action"] for a in session.received] == ["Login"]  # the Ping was never read


def test_list_marker_reads_one_whole_packet() -> None:
    assert list_marker(b"Response: Success\r\nEventList: Start\r\n\r\n") == "start"
    assert list_marker(b"Event: X\r\nEventList: Complete\r\n\r\n") == "complete"
    assert list_marker(b"Response: Success\r\n\r\n") == ""
    assert list_marker(b"Response: Success\r\nEventList: start") == ""  # not whole
    assert list_marker(b"x" * 300_000 + b"\r\n\r\n") == ""  # a line over the limits


async def test_a_black_hole_over_tcp_keeps_the_connection_open() -> None:
    async with serving() as (server, connect):
        client = await connect()
        await client.event("SuccessfulAuth")
        server.black_hole()
        await client.action("Ping", action_id="dead")
        assert await silence(client, 0.2) == b"" and not client.eof
        server.disconnect_all()  # closing in a black hole says nothing either
        assert await silence(client, 0.1) == b"" and not client.eof
        server.lift_black_hole()
        assert await client.rest() == []


async def test_the_server_stops_with_sessions_in_a_black_hole() -> None:
    server = FakeAMIServer()
    with trio.fail_after(5):
        async with server.listen_tcp() as (host, port):
            stream = await trio.open_tcp_stream(host, port)
            await server.wait_for_sessions(1, logged_in=False)
            server.black_hole()
            server.sessions[0].close()
    await stream.aclose()
    assert server.sessions == []


# -- refused logins --------------------------------------------------------------------------------
async def test_the_next_logins_are_refused_then_accepted() -> None:
    async with serving() as (server, connect):
        server.refuse_logins(2)
        for _ in range(2):
            client = await connect(login=False)
            refused = await client.login()
            assert (refused.name, refused["Message"]) == ("Error", "Authentication failed")
            assert await client.rest() == []  # and the connection closes
        client = await connect(login=False)
        assert (await client.login()).name == "Success"
        assert server.statistics().logins_refused == 2

        server.refuse_logins()
        md5 = await connect(login=False)
        challenge = await md5.call("Challenge", {"AuthType": "MD5"})
        assert challenge.name == "Success"
        assert (await md5.login(AuthType="MD5", Key="x"))["Message"] == "Authentication failed"
        server.refuse_logins(3)
        server.refuse_logins(0)  # accept again at once
        assert (await (await connect(login=False)).login()).name == "Success"
        with pytest.raises(ValueError, match="count"):
            server.refuse_logins(-1)
        assert server.statistics().logins_refused == 3


# -- lists cut short -------------------------------------------------------------------------------
async def read_list(client: Client, name: str) -> list[Message]:
    """Everything the client gets after asking for ``name``, until the stream ends."""
    await client.action(name, action_id="list")
    return [m for m in await client.rest() if m.get("ActionID") == "list"]


async def test_a_list_closes_after_k_items() -> None:
    async with serving() as (server, connect):
        for n in range(1, 5):
            server.pbx.add_channel(a_channel(f"PJSIP/100-0000000{n}"))
        client = await connect()
        server.close_mid_list(after=2)
        assert (await client.call("Ping")).name == "Success"  # not a list: the cut waits
        answer = await read_list(client, "CoreShowChannels")
        assert isinstance(answer[0], Response) and answer[0]["EventList"] == "start"
        assert [m["Channel"] for m in answer[1:]] == ["PJSIP/100-00000001", "PJSIP/100-00000002"]
        assert all(isinstance(m, Event) and m.name == "CoreShowChannel" for m in answer[1:])

        whole = await connect()  # once only
        _, items, complete = await whole.listing("CoreShowChannels")
        assert len(items) == 4 and complete["ListItems"] == "4"


@pytest.mark.parametrize(("after", "items"), [(0, 0), (1, 1), (99, 4)])
async def test_a_list_cut_keeps_at_most_k_items_and_never_its_end(after: int, items: int) -> None:
    async with serving() as (server, connect):
        for n in range(1, 5):
            server.pbx.add_channel(a_channel(f"PJSIP/100-0000000{n}"))
        client = await connect()
        server.close_mid_list(after)
        answer = await read_list(client, "Status")
        assert answer[0].get("EventList") == "start"
        assert [m.name for m in answer[1:]] == ["Status"] * items


async def test_a_list_cut_on_one_session_and_errors() -> None:
    async with serving() as (server, connect):
        cut, whole = await connect(), await connect()
        server.sessions[0].close_mid_list(1)
        assert (await cut.call("Getvar", {"Variable": "X"})).name == "Success"
        _, peers, _ = await whole.listing("SIPpeers")
        answer = await read_list(cut, "SIPpeers")
        assert len(peers) > 1 and [m.name for m in answer[1:]] == ["PeerEntry"]
        with pytest.raises(ValueError, match="after"):
            server.close_mid_list(-1)
        assert server.pending_list_cut() is None
