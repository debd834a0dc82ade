"""A pool of servers: a reconnecting client per named server, actions routed by name, and one
merged subscription whose items carry the name of their server.

Each server's client runs on its own: one that is down, or refuses the login, holds up no other
(its actions fail or wait by its own policy, its state says so); the merged stream goes on with
the others.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import trio

from ._markers import LinkLost, ResilientSubscription, SubscriptionItem
from ._open import group_outcome, reconnecting_client
from ._policy import ReconnectPolicy
from ._reconnect import LinkState, ReconnectingAMI, ReconnectStatistics
from ._settings import ConnectOptions, SubscribeOptions
from ._subscription import DEFAULT_BUFFER
from .sansio import (
    ActionResult,
    AMIError,
    AuthenticationError,
    ConnectionClosed,
    Ending,
    Request,
    SubscriptionOverflow,
)

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "AMIPool",
    "PoolEvent",
    "PoolSubscription",
    "ServerConfig",
    "ServerOverflow",
    "open_ami_pool",
]

T = TypeVar("T")


@attrs.frozen
class ServerConfig:
    """How to reach and log in to one server of a pool: what :func:`open_ami` takes. The
    secret is kept out of the ``repr``."""

    host: str
    port: int | None = attrs.field(default=None, kw_only=True)
    username: str = attrs.field(kw_only=True)
    secret: str = attrs.field(kw_only=True, repr=False)
    #: This server's policy (default: the pool's).
    policy: ReconnectPolicy | None = attrs.field(default=None, kw_only=True)
    #: The options of :func:`open_ami` (``tls``, ``auth``, ``events``, timeouts...).
    options: ConnectOptions = attrs.field(factory=ConnectOptions, kw_only=True)

    def client(self, name: str, policy: ReconnectPolicy | None) -> ReconnectingAMI:
        """A reconnecting client of this server, named ``name`` in logs and errors."""
        return reconnecting_client(
            self.host,
            self.port,
            username=self.username,
            secret=self.secret,
            policy=self.policy or policy,
            name=name,
            **self.options,
        )


@attrs.frozen
class PoolEvent:
    """An item of a pool's merged subscription: an event or a link marker, and its server."""

    server: str
    item: SubscriptionItem


class ServerOverflow(SubscriptionOverflow):
    """A subscriber of a pool fell behind on one server: ``missed`` of its events were lost."""

    def __init__(self, server: str, missed: int) -> None:
        super().__init__(missed)
        self.server = server
        self.args = (f"{server}: {self}",)


@attrs.frozen
class _Raise:
    """What the merged stream raises in its place: an overflow of one server."""

    error: ServerOverflow


