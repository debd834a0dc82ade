"""Workers: the servers' events through a consumer group, each handled once; actions back.

A worker reads the streams of its servers through a consumer group: Redis gives each event to
one worker of the group. ``async for event in worker`` acknowledges an event when the loop's
body returns for it (that is, when the next one is asked for); an event whose worker died
before that stays pending, and after ``claim_idle`` seconds another worker of the group takes
it over (``XAUTOCLAIM``) and handles it again: every event is handled at least once, and
exactly once while no worker dies.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from functools import cached_property
from typing import Any, NoReturn, TypeVar

import attrs
import coredis.exceptions
import trio
from coredis.response.types import StreamPending

from .._helpers import TypedHelpers, build_action
from ..sansio import (
    Action,
    ActionFailed,
    ActionResult,
    ActionTimeout,
    Event,
    Headers,
    HeaderValue,
    InvalidActionError,
    Request,
)
from ._collector import COLLECTORS, ensure_group
from ._entries import EventEntry, Keys, RequestEntry, check_server_name, decode_reply
from ._errors import MalformedEntry, RedisUnavailable, ScaleOutError, ServerUnavailable
from ._store import FAILED, LOST, Backoff, RedisClient, open_redis

__all__ = ["RemoteServer", "StreamEvent", "Worker", "WorkerStatistics", "open_worker"]

log = logging.getLogger("trio_ami.redis")

T = TypeVar("T")

#: Seconds an action through a collector may take, unless told otherwise.
DEFAULT_ACTION_TIMEOUT = 30.0


@attrs.define(eq=False)
class StreamEvent:
    """One event from a server's stream, as a worker got it."""

    server: str
    #: The entry's ID in the server's stream (its order there).
    entry_id: str
    #: The packet as Asterisk sent it, byte for byte (without its terminating blank line).
    packet: bytes
    #: When the collector received it (seconds since the epoch), and which collector it was.
    received: float
    collector: str
    #: Whether it was taken over from a worker that did not acknowledge it.
    reclaimed: bool
    _acknowledge: Callable[[StreamEvent], None] = attrs.field(repr=False)
    acknowledged: bool = False

    @cached_property
    def event(self) -> Event:
        """The packet as a :class:`~trio_ami.Event`."""
        return Event(self.packet)

    @property
    def name(self) -> str:
        return self.event.name

    def ack(self) -> None:
        """Acknowledge it now (the worker tells Redis before its next read)."""
        if not self.acknowledged:
            self.acknowledged = True
            self._acknowledge(self)


@attrs.frozen
class WorkerStatistics:
    """A snapshot of one worker."""

    #: Events handed to the handler.
    delivered: int
    #: Events acknowledged in Redis.
    acknowledged: int
    #: Events this worker holds and has not acknowledged yet.
    pending: int
    #: Events taken over from workers that did not acknowledge them in ``claim_idle``.
    reclaimed: int
    #: Entries that did not read as events (skipped, acknowledged and logged).
    malformed: int
    #: Pending entries trimmed from their stream before anyone handled them.
    trimmed: int
    #: Redis commands that failed because Redis was out of reach (each retried).
    redis_errors: int


