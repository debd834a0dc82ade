"""Faults a test injects (stalls, half packets, disconnects, garbage, slow writes, stuck
clients) and what a client may send (any chunking, other encodings)."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing
from helpers.fake_server import TIMEOUT, serving

from trio_ami.sansio import RemoteProtocolError


async def test_stall_and_close_mid_packet() -> None:
    async with serving() as (server, connect):
        client = await connect()
        server.stall("CoreShowChannels")
        await client.action("CoreShowChannels", action_id="never")
        assert (await client.call("Ping")).name == "Success"
        assert not any(m.get("ActionID") == "never" for m in client.seen)
        server.unstall("CoreShowChannels")
        assert (await client.call("CoreShowChannels"))["EventList"] == "start"

        server.sessions[0].stall("Ping")
        await client.action("Ping", action_id="p")
        await client.quiet(0.05)
        assert not any(m.get("ActionID") == "p" for m in client.seen)

        server.close_mid_packet("Getvar")
        await client.action("Getvar", {"Variable": "G"}, action_id="half")
        with pytest.raises(RemoteProtocolError):
            await client.rest()
        full = b"Response: Success\r\nActionID: half\r\nVariable: G\r\nValue: \r\n\r\n"
        assert client.raw.endswith(full[: len(full) // 2])


async def test_session_close_and_send_raw() -> None:
    async with serving() as (server, connect):
        client = await connect()
        [session] = server.sessions
        session.send_raw(b"Response: Success\r\nActionID: garbage")
        session.send_raw(b"\r\n\r\n")
        assert (await client.response("garbage")).name == "Success"
        session.send_raw(b"Event: Half\r\nChan")
        with trio.fail_after(TIMEOUT):
            while not client.raw.endswith(b"Chan"):
                await client.fill()
        session.close()
        assert session.closed
        with pytest.raises(RemoteProtocolError):
            await client.rest()
        await server.wait_until(lambda: not server.sessions)

        other = await connect()
        server.disconnect_all(reset=True)
        with pytest.raises((trio.BrokenResourceError, RemoteProtocolError, AssertionError)):
            assert await other.rest() == [] and False


async def test_slow_writes_are_chunked() -> None:
    async with serving() as (server, connect):
        client = await connect()
        server.write_chunk_size = 7  # shorthands for server.configure(...)
        server.write_delay = 0.002
        reads: list[int] = []
        original = client.stream.receive_some

        async def counting(max_bytes: int | None = None) -> bytes:
            data = await original(max_bytes)
            reads.append(len(data))
            return bytes(data)

        client.stream.receive_some = counting  # type: ignore[method-assign]
        start = trio.current_time()
        response = await client.call("Command", {"Command": "core show version"})
        assert response.output[0].startswith("Asterisk 22.10.1")
        assert max(reads) <= 7 * 2  # chunks may merge in the socket, never much
        assert len(reads) > 10
        assert trio.current_time() - start >= 0.002 * 10


async def test_slow_reader_is_disconnected_others_are_not() -> None:
    async with serving(session_queue_size=20) as (server, connect):
        await connect()  # logs in, then never reads again
        fast = await connect()
        slow_session, fast_session = server.sessions
        payload = "x" * 8000
        received = 0

        async def read_fast() -> None:
            nonlocal received
            while True:
                message = await fast.next()
                if message is None:
                    return
                received += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_fast)
            pushed = 0
            with trio.fail_after(10):
                while not slow_session.closed:
                    server.push_event("UserEvent", {"UserEvent": "Bulk", "Data": payload})
                    pushed += 1
                    await trio.sleep(0)
            assert slow_session.overflowed and server.statistics().overflow_disconnects == 1
            assert not fast_session.closed
            await fast.action("Ping", action_id="alive")
            await server.wait_until(lambda: received >= pushed)
            nursery.cancel_scope.cancel()
        assert fast_session in server.sessions


async def test_write_timeout_drops_a_stuck_client() -> None:
    async with serving(write_timeout=0.05) as (server, connect):
        await connect()  # never reads again
        [session] = server.sessions
        with trio.fail_after(TIMEOUT):
            while not session.closed:
                server.push_event("UserEvent", {"Pad": "x" * 60_000})
                await trio.sleep(0.001)
        assert server.statistics().write_timeouts == 1 and not session.overflowed


async def test_push_event_async_waits_instead_of_dropping() -> None:
    async with serving(session_queue_size=3) as (server, connect):
        client = await connect()
        await client.event("SuccessfulAuth")
        [session] = server.sessions
        count = 0

        async def read_slowly() -> None:
            nonlocal count
            while count < 300:
                if (await client.next()) is not None:
                    count += 1
                if count % 50 == 0:
                    await trio.sleep(0.01)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_slowly)
            for n in range(300):
                assert await server.push_event_async("UserEvent", {"N": str(n), "Pad": "x" * 4000})
        assert count == 300 and not session.closed
        assert server.statistics().overflow_disconnects == 0
        assert [m["N"] for m in client.seen[-300:]] == [str(n) for n in range(300)]


ACTIONS = (
    b"Action: Login\r\nActionID: 1\r\nUsername: admin\r\nSecret: secret\r\n\r\n"
    b"Action: Ping\nActionID: 2\n\n"  # bare LF line ends are accepted
    b"Action: Getvar\r\nActionID: 3\r\nVariable: NAME\r\n\r\n"
    b"Action: UserEvent\r\nActionID: 4\r\nUserEvent: Caf\xc3\xa9\r\nWho: Zo\xc3\xab\r\n\r\n"
    b"Action: Logoff\r\nActionID: 5\r\n\r\n"
)


def _chunkings() -> list[list[bytes]]:
    bytewise = [ACTIONS[i : i + 1] for i in range(len(ACTIONS))]
    out = [[ACTIONS], bytewise]
    for seed in range(3):
        rng = random.Random(seed)
        chunks, pos = [], 0
        while pos < len(ACTIONS):
            size = rng.randint(1, 23)
            chunks.append(ACTIONS[pos : pos + size])
            pos += size
        out.append(chunks)
    return out


async def test_any_chunking_of_client_input() -> None:
    async with serving() as (server, connect):
        server.pbx.global_vars["NAME"] = "Zoë"
        results = []
        for chunks in _chunkings():
            client = await connect(login=False)
            for chunk in chunks:
                await client.send(chunk)
            messages = await client.rest()
            results.append(
                [
                    (m.name, m.get("ActionID"), m.get("Value"), m.get("UserEvent"))
                    for m in messages
                    if m.name not in ("SuccessfulAuth",)
                ]
            )
        assert all(result == results[0] for result in results)
        assert ("UserEvent", "4", None, "Café") in results[0]
        assert ("Success", "3", "Zoë", None) in results[0]
        assert results[0][-1] == ("Goodbye", "5", None, None)


async def test_other_encodings() -> None:
    async with serving(encoding="latin-1") as (server, connect):
        client = await connect()
        server.push_event("Newchannel", {"CallerIDName": "José Müller"})
        await client.event("Newchannel")
        assert b"CallerIDName: Jos\xe9 M\xfcller\r\n" in client.raw
