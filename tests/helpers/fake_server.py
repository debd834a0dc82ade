"""A raw AMI client for testing :class:`~trio_ami.testing.FakeAMIServer`, a server to connect
it to, and the consistency rules of a simulated event stream.

The client writes actions built by the core (:class:`~trio_ami.sansio.Action`), or raw bytes,
and parses what comes back with the core's :class:`~trio_ami.sansio.PacketParser`, keeping
every byte received so tests can compare wire bytes too.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from trio_ami.sansio import Action, Event, Message, PacketParser, Response
from trio_ami.testing import FakeAMIServer

__all__ = ["DATA", "TIMEOUT", "Client", "Connect", "check_consistency", "serving"]

#: The recorded sessions of real Asterisk servers.
DATA = Path(__file__).resolve().parent.parent / "data"
#: How long a test waits for anything the server should send.
TIMEOUT = 5.0


class Client:
    """Sends raw action bytes, parses what comes back with PacketParser, keeps the raw bytes."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.parser = PacketParser()
        self.raw = bytearray()
        self.eof = False
        self.seen: list[Message] = []
        self._ids = 0

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def action(
        self,
        name: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        action_id: str | None = "auto",
    ) -> str | None:
        if action_id == "auto":
            self._ids += 1
            action_id = f"t-{self._ids}"
        await self.send(Action(name, headers, action_id).to_bytes())
        return action_id

    async def fill(self) -> None:
        """Read once more from the stream (parsed later by :meth:`next`)."""
        data = await self.stream.receive_some(65536)
        self.raw += data
        if not data:
            self.eof = True
        self.parser.receive_data(data)

    async def next(self) -> Message | None:
        """The next message, or None at the end of the stream."""
        with trio.fail_after(TIMEOUT):
            while True:
                message = self.parser.next_message()
                if message is not None:
                    self.seen.append(message)
                    return message
                if self.eof:
                    return None
                await self.fill()

    async def until(self, predicate: Callable[[Message], bool]) -> list[Message]:
        """Messages up to and including the first matching ``predicate``."""
        got: list[Message] = []
        while True:
            message = await self.next()
            assert message is not None, f"stream ended before the expected message: {got}"
            got.append(message)
            if predicate(message):
                return got

    async def response(self, action_id: str | None) -> Response:
        messages = await self.until(
            lambda m: isinstance(m, Response) and m.get("ActionID") == action_id
        )
        response = messages[-1]
        assert isinstance(response, Response)
        return response

    async def call(
        self, name: str, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()
    ) -> Response:
        return await self.response(await self.action(name, headers))

    async def event(self, name: str) -> Event:
        messages = await self.until(lambda m: isinstance(m, Event) and m.name == name)
        event = messages[-1]
        assert isinstance(event, Event)
        return event

    async def listing(
        self, name: str, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()
    ) -> tuple[Response, list[Event], Event]:
        action_id = await self.action(name, headers)
        response = await self.response(action_id)
        assert response.get("EventList") == "start", response
        items = await self.until(
            lambda m: m.get("ActionID") == action_id and m.get("EventList") == "Complete"
        )
        mine = [m for m in items if isinstance(m, Event) and m.get("ActionID") == action_id]
        return response, mine[:-1], mine[-1]

    async def rest(self) -> list[Message]:
        """Everything until the end of the stream (which must come)."""
        got = []
        while (message := await self.next()) is not None:
            got.append(message)
        return got

    async def quiet(self, seconds: float = 0.05) -> list[Message]:
        """What arrives within ``seconds`` (the stream may stay open)."""
        got = []
        with trio.move_on_after(seconds):
            while (message := await self.next()) is not None:
                got.append(message)
        return got

    async def login(
        self, username: str = "admin", secret: str = "secret", **extra: str
    ) -> Response:
        return await self.call("Login", {"Username": username, "Secret": secret, **extra})


Connect = Callable[..., Awaitable[Client]]


@asynccontextmanager
async def serving(
    server: FakeAMIServer | None = None, **kwargs: Any
) -> AsyncIterator[tuple[FakeAMIServer, Connect]]:
    """A server (one made of ``kwargs`` by default) listening on loopback, and ``connect()``
    that opens a raw :class:`Client` to it, read up to the banner and logged in (unless
    ``login=False``). Every client is closed on the way out."""
    if server is None:
        server = FakeAMIServer(users={"admin": "secret"}, **kwargs)
    clients: list[Client] = []
    async with server.listen_tcp() as (host, port):

        async def connect(*, login: bool = True, **extra: str) -> Client:
            client = Client(await trio.open_tcp_stream(host, port))
            clients.append(client)
            with trio.fail_after(TIMEOUT):
                while b"\n" not in client.raw:
                    await client.fill()
            if login:
                response = await client.login(**extra)
                assert response.name == "Success", response
            return client

        try:
            yield server, connect
        finally:
            for client in clients:
                await trio.aclose_forcefully(client.stream)


def check_consistency(events: Sequence[Message]) -> None:
    """Every Newchannel gets one Hangup, after it; dials, bridges balance out."""
    live: set[str] = set()
    created: Counter[str] = Counter()
    ended: Counter[str] = Counter()
    dials: Counter[str] = Counter()
    bridges: Counter[str] = Counter()
    members: Counter[str] = Counter()
    for event in events:
        name = event.name
        if name == "Newchannel":
            channel = event["Channel"]
            assert channel not in live
            live.add(channel)
            created[channel] += 1
            assert re.fullmatch(r"(PJSIP/\w+-[0-9a-f]{8}|Local/\S+-[0-9a-f]{8};[12])", channel)
            assert re.fullmatch(r"\d+\.\d+", event["Uniqueid"])
            assert re.fullmatch(r"\d+\.\d+", event["Linkedid"])
        elif name == "Hangup":
            channel = event["Channel"]
            assert channel in live, f"Hangup before Newchannel: {channel}"
            live.remove(channel)
            ended[channel] += 1
            assert event["Cause-txt"]
        elif name in ("Newstate", "Newexten", "VarSet", "HangupRequest", "SoftHangupRequest"):
            assert event["Channel"] in live, event
        elif name == "DialBegin":
            dials[event["DestChannel"]] += 1
        elif name == "DialEnd":
            dials[event["DestChannel"]] -= 1
        elif name == "BridgeCreate":
            bridges[event["BridgeUniqueid"]] += 1
        elif name == "BridgeDestroy":
            bridges[event["BridgeUniqueid"]] -= 1
        elif name == "BridgeEnter":
            members[event["Channel"]] += 1
        elif name == "BridgeLeave":
            members[event["Channel"]] -= 1
    assert not live
    assert created == ended
    assert all(v == 0 for v in dials.values())
    assert all(v == 0 for v in bridges.values())
    assert all(v == 0 for v in members.values())
