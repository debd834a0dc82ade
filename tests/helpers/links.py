"""A reconnecting client on scripted memory-stream servers: each connection attempt gets a new
server, played by the test, or fails as the test says.

Run under pytest-trio's ``autojump_clock``, backoff delays, keepalive deadlines and timeouts
take no wall time and happen at exact times.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

from helpers.scripted import BreakableStream, ScriptedServer, packet, stream_pair
from trio_ami import AMIConnectionError, Settings
from trio_ami.resilience import ReconnectingAMI, ReconnectPolicy
from trio_ami.sansio import Message

__all__ = ["SECRET", "Dialer", "answer", "event", "reconnecting", "serve_logins"]

#: The secret every scripted client logs in with (tests check that it never shows).
SECRET = "s3cr3t-never-shown"


def event(name: str, **headers: str) -> bytes:
    """One event packet."""
    return packet(("Event", name), *headers.items())


class Dialer:
    """The stream factory of a reconnecting client: each attempt gets a new scripted server
    (taken with :meth:`server`), or fails with ``AMIConnectionError`` while ``refusals`` is
    positive (nothing listens)."""

    def __init__(self, refusals: int = 0) -> None:
        self._send, self._receive = trio.open_memory_channel[ScriptedServer](100)
        #: When each attempt was made (trio time).
        self.attempts: list[float] = []
        self.refusals = refusals
        self.streams: list[BreakableStream] = []

    async def connect(self) -> trio.abc.Stream:
        self.attempts.append(trio.current_time())
        await trio.lowlevel.checkpoint()
        if self.refusals > 0:
            self.refusals -= 1
            raise AMIConnectionError("could not connect to pbx:5038: connection refused")
        client, server = stream_pair()
        self.streams.append(client)
        self._send.send_nowait(server)
        return client

    async def server(self) -> ScriptedServer:
        """The server of the next attempt that connects (waiting for it)."""
        return await self._receive.receive()

    def break_link(self) -> None:
        """Break the client's stream of the latest connection, as a reset."""
        self.streams[-1].break_now()


async def answer(server: ScriptedServer, name: str, *headers: tuple[str, str]) -> Message:
    """Wait for action ``name`` and answer it ``Success`` with ``headers``."""
    action = await server.expect(name)
    await server.answer(action, "Success", *headers)
    return action


async def serve_logins(dialer: Dialer, count: int) -> list[ScriptedServer]:
    """Accept the login of the next ``count`` connections."""
    servers = []
    for _ in range(count):
        server = await dialer.server()
        await server.accept_login()
        servers.append(server)
    return servers


@asynccontextmanager
async def reconnecting(
    *,
    policy: ReconnectPolicy | None = None,
    rng: Callable[[], float] = lambda: 0.0,
    dialer: Dialer | None = None,
    **options: Any,
) -> AsyncIterator[tuple[ReconnectingAMI, Dialer]]:
    """A running reconnecting client on a :class:`Dialer` (plain login, no jitter unless
    ``rng`` says otherwise); closed on the way out (an unanswered Logoff times out)."""
    dialer = dialer or Dialer()
    settings = Settings(**{"auth": "plain", "logoff_timeout": 0.5, **options})
    client = ReconnectingAMI(
        dialer.connect,
        username="admin",
        secret=SECRET,
        settings=settings,
        policy=policy,
        peer="pbx:5038",
        rng=rng,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        yield client, dialer
        await client.aclose()