class PoolSubscription(trio.abc.ReceiveChannel[PoolEvent]):
    """The events of every server of a pool, each with its server's name, in the order they
    arrive (each server's in its own order), with that server's link markers.

    Each server's part has the buffer and overflow policy given to ``subscribe()``; the merged
    stream holds ``buffer`` items more. An overflow raises :class:`ServerOverflow` (a
    :class:`SubscriptionOverflow` naming the server) and the iteration goes on. A server whose
    client gives up sends a last :class:`LinkLost` saying why (first, if it had given up before
    the subscription was opened). The iteration ends once every server's part has ended (the
    pool closed), or when it is closed.
    """

    def __init__(
        self,
        parts: Mapping[str, ResilientSubscription],
        buffer: int,
        gone: Mapping[str, AMIError] | None = None,
    ) -> None:
        self._parts = dict(parts)
        self._gone = dict(gone or {})  # servers whose client had given up already
        self._send, self._receive = trio.open_memory_channel[PoolEvent | _Raise](buffer)

    def start(self, nursery: trio.Nursery) -> None:
        """Start a task per server that moves its items into the merged stream, which ends
        once every one of them is done; a server that had given up says so first."""
        for server, failure in self._gone.items():
            nursery.start_soon(_send, self._send.clone(), _gave_up(server, failure), True)
        for server, part in self._parts.items():
            nursery.start_soon(self._pump, server, part, self._send.clone())
        self._send.close()

    async def _pump(
        self,
        server: str,
        part: ResilientSubscription,
        send: trio.MemorySendChannel[PoolEvent | _Raise],
    ) -> None:
        async with send:
            while True:
                try:
                    item: SubscriptionItem = await part.receive()
                except trio.EndOfChannel:
                    return
                except SubscriptionOverflow as exc:
                    await _send(send, _Raise(ServerOverflow(server, exc.missed)))
                    continue
                except AMIError as exc:  # its client gave up: its last word, the others go on
                    await _send(send, _gave_up(server, exc))
                    return
                if not await _send(send, PoolEvent(server, item)):
                    return

    async def receive(self) -> PoolEvent:
        """The next item of any server, with its server's name; :class:`ServerOverflow` when
        a server's part overflowed, ``trio.EndOfChannel`` once every part has ended."""
        item = await self._receive.receive()
        if isinstance(item, _Raise):
            raise item.error
        return item

    def close(self) -> None:
        for part in self._parts.values():
            part.close()
        self._receive.close()

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()

    @property
    def parts(self) -> Mapping[str, ResilientSubscription]:
        """Each server's part, by name (its ``statistics()``...)."""
        return self._parts


def _gave_up(server: str, failure: AMIError) -> PoolEvent:
    """The last word of a server whose client gave up: a :class:`LinkLost` saying why."""
    refused = isinstance(failure, AuthenticationError)
    closed = ConnectionClosed(
        f"{server}: {failure}", ending=Ending.LOGIN_REFUSED if refused else Ending.TRANSPORT_ERROR
    )
    closed.__cause__ = failure
    return PoolEvent(server, LinkLost(closed))


async def _send(
    send: trio.MemorySendChannel[PoolEvent | _Raise],
    item: PoolEvent | _Raise,
    last: bool = False,
) -> bool:
    """Send ``item`` (and close ``send`` if it is the ``last``); False once the merged stream
    is closed."""
    try:
        await send.send(item)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return False
    finally:
        if last:
            send.close()
    return True


