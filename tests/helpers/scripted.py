"""A scripted AMI server on an in-memory stream, and a client stream that breaks on demand.

The tests of the trio layer drive the server's side of the wire byte by byte, so that every
race (a loss while actions, lists and subscriptions wait; a break during login or logoff) is
reproduced exactly, and run under pytest-trio's ``autojump_clock`` so that timeouts take no
wall time.
"""

from __future__ import annotations

import trio
import trio.testing

from trio_ami.sansio import Message, PacketParser

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def packet(*headers: tuple[str, str]) -> bytes:
    """One packet: ``Key: Value`` lines and a blank line."""
    return b"".join(f"{key}: {value}\r\n".encode() for key, value in headers) + b"\r\n"


class BreakableStream(trio.abc.Stream):
    """Wraps a stream; :meth:`break_now` makes it fail as a reset socket would, waking a
    receive in progress, and :meth:`stop_reading` makes sends wait for ever (a peer that does
    not read)."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.error: OSError | None = None
        self.closed = False
        self._receiving: trio.CancelScope | None = None
        self._not_reading = False
        self._broken = trio.Event()

    def break_now(self, error: OSError | None = None) -> None:
        self.error = error or ConnectionResetError(104, "Connection reset by peer")
        if self._receiving is not None:
            self._receiving.cancel()
        self._broken.set()

    def stop_reading(self) -> None:
        self._not_reading = True

    def _raise_if_broken(self) -> None:
        if self.error is not None:
            raise trio.BrokenResourceError("the stream broke") from self.error

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        self._raise_if_broken()
        with trio.CancelScope() as self._receiving:
            return await self.inner.receive_some(max_bytes)
        self._raise_if_broken()
        raise AssertionError("unreachable: only break_now cancels a receive")  # pragma: no cover

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self._raise_if_broken()
        if self._not_reading:
            await self._broken.wait()  # a send to a peer that reads nothing waits until it breaks
            self._raise_if_broken()
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:  # pragma: no cover - unused
        await self.inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        self.closed = True
        await self.inner.aclose()


class ScriptedServer:
    """The server's end of an in-memory connection, played by the test."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._parser = PacketParser(expect_banner=False)
        self.received: list[Message] = []

    async def send(self, *data: bytes) -> None:
        await self.stream.send_all(b"".join(data))

    async def greet(self) -> None:
        await self.send(BANNER)

    async def next_action(self) -> Message:
        """The next packet the client sent (waiting for it)."""
        while True:
            message = self._parser.next_message()
            if message is not None:
                self.received.append(message)
                return message
            data = await self.stream.receive_some(65536)
            self._parser.receive_data(data)

    async def expect(self, name: str) -> Message:
        action = await self.next_action()
        assert action.get("Action", "").lower() == name.lower(), action
        return action

    async def answer(
        self, action: Message, status: str = "Success", *headers: tuple[str, str]
    ) -> None:
        await self.send(
            packet(("Response", status), ("ActionID", action.action_id or ""), *headers)
        )

    async def accept_login(self) -> Message:
        """Greet, and accept a plain login."""
        await self.greet()
        login = await self.expect("Login")
        await self.answer(login, "Success", ("Message", "Authentication accepted"))
        return login

    async def answer_logoff(self) -> None:
        logoff = await self.expect("Logoff")
        await self.answer(logoff, "Goodbye", ("Message", "Thanks for all the fish."))
        await self.stream.aclose()

    async def close(self) -> None:
        await self.stream.aclose()


def stream_pair() -> tuple[BreakableStream, ScriptedServer]:
    """A client stream that can break, and the scripted server at its other end."""
    client, server = trio.testing.memory_stream_pair()
    return BreakableStream(client), ScriptedServer(server)
