"""Collectors: AMI events into one Redis stream per server, each event once; actions out.

A collector holds a connection to each of its servers. Per server, two tasks share a bounded
buffer: the reader moves events from the AMI subscription into it, stamped with the time they
arrived; the writer appends them to Redis in batches, through one Lua script that claims each
packet (``SET NX PX``) before it appends it, so that redundant collectors append it once. When
Redis is out of reach, the writer retries with backoff while the buffer holds what arrives;
beyond its bound, events are dropped and counted (``overflowed``).

A third task, while the server's connection is up, takes action requests from the server's
request stream (consumer group ``collectors``) and sends them: each request is acknowledged as
soon as it is read, so that no action is ever sent twice.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, suppress
from functools import partial
from itertools import islice
from typing import Any, NoReturn, Protocol

import attrs
import coredis.exceptions
import trio

from ..resilience import LinkRestored
from ..sansio import (
    Action,
    ActionResult,
    ActionTimeout,
    AMIError,
    AuthenticationError,
    ConnectionClosed,
    Event,
    InvalidActionError,
    SubscriptionOverflow,
)
from ._entries import Keys, Reply, RequestEntry, check_server_name, encode_reply
from ._errors import MalformedEntry
from ._store import FAILED, LOST, Backoff, RedisClient, open_redis

__all__ = [
    "AMIServer",
    "AMISession",
    "Collector",
    "CollectorStatistics",
    "EventBatches",
    "ServerSource",
    "ServerStatistics",
]

log = logging.getLogger("trio_ami.redis")

#: The consumer group of the collectors on every request stream.
COLLECTORS = "collectors"

# KEYS: the stream, then one claim key per packet. ARGV: the window in ms (0: no claim), the
# stream's length, the server, the collector, then a packet and its time for each claim key.
# Returns how many were appended and how many were done with (appended, or claimed by another),
# and the error that stopped it, if one did. A script's writes stay when it fails, so a claim
# whose append failed is released: the retry must not take the event for a duplicate.
_APPEND = """
local window = tonumber(ARGV[1])
local appended = 0
for i = 2, #KEYS do
    local at = 5 + (i - 2) * 2
    local claimed = true
    if window ~= 0 then
        claimed = redis.pcall('SET', KEYS[i], '1', 'NX', 'PX', window)
        if type(claimed) == 'table' and claimed.err then
            return {appended, i - 2, claimed.err}
        end
    end
    if claimed then
        local added = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*',
            'packet', ARGV[at], 'server', ARGV[3], 'received', ARGV[at + 1],
            'collector', ARGV[4])
        if type(added) == 'table' and added.err then
            if window ~= 0 then
                redis.call('DEL', KEYS[i])
            end
            return {appended, i - 2, added.err}
        end
        appended = appended + 1
    end
