"""An asyncio AMI client in a page: asyncio streams around trio_ami's sans-IO core.

    python docs/examples/asyncio_client.py HOST PORT USER SECRET

One reader task feeds the protocol and routes what it reports: a completed action to the future
its caller awaits (by ActionID), an event to the ``events`` queue. A cancelled or timed-out
action is forgotten, so its late answer is dropped instead of being misrouted. The typed helpers
(``originate``, ``command``, ``get_config``, ...) come from the core: ``request()`` sends any of
``trio_ami.sansio.requests``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any, TypeVar

from trio_ami.sansio import (
    Action,
    ActionAborted,
    ActionCompleted,
    ActionResult,
    AuthenticationError,
    BannerReceived,
    ClientProtocol,
    ConnectionClosed,
    ConnectionTerminated,
    Event,
    LoginFailed,
    LoginSucceeded,
    ProtocolItem,
    Request,
    State,
    requests,
)

T = TypeVar("T")


class AsyncioAMI:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self.proto = ClientProtocol()
        self.events: asyncio.Queue[Event | None] = asyncio.Queue()  # None: the session ended
        self._waiting: dict[str, asyncio.Future[ActionResult]] = {}
        loop = asyncio.get_running_loop()
        self._greeted: asyncio.Future[None] = loop.create_future()
        self._login: asyncio.Future[None] = loop.create_future()
        self.ended = asyncio.Event()
        self._task = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(cls, host: str, port: int, username: str, secret: str) -> AsyncioAMI:
        ami = cls(*await asyncio.open_connection(host, port))
        try:
            await ami._greeted  # the server speaks first
            ami._writer.write(ami.proto.login(username, secret, auth="md5", events=True))
            await ami._login
        except BaseException:
            await ami.aclose()
            raise
        return ami

    async def _read_loop(self) -> None:
        try:
            while self.proto.state not in (State.CLOSED, State.ERROR):
                try:
                    self.proto.receive_data(await self._reader.read(65536))
                except OSError as exc:
                    self.proto.connection_lost(exc)  # the transport broke: the protocol ends it
                self._writer.write(self.proto.data_to_send())  # the Login answering a Challenge
                for item in self.proto.take_items():
                    self._route(item)
        finally:
            self.ended.set()
            self.events.put_nowait(None)
            futures: list[asyncio.Future[Any]] = [self._greeted, self._login]
            ended = self.proto.terminated  # None if this task was cancelled first
            for future in [*futures, *self._waiting.values()]:
                if not future.done():
                    future.set_exception(
                        ended.closed_error("the session is over")
                        if ended
                        else ConnectionClosed("the connection is gone")
                    )

    def _route(self, item: ProtocolItem) -> None:
        if isinstance(item, Event):
            self.events.put_nowait(item)
        elif isinstance(item, (ActionCompleted, ActionAborted)):
            future = self._waiting.pop(item.action_id, None)
            if future is not None and not future.done():
                if isinstance(item, ActionCompleted):
                    future.set_result(item.result)
                else:
                    future.set_exception(item.error)
        elif isinstance(item, BannerReceived):
            self._greeted.set_result(None)
        elif isinstance(item, LoginSucceeded):
            self._login.set_result(None)
        elif isinstance(item, LoginFailed):
            self._login.set_exception(AuthenticationError(item.message))
        elif isinstance(item, ConnectionTerminated) and not self._login.done():
            self._login.set_exception(item.closed_error("could not log in"))

    async def action(
        self, name: str, headers: dict[str, str] | None = None, *, timeout: float | None = 30
    ) -> ActionResult:
        return await self._complete(*self.proto.send_action(Action(name, headers or {})), timeout)

    async def request(self, request: Request[T], *, timeout: float | None = 30) -> T:
        """Send one of the core's typed helpers; what it reads (``ActionFailed`` on failure)."""
        limit = None if timeout is None else timeout + request.extra_time
        return request.read(await self._complete(*request.send(self.proto), limit))

    async def _complete(self, action_id: str, data: bytes, timeout: float | None) -> ActionResult:
        future = self._waiting[action_id] = asyncio.get_running_loop().create_future()
        self._writer.write(data)
        try:
            return await asyncio.wait_for(future, timeout)
        except BaseException:  # timed out or cancelled: drop its late packets
            self._waiting.pop(action_id, None)
            self.proto.forget(action_id)
            raise

    async def aclose(self, timeout: float = 5) -> None:
        """Log off (when logged in), wait for the server to close, release everything."""
        if self.proto.state is State.READY:
            self._writer.write(self.proto.logoff())
        if self.proto.state is not State.LOGGING_OFF:
            self._task.cancel()
        try:
            await asyncio.wait_for(asyncio.gather(self._task, return_exceptions=True), timeout)
        finally:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()


async def main(host: str, port: int, username: str, secret: str) -> None:
    ami = await AsyncioAMI.connect(host, port, username, secret)
    try:
        pong = await ami.request(requests.ping())
        print(f"Ping: {pong.get('Ping')}")
        channels, uptime = await asyncio.gather(
            ami.action("CoreShowChannels"), ami.request(requests.command("core show uptime"))
        )
        print(f"channels: {len(channels.events)} (server counted {channels.expected_items})")
        for channel in channels.events:
            print(f"  {channel['Channel']} {channel.get('ChannelStateDesc', '')}")
        for line in uptime:
            print(f"| {line}")
        for category, lines in (await ami.request(requests.get_config("sip.conf"))).items():
            print(f"sip.conf [{category}]: {', '.join(lines)}")
        call = requests.originate("PJSIP/100", context="internal", exten="200", wait=True)
        outcome = (await ami.request(call)).outcome
        assert outcome is not None
        print(f"call: {outcome['Response']}, Uniqueid {outcome['Uniqueid']}")
    finally:
        await ami.aclose()
    names = []
    while (event := ami.events.get_nowait()) is not None:
        names.append(event.name)
    print(f"events: {', '.join(names)}")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: asyncio_client.py HOST PORT USER SECRET")
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))