def _default_consumer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class Worker:
    """Reads the events of ``servers`` through consumer group ``group``: use
    :func:`open_worker`, which opens Redis and makes the groups."""

    def __init__(
        self,
        client: RedisClient,
        servers: Sequence[str],
        *,
        group: str = "workers",
        consumer: str | None = None,
        batch: int = 100,
        block: float = 1.0,
        claim_idle: float = 30.0,
        keys: Keys | None = None,
        action_timeout: float = 30.0,
    ) -> None:
        names = [check_server_name(server) for server in servers]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"a worker needs distinct server names, not {names}")
        if batch < 1 or block <= 0 or claim_idle <= 0:
            raise ValueError("batch, block and claim_idle must be positive")
        self.client = client
        self.keys = keys or Keys()
        self.group = check_server_name(group)
        self.consumer = check_server_name(consumer or _default_consumer())
        self.batch = batch
        self.block = block
        self.claim_idle = claim_idle
        self.action_timeout = action_timeout
        self._streams = {self.keys.events(name): name for name in names}
        self._ready: deque[StreamEvent] = deque()
        self._current: StreamEvent | None = None
        self._acks: dict[str, list[str]] = {}
        self._unacked = 0
        self._groups_missing = False
        self._own_read = False  # this consumer's own pending entries, read once at the start
        self._cursors = dict.fromkeys(self._streams, "0-0")
        self._next_claim = 0.0
        self.delivered = self.acknowledged = self.reclaimed = 0
        self.malformed = self.trimmed = self.redis_errors = 0

    @property
    def servers(self) -> list[str]:
        return list(self._streams.values())

    async def create_groups(self) -> None:
        """Make the group on every stream, reading from its start, if it is not there."""
        for stream in self._streams:
            await ensure_group(self.client, stream, self.group)

    def statistics(self) -> WorkerStatistics:
        return WorkerStatistics(
            delivered=self.delivered,
            acknowledged=self.acknowledged,
            pending=self._unacked,
            reclaimed=self.reclaimed,
            malformed=self.malformed,
            trimmed=self.trimmed,
            redis_errors=self.redis_errors,
        )

    async def pending(self) -> dict[str, int]:
        """How many events each server's stream has that the group has not acknowledged (those
        delivered to some worker and not acknowledged yet)."""
        counts = {}
        for stream, server in self._streams.items():
            summary = await self.client.xpending(stream, self.group)
            assert isinstance(summary, StreamPending)
            counts[server] = summary.pending
        return counts

    def server(self, name: str) -> RemoteServer:
        """Send actions to server ``name`` through a collector holding its connection."""
        return RemoteServer(self.client, name, keys=self.keys, action_timeout=self.action_timeout)

    # -- iteration ------------------------------------------------------------------------------
    def __aiter__(self) -> Worker:
        return self

    async def __anext__(self) -> StreamEvent:
        """The next event; the one before it, whose handling is over, is acknowledged."""
        if self._current is not None:
            self._current.ack()
            self._current = None
        while not self._ready:
            await self._fill()
        event = self._current = self._ready.popleft()
        self.delivered += 1
        return event

    async def serve(self, handler: Callable[[StreamEvent], Awaitable[object]]) -> NoReturn:
        """Hand every event to ``handler`` and acknowledge it once ``handler`` returns. An
        exception out of ``handler`` ends the loop, the event unacknowledged (another worker
        takes it over after ``claim_idle``)."""
        async for event in self:
            await handler(event)
        raise AssertionError("unreachable")  # pragma: no cover

    def _acknowledge(self, event: StreamEvent) -> None:
        stream = self.keys.events(event.server)
        self._acks.setdefault(stream, []).append(event.entry_id)

    async def flush(self) -> None:
        """Tell Redis about the events acknowledged so far."""
        while self._acks:
            stream, ids = next(iter(self._acks.items()))
            await self.client.xack(stream, self.group, ids)
            del self._acks[stream]
            self.acknowledged += len(ids)
            self._unacked -= len(ids)

    async def _fill(self) -> None:
        backoff = Backoff()
        while True:
            try:
                if self._groups_missing:
                    await self.create_groups()
                    self._groups_missing = False
                await self.flush()
                if trio.current_time() >= self._next_claim:
                    self._next_claim = trio.current_time() + self.claim_idle / 2
                    await self._reclaim()
                    if self._ready:
                        return
                if not self._own_read:
                    await self._read("0")  # what this consumer held before a restart
                    self._own_read = True
                    if self._ready:
                        return
                await self._read(">")
            except coredis.exceptions.StreamConsumerGroupError:
                self._groups_missing = True  # Redis restarted empty
            except FAILED as exc:
                self._redis_failed(exc)
                await backoff.wait()
            else:
                return

    def _redis_failed(self, error: Exception) -> None:
        self.redis_errors += 1
        if isinstance(error, LOST):
            log.warning("worker %s: Redis out of reach: %s", self.consumer, error)
        else:
            log.error("worker %s: Redis refused a command: %r", self.consumer, error)

    async def _read(self, position: str) -> None:
        found = await self.client.xreadgroup(
            self.group,
            self.consumer,
            streams=dict.fromkeys(self._streams, position),
            count=self.batch,
            block=None if position == "0" else round(self.block * 1000),
        )
        for stream, entries in (found or {}).items():
            self._take(stream.decode(), entries, reclaimed=False)

    def _take(self, stream: str, entries: Sequence[Any], *, reclaimed: bool) -> None:
        server = self._streams[stream]
        for entry in entries:
            entry_id = entry.identifier.decode()
            self._unacked += 1
            try:
                fields = EventEntry.from_fields(entry.field_values, server)
            except MalformedEntry as exc:
                if not entry.field_values:
                    self.trimmed += 1
                else:
                    self.malformed += 1
                    log.warning(
                        "worker %s: %s entry %s skipped: %s", self.consumer, server, entry_id, exc
                    )
                self._acks.setdefault(stream, []).append(entry_id)
                continue
            self._ready.append(
                StreamEvent(
                    server,
                    entry_id,
                    fields.packet,
                    fields.received,
                    fields.collector,
                    reclaimed,
                    self._acknowledge,
                )
            )
            if reclaimed:
                self.reclaimed += 1

    async def _reclaim(self) -> None:
        """Take over the events other workers have held for ``claim_idle`` without
        acknowledging them."""
        for stream in self._streams:
            answer = await self.client.xautoclaim(
                stream,
                self.group,
                self.consumer,
                min_idle_time=round(self.claim_idle * 1000),
                start=self._cursors[stream],
                count=self.batch,
            )
            cursor, entries = answer[0], answer[1]
            self._cursors[stream] = cursor.decode()
            if len(answer) > 2:
                self.trimmed += len(answer[2])
            self._take(stream, entries, reclaimed=True)