end
return {appended, #KEYS - 1}
"""


class RefusedAppend(Exception):
    """Redis refused to append an event (out of memory, the key of another type...)."""


class EventBatches(Protocol):
    """What the collector reads events from: a :class:`~trio_ami.Subscription`, or a
    reconnecting client's, whose link markers say when the link is down."""

    async def receive_batch(self, max_events: int | None = None) -> Sequence[object]: ...


class AMISession(Protocol):
    """What the collector needs of an AMI session: a :class:`~trio_ami.AMIConnection`."""

    def subscribe(self, *names: str, buffer: int = ...) -> AbstractAsyncContextManager[Any]: ...

    async def action(
        self,
        action: Action,
        /,
        *,
        timeout: float | None = ...,
        check: bool = ...,
        complete_on: str | None = ...,
        outcome_event: str | None = ...,
        max_items: int | None = ...,
    ) -> ActionResult: ...


class ServerSource(Protocol):
    """A named server and how to open a session with it: the collector's pluggable side."""

    @property
    def name(self) -> str: ...

    def connect(self) -> AbstractAsyncContextManager[AMISession]: ...


@attrs.frozen
class AMIServer:
    """An Asterisk server, reached with the reconnecting client
    (:func:`trio_ami.resilience.open_reconnecting_ami`), or with :func:`trio_ami.open_ami` when
    ``reconnect`` is false (the collector then reconnects itself, with a plain backoff).

    ``name`` names it in Redis (its stream, its events' ``server``); ``options`` are those of
    :func:`~trio_ami.open_ami` (``auth``, ``tls``, timeouts...), and ``policy`` with
    ``reconnect``.
    """

    name: str = attrs.field(converter=check_server_name)
    host: str
    port: int | None = None
    username: str = "admin"
    secret: str = attrs.field(default="", repr=False)
    options: Mapping[str, Any] = attrs.field(factory=dict)
    reconnect: bool = True

    def connect(self) -> AbstractAsyncContextManager[AMISession]:
        from .._open import open_ami, open_reconnecting_ami

        opener = open_reconnecting_ami if self.reconnect else open_ami
        return opener(
            self.host, self.port, username=self.username, secret=self.secret, **self.options
        )


@attrs.frozen
class ServerStatistics:
    """A snapshot of one server's pipeline in a collector."""

    connected: bool
    #: Sessions opened with the server so far.
    connects: int
    #: Events received from the server.
    received: int
    #: Events this collector appended to the stream.
    appended: int
    #: Events another collector had claimed first (or repeated within the dedup window).
    duplicates: int
    #: Events dropped because the buffer was full (Redis out of reach for too long).
    overflowed: int
    #: Events waiting for Redis.
    buffered: int
    #: Redis commands that failed because Redis was out of reach (each retried).
    redis_errors: int
    #: Action requests sent to the server, and those that expired before they could be.
    actions: int
    expired: int
    #: Action requests that did not read as one (skipped).
    malformed: int
    #: Logins the server refused (each followed by ``refused_login_delay``).
    refused_logins: int = 0


@attrs.frozen
class CollectorStatistics:
    name: str
    servers: dict[str, ServerStatistics]


def _default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class Collector:
    """Collects the events of ``servers`` into Redis at ``redis_url`` and sends their actions.

    - ``events``: event names or glob patterns to collect (default: all).
    - ``maxlen``: about how many events each server's stream keeps (older ones are trimmed).
    - ``dedup_window``: seconds during which a packet already appended (by any collector) is
      not appended again; ``0`` turns the claim off (one collector per server). Two identical
      packets within the window are one event: Asterisk's ``timestampevents = yes`` makes them
      unique.
    - ``buffer``: how many events per server are held while Redis is out of reach.
    - ``batch``: at most how many events go to Redis in one call.
    - ``reconnect``: the first and the longest wait between attempts to reach a server (the
      reconnecting client has its own backoff: these apply when it gives up);
      ``refused_login_delay``: the wait after a refused login (trying again and again would only
      lock the account).

    Run it with ``await collector.run()`` (in a nursery: ``await nursery.start(collector.run)``
    returns once Redis answered and each server was tried once); it runs until cancelled.
    """

    def __init__(
        self,
        redis_url: str,
        servers: Sequence[ServerSource],
        *,
        events: Sequence[str] = (),
        name: str | None = None,
        maxlen: int = 100_000,
        dedup_window: float = 5.0,
        buffer: int = 10_000,
        batch: int = 200,
        keys: Keys | None = None,
        reconnect: tuple[float, float] = (0.1, 5.0),
        refused_login_delay: float = 60.0,
    ) -> None:
        if maxlen < 1 or buffer < 1 or batch < 1:
            raise ValueError("maxlen, buffer and batch must be at least 1")
        if dedup_window < 0:
            raise ValueError(f"dedup_window must not be negative, not {dedup_window}")
        names = [check_server_name(server.name) for server in servers]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"a collector needs servers with distinct names, not {names}")
        self.redis_url = redis_url
        self.name = check_server_name(name or _default_name())
        self.events = tuple(events)
        self.maxlen = maxlen
        self.dedup_window = dedup_window
        self.buffer = buffer
        self.batch = batch
        self.keys = keys or Keys()
        self.reconnect = reconnect
        self.refused_login_delay = refused_login_delay
        self._pipes = {server.name: _ServerPipe(self, server) for server in servers}

    def statistics(self) -> CollectorStatistics:
        return CollectorStatistics(
            self.name, {name: pipe.statistics() for name, pipe in self._pipes.items()}
        )

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Collect until cancelled. Raises :class:`RedisUnavailable` if Redis does not answer
        at the start; later losses of Redis or of a server are retried."""
        name = f"trio-ami-collector:{self.name}"
        async with (
            open_redis(self.redis_url, client_name=name) as client,
            trio.open_nursery() as nursery,
        ):
            script = client.register_script(_APPEND)
            async with trio.open_nursery() as starting:  # every server tried at once
                for pipe in self._pipes.values():
                    starting.start_soon(partial(nursery.start, pipe.run, client, script))
            task_status.started()
            await trio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover


class _ServerPipe:
    """One server's events and actions in one collector."""

    def __init__(self, collector: Collector, source: ServerSource) -> None:
        self.collector = collector
        self.source = source
        self.server = source.name
        self.waiting: deque[tuple[bytes, float]] = deque()
        self.wake = trio.Event()
        self.link_up = trio.Event()  # requests are taken only while the link is up
        self.connects = self.received = self.appended = self.duplicates = 0
        self.overflowed = self.redis_errors = self.actions = self.expired = self.malformed = 0
        self.refused_logins = 0

    @property
    def connected(self) -> bool:
        return self.link_up.is_set()

    def link_changed(self, up: bool) -> None:
        if up and not self.link_up.is_set():
            self.connects += 1
            self.link_up.set()
        elif not up and self.link_up.is_set():
            self.link_up = trio.Event()

    def statistics(self) -> ServerStatistics:
        return ServerStatistics(
            connected=self.connected,
            connects=self.connects,
            received=self.received,
            appended=self.appended,
            duplicates=self.duplicates,
            overflowed=self.overflowed,
            buffered=len(self.waiting),
            redis_errors=self.redis_errors,
            actions=self.actions,
            expired=self.expired,
            malformed=self.malformed,
            refused_logins=self.refused_logins,
        )

    async def run(
        self, client: RedisClient, script: Any, *, task_status: trio.TaskStatus[None]
    ) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.write, client, script)
            await self.connect_for_ever(client, task_status)

    # -- the AMI side ---------------------------------------------------------------------------
    async def connect_for_ever(
        self, client: RedisClient, task_status: trio.TaskStatus[None]
    ) -> None:
        backoff = Backoff(*self.collector.reconnect)
        started = False
        while True:
            failure: BaseException | None = None
            try:
                async with self.source.connect() as ami:
                    async with (
                        ami.subscribe(*self.collector.events) as subscription,
                        trio.open_nursery() as nursery,
                    ):
                        nursery.start_soon(self.first_link, ami)
                        nursery.start_soon(self.serve_actions, client, ami)
                        if not started:
                            with trio.move_on_after(self.collector.reconnect[1]):
                                await self.link_up.wait()
                            task_status.started()
                            started = True
                        backoff.reset()
                        await self.read(subscription)
                        nursery.cancel_scope.cancel()
            except (AMIError, OSError) as exc:
                failure = exc
            finally:
                self.link_changed(False)
            if not started:
                task_status.started()
                started = True
            where = f"collector {self.collector.name}: server {self.server}"
            if isinstance(failure, AuthenticationError):
                self.refused_logins += 1
                log.error("%s: %s", where, failure)
                await trio.sleep(self.collector.refused_login_delay)
            else:
                log.warning("%s: %s", where, failure or "the session ended")
                await backoff.wait()

    async def first_link(self, ami: AMISession) -> None:
        """The link is up once a reconnecting client is first connected (later, its markers
        say); a plain session is connected already."""
        wait_connected = getattr(ami, "wait_connected", None)
        if wait_connected is not None:
            await wait_connected()
        self.link_changed(True)

    async def read(self, subscription: EventBatches) -> None:
        """Move events into the buffer as they come, until the session ends."""
        limit = self.collector.buffer
        while True:
            try:
                batch = await subscription.receive_batch()
            except SubscriptionOverflow as overflow:
                self.overflowed += overflow.missed
                continue
            except trio.EndOfChannel:
                return
            now = time.time()
            for item in batch:
                if isinstance(item, Event):
                    self.received += 1
                    if len(self.waiting) < limit:
                        self.waiting.append((item.raw, now))
                    else:
                        self.overflowed += 1
                else:
                    self.link_changed(isinstance(item, LinkRestored))
            self.wake.set()

    # -- the Redis side -------------------------------------------------------------------------
    def redis_failed(self, error: Exception) -> None:
        """Count and log a failed command (it is retried)."""
        self.redis_errors += 1
        name = self.collector.name
        if isinstance(error, LOST):
            log.warning("collector %s: Redis out of reach: %s", name, error)
        else:
            log.error("collector %s: Redis refused a command: %r", name, error)

    async def write(self, client: RedisClient, script: Any) -> None:
        collector = self.collector
        keys = collector.keys
        stream = keys.events(self.server)
        # In milliseconds; "0" turns the claim off, so a window under 1 ms counts as 1.
        window = str(max(1, round(collector.dedup_window * 1000)) if collector.dedup_window else 0)
        head = [window, str(collector.maxlen), self.server, collector.name]
        backoff = Backoff()
        while True:
            while not self.waiting:
                self.wake = trio.Event()
                await self.wake.wait()
            batch = list(islice(self.waiting, collector.batch))
            claims = [keys.claim(self.server, packet) for packet, _ in batch]
            values: list[str | bytes] = list(head)
            for packet, received in batch:
                values += [packet, repr(received)]
            try:
                answer = await script(keys=[stream, *claims], args=values)
            except FAILED as exc:
                self.redis_failed(exc)
                await backoff.wait()
                continue
            appended, done = int(answer[0]), int(answer[1])
            for _ in range(done):
                self.waiting.popleft()
            self.appended += appended
            self.duplicates += done - appended
            if len(answer) > 2:  # Redis refused an append: the rest waits for the retry
                self.redis_failed(RefusedAppend(answer[2]))
                await backoff.wait()
            else:
                backoff.reset()

    # -- actions --------------------------------------------------------------------------------
    async def serve_actions(self, client: RedisClient, ami: AMISession) -> None:
        """Send the actions requested for this server, each at most once, until cancelled."""
        stream = self.collector.keys.requests(self.server)
        backoff = Backoff()
        grouped = False
        async with trio.open_nursery() as nursery:
            while True:
                await self.link_up.wait()  # a collector whose link is down leaves them to others
                try:
                    if not grouped:
                        await ensure_group(client, stream, COLLECTORS)
                        grouped = True
                    found = await client.xreadgroup(
                        COLLECTORS,
                        self.collector.name,
                        streams={stream: ">"},
                        count=10,
                        block=1000,
                    )
                    entries = (found or {}).get(stream.encode(), ())
                    if entries:
                        # Acknowledged before it is sent: never sent twice, whatever happens.
                        await client.xack(stream, COLLECTORS, [e.identifier for e in entries])
                        await client.xdel(stream, [e.identifier for e in entries])
                except coredis.exceptions.StreamConsumerGroupError:
                    grouped = False  # Redis restarted empty: make the group again
                    continue
                except FAILED as exc:
                    self.redis_failed(exc)
                    await backoff.wait()
                    continue
                backoff.reset()
                for entry in entries:
                    nursery.start_soon(self.perform, client, ami, entry.field_values)

    async def perform(
        self, client: RedisClient, ami: AMISession, fields: Mapping[Any, Any]
    ) -> None:
        try:
            request = RequestEntry.from_fields(fields)
        except MalformedEntry as exc:
            self.malformed += 1
            log.warning("collector %s: a bad action request skipped: %s", self.collector.name, exc)
            return
        remaining = request.deadline - time.time()
        if remaining <= 0:
            self.expired += 1  # its sender has given up: never sent late
            return
        self.actions += 1
        try:
            result = await ami.action(
                request.action,
                timeout=remaining,
                check=False,
                complete_on=request.complete_on,
                outcome_event=request.outcome_event,
                max_items=request.max_items,
            )
            reply = Reply(result=result)
        except ActionTimeout as exc:
            reply = Reply(failure="timeout", message=str(exc))
        except InvalidActionError as exc:
            reply = Reply(failure="invalid", message=str(exc))
        except ConnectionClosed as exc:
            reply = Reply(failure="lost", message=f"{exc}; the action may have been run")
        except AMIError as exc:
            reply = Reply(failure="unavailable", message=str(exc))
        await self.send_reply(client, request, encode_reply(reply))

    async def send_reply(self, client: RedisClient, request: RequestEntry, blob: bytes) -> None:
        key = self.collector.keys.reply(request.request_id)
        backoff = Backoff()
        with trio.move_on_at(trio.current_time() + request.deadline - time.time() + 1.0):
            while True:
                try:
                    await client.rpush(key, [blob])
                    await client.pexpire(key, 60_000)
                except FAILED as exc:
                    self.redis_failed(exc)
                    await backoff.wait()
                else:
                    return


async def ensure_group(client: RedisClient, stream: str, group: str) -> None:
    """Create ``group`` on ``stream`` (and the stream), reading from its start, if missing."""
    with suppress(coredis.exceptions.StreamDuplicateConsumerGroupError):
        await client.xgroup_create(stream, group, "0", mkstream=True)