class AMIPool(trio.abc.AsyncResource, Mapping[str, ReconnectingAMI]):
    """Reconnecting clients of several servers, by name (a mapping: ``pool["east"]`` is the
    client of the server named ``"east"``). :func:`open_ami_pool` makes and runs one; to run
    one yourself, ``await nursery.start(pool.run)``."""

    def __init__(self, clients: Mapping[str, ReconnectingAMI]) -> None:
        if not clients:
            raise ValueError("a pool needs at least one server")
        self._clients = dict(clients)
        self._nursery: trio.Nursery | None = None
        self._closing = trio.Event()
        self._done = trio.Event()

    # -- the mapping ----------------------------------------------------------------------------
    def __getitem__(self, server: str) -> ReconnectingAMI:
        try:
            return self._clients[server]
        except KeyError:
            known = ", ".join(sorted(self._clients))
            raise KeyError(f"no server named {server!r} in the pool (servers: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._clients)

    def __len__(self) -> int:
        return len(self._clients)

    def client(self, server: str) -> ReconnectingAMI:
        """The client of ``server`` (``pool[server]``)."""
        return self[server]

    # -- state ----------------------------------------------------------------------------------
    def states(self) -> dict[str, LinkState]:
        """Each server's state: ``"connected"``, ``"reconnecting"``, ``"failed"``..."""
        return {name: client.state for name, client in self._clients.items()}

    def statistics(self) -> dict[str, ReconnectStatistics]:
        return {name: client.statistics() for name, client in self._clients.items()}

    async def wait_connected(self, *servers: str) -> None:
        """Wait until the servers named (every server by default) are connected; raises the
        :class:`ConnectionClosed` of the first that gives up or is closed meanwhile."""
        for name in servers or tuple(self._clients):
            await self[name].wait_connected()

    # -- actions --------------------------------------------------------------------------------
    async def action(self, server: str, *args: Any, **kwargs: Any) -> ActionResult:
        """``action()`` on the client of ``server``: ``await pool.action("east", "Ping")``."""
        return await self[server].action(*args, **kwargs)

    async def request(self, server: str, request: Request[T], **kwargs: Any) -> T:
        """``request()`` on the client of ``server``."""
        return await self[server].request(request, **kwargs)

    # -- subscriptions --------------------------------------------------------------------------
    @asynccontextmanager
    async def subscribe(
        self,
        *names: str,
        servers: tuple[str, ...] | None = None,
        merged_buffer: int = DEFAULT_BUFFER,
        **options: Unpack[SubscribeOptions],
    ) -> AsyncIterator[PoolSubscription]:
        """Receive the matching events of every server (or of ``servers``), merged, each a
        :class:`PoolEvent` naming its server::

            async with pool.subscribe("Hangup") as events:
                async for tagged in events:
                    print(tagged.server, tagged.item)

        ``names`` and ``options`` are those of ``subscribe()`` on each server's client."""
        nursery = self._nursery
        if nursery is None or self._closing.is_set():
            raise ConnectionClosed("the AMI pool is not running")
        parts: dict[str, ResilientSubscription] = {}
        gone: dict[str, AMIError] = {}
        for name in servers if servers is not None else tuple(self._clients):
            client = self[name]
            if client.failure is not None:  # gave up: the others go on without it
                gone[name] = client.failure
            else:
                parts[name] = client.open_subscription(*names, **options)
        subscription = PoolSubscription(parts, merged_buffer, gone)
        subscription.start(nursery)
        try:
            await trio.lowlevel.checkpoint()
            yield subscription
        finally:
            subscription.close()

    # -- the task -------------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every server's client until :meth:`aclose`. Reports started at once, before any
        connection: see :meth:`wait_connected` and :meth:`states`."""
        try:
            async with trio.open_nursery() as nursery:
                for client in self._clients.values():
                    await nursery.start(client.run)
                self._nursery = nursery
                task_status.started()
                await self._closing.wait()
                for client in self._clients.values():
                    nursery.start_soon(client.aclose)  # they log off side by side
        finally:
            self._nursery = None
            self._done.set()

    async def aclose(self) -> None:
        """Log off from every server and stop."""
        with trio.CancelScope(shield=True):
            self._closing.set()
            if self._nursery is not None:
                await self._done.wait()
            else:
                for client in self._clients.values():
                    await client.aclose()


@asynccontextmanager
async def open_ami_pool(
    servers: Mapping[str, ServerConfig], *, policy: ReconnectPolicy | None = None
) -> AsyncIterator[AMIPool]:
    """A reconnecting client for each named server, for the life of the block::

        servers = {
            "east": ServerConfig("pbx-east.example.com", username="admin", secret="..."),
            "west": ServerConfig("pbx-west.example.com", username="admin", secret="..."),
        }
        async with open_ami_pool(servers) as pool:
            await pool["east"].ping()
            async with pool.subscribe("Hangup") as events:
                async for tagged in events:
                    print(tagged.server, tagged.item)

    The block starts at once; each server connects, and reconnects, on its own (``policy`` is
    the default of those that set none). A server that gives up ends nothing else: its state
    says ``"failed"``. Leaving the block logs off from every server; the block's own errors
    come out as they are, and no exception group is added.
    """
    pool = AMIPool({name: config.client(name, policy) for name, config in servers.items()})
    error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(pool.run)
            try:
                yield pool
            except BaseException as exc:
                error = exc
            await pool.aclose()
    except BaseExceptionGroup as group:
        error = group_outcome(group, error)
    if error is not None:
        raise error