@asynccontextmanager
async def open_worker(
    redis_url: str, servers: Sequence[str], **options: Any
) -> AsyncIterator[Worker]:
    """A :class:`Worker` of ``servers``' events, on Redis at ``redis_url``::

        async with open_worker("redis://localhost", ["pbx1", "pbx2"]) as worker:
            async for event in worker:
                print(event.server, event.name)

    ``options``: ``group`` (``"workers"``), ``consumer`` (a unique name by default: host,
    process, random), ``batch`` (events taken per read, 100: keep ``batch`` times the handler's time
    well under ``claim_idle``), ``block`` (seconds a read waits), ``claim_idle`` (seconds an
    unacknowledged event waits before another worker takes it over), ``action_timeout`` and
    ``keys``. Raises :class:`RedisUnavailable` if Redis does not answer.
    """
    consumer = options.pop("consumer", None) or _default_consumer()
    async with open_redis(redis_url, client_name=f"trio-ami-worker:{consumer}") as client:
        worker = Worker(client, servers, consumer=consumer, **options)
        try:
            await worker.create_groups()
        except LOST as exc:
            raise RedisUnavailable(f"Redis was lost while starting: {exc}") from exc
        except FAILED as exc:
            raise ScaleOutError(f"Redis refused the consumer group: {exc}") from exc
        try:
            yield worker
        finally:
            # Unless Redis is gone: then the events stay pending, for another worker.
            with trio.CancelScope(shield=True), trio.move_on_after(2.0), suppress(*FAILED):
                await worker.flush()


class RemoteServer(TypedHelpers):
    """Server ``name``, reached through a collector: ``action()`` and every typed helper of
    :class:`~trio_ami.AMIConnection` (``ping``, ``originate``...).

    An action is sent at most once: if no collector answers within its timeout, it raises
    :class:`~trio_ami.ActionTimeout` and is never resent (a collector drops a request whose
    deadline has passed).
    """

    def __init__(
        self,
        client: RedisClient,
        name: str,
        *,
        keys: Keys | None = None,
        action_timeout: float = 30.0,
    ) -> None:
        self.client = client
        self.name = check_server_name(name)
        self.keys = keys or Keys()
        self.action_timeout: float | None = action_timeout
        self._grouped = False

    async def action(
        self,
        action: str | Action,
        headers: Headers | None = None,
        /,
        *,
        timeout: float | None = -1.0,
        check: bool = True,
        complete_on: str | None = None,
        outcome_event: str | None = None,
        max_items: int | None = None,
        **fields: HeaderValue,
    ) -> ActionResult:
        """Send an action as :meth:`AMIConnection.action` does, through a collector.

        Raises :class:`ActionTimeout` after ``timeout`` seconds (default: ``action_timeout``),
        :class:`ServerUnavailable` when the collector could not send it (or lost the
        connection after sending it), :class:`ActionFailed` when it failed (unless
        ``check=False``) and :class:`RedisUnavailable` when Redis is lost while requesting.
        ``timeout=None`` means the default: a collector needs a deadline. A call cancelled
        after its request went out may still see the action sent, before its deadline.
        """
        act = build_action(action, headers, fields)
        limit = self._deadline(timeout)
        request = RequestEntry(
            secrets.token_hex(16),
            act,
            time.time() + limit,
            outcome_event=outcome_event,
            complete_on=complete_on,
            max_items=max_items,
        )
        stream = self.keys.requests(self.name)
        try:
            if not self._grouped:
                await ensure_group(self.client, stream, COLLECTORS)
                self._grouped = True
            await self.client.xadd(
                stream,
                request.fields(),
                trim_strategy=coredis.PureToken.MAXLEN,
                threshold=10_000,
                trim_operator=coredis.PureToken.APPROXIMATELY,
            )
            # A grace second past the deadline, for the collector's own timeout reply.
            answer = await self.client.blpop([self.keys.reply(request.request_id)], limit + 1.0)
        except FAILED as exc:
            raise RedisUnavailable(
                f"Redis failed while requesting {act.name} of {self.name}: it may have been "
                f"sent, and is not sent again ({exc})"
            ) from exc
        if answer is None:
            raise ActionTimeout(f"{act.name} got no answer from {self.name} within {limit} s")
        reply = decode_reply(answer[1], act)
        if reply.failure == "timeout":
            raise ActionTimeout(f"{act.name} of {self.name}: {reply.message}")
        if reply.failure == "invalid":
            raise InvalidActionError(reply.message)
        if reply.failure is not None or reply.result is None:
            raise ServerUnavailable(f"{act.name} of {self.name}: {reply.message}")
        result = reply.result
        failure = result.failure
        if check and failure is not None:
            raise ActionFailed(failure, result, result.message)
        return result

    def _deadline(self, timeout: float | None) -> float:
        """Seconds for an action: a collector needs a deadline, so ``None`` is the default."""
        if timeout is not None and timeout >= 0:
            return timeout
        return DEFAULT_ACTION_TIMEOUT if self.action_timeout is None else self.action_timeout

    async def request(
        self, request: Request[T], *, timeout: float | None = -1.0, check: bool = True
    ) -> T:
        """Send a request of :mod:`trio_ami.sansio.requests` and return what it reads."""
        if timeout is None or timeout < 0:
            timeout = self._deadline(None) + request.extra_time
        result = await self.action(
            request.action, timeout=timeout, check=False, outcome_event=request.outcome_event
        )
        return request.read(result, check=check)
