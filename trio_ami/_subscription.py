"""Event subscriptions: a bounded buffer per subscriber, filled without ever blocking the reader.

The connection's reader task offers each event to every matching subscription synchronously. A
subscription that is full never makes the reader wait (Asterisk drops clients that read too
slowly); what happens instead is its overflow policy:

- ``"error"`` (default): the new event is dropped, and the subscriber's next receive raises
  :class:`SubscriptionOverflow` saying how many events it missed. The subscription stays usable:
  the events buffered before the overflow are delivered afterwards.
- ``"drop_oldest"``: the oldest buffered event is dropped to make room, and counted.
"""

from __future__ import annotations

import fnmatch
import re
from collections import deque
from collections.abc import Callable, Iterable
from typing import Literal

import attrs
import trio

from .sansio import Event, SubscriptionOverflow

__all__ = ["OverflowPolicy", "Subscription", "SubscriptionStatistics"]

OverflowPolicy = Literal["error", "drop_oldest"]

#: Default number of events a subscription buffers.
DEFAULT_BUFFER = 10_000


@attrs.frozen
class SubscriptionStatistics:
    """A snapshot of one subscription."""

    #: Events waiting in the buffer (how far the subscriber lags behind the reader).
    buffered: int
    max_buffer: int
    #: Events handed to the subscriber so far.
    delivered: int
    #: Events lost to overflow so far.
    dropped: int
    overflow: OverflowPolicy
    closed: bool


class _Matcher:
    """Matches events by name (exact names or glob patterns, case-insensitive) and predicate."""

    __slots__ = ("_names", "_pattern", "_predicate")

    def __init__(self, patterns: Iterable[str], predicate: Callable[[Event], bool] | None) -> None:
        names: set[str] = set()
        globs: list[str] = []
        for pattern in patterns:
            folded = pattern.lower()
            if any(char in folded for char in "*?["):
                globs.append(fnmatch.translate(folded))
            else:
                names.add(folded)
        everything = not names and not globs
        self._names: frozenset[str] | None = None if everything else frozenset(names)
        self._pattern = re.compile("|".join(globs)).match if globs else None
        self._predicate = predicate

    def __call__(self, event: Event, folded_name: str) -> bool:
        names = self._names
        if (
            names is not None
            and folded_name not in names
            and (self._pattern is None or self._pattern(folded_name) is None)
        ):
            return False
        return self._predicate is None or bool(self._predicate(event))


class Subscription:
    """A stream of events: ``async for event in subscription`` or ``await receive()``.

    Made by :meth:`AMIConnection.subscribe`. The iteration ends when the subscription is closed
    or the connection ends cleanly (logoff); if the connection is lost, the next receive after the
    buffered events raises :class:`ConnectionClosed`.
    """

    def __init__(
        self,
        matcher: Callable[[Event, str], bool],
        *,
        buffer: int = DEFAULT_BUFFER,
        overflow: OverflowPolicy = "error",
        on_close: Callable[[Subscription], None] | None = None,
    ) -> None:
        if buffer < 1:
            raise ValueError(f"buffer must be at least 1, not {buffer}")
        if overflow not in ("error", "drop_oldest"):
            raise ValueError(f"overflow must be 'error' or 'drop_oldest', not {overflow!r}")
        self._matches = matcher
        self._max = buffer
        self._overflow: OverflowPolicy = overflow
        self._queue: deque[Event] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._missed = 0
        self._dropped = 0
        self._delivered = 0
        self._closed = False
        self._error: BaseException | None = None
        self._on_close = on_close

    # -- the reader's side (synchronous, never blocks) ------------------------------------------
    def _offer(self, event: Event) -> None:
        queue = self._queue
        if len(queue) >= self._max:
            self._dropped += 1
            if self._overflow == "drop_oldest":
                queue.popleft()
            else:
                self._missed += 1
                self._lot.unpark_all()
                return
        queue.append(event)
        if self._lot:
            self._lot.unpark_all()

    def _finish(self, error: BaseException | None = None) -> None:
        """End the stream: cleanly, or with ``error`` once the buffer is drained."""
        if not self._closed:
            self._closed = True
            self._error = error
            self._lot.unpark_all()

    # -- the subscriber's side ------------------------------------------------------------------
    def receive_nowait(self) -> Event:
        """The next buffered event; raises ``trio.WouldBlock`` if there is none yet."""
        if self._missed:
            missed, self._missed = self._missed, 0
            raise SubscriptionOverflow(missed)
        if self._queue:
            self._delivered += 1
            return self._queue.popleft()
        if self._closed:
            if self._error is not None:
                raise self._error
            raise trio.EndOfChannel
        raise trio.WouldBlock

    async def receive(self) -> Event:
        """Wait for the next event. Raises ``trio.EndOfChannel`` once the stream has ended."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                event = self.receive_nowait()
            except trio.WouldBlock:
                await self._lot.park()
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return event

    async def receive_batch(self, max_events: int | None = None) -> list[Event]:
        """Wait until at least one event is buffered, then take every buffered event (or at most
        ``max_events``) at once: one checkpoint for the whole batch."""
        if max_events is not None and max_events < 1:
            raise ValueError(f"max_events must be at least 1, not {max_events}")
        first = await self.receive()
        queue = self._queue
        count = len(queue) if max_events is None else min(len(queue), max_events - 1)
        batch = [first]
        batch.extend(queue.popleft() for _ in range(count))
        self._delivered += count
        return batch

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Stop receiving events; buffered events are discarded."""
        self._queue.clear()
        self._finish()
        if self._on_close is not None:
            self._on_close(self)
            self._on_close = None

    @property
    def closed(self) -> bool:
        return self._closed

    def statistics(self) -> SubscriptionStatistics:
        return SubscriptionStatistics(
            buffered=len(self._queue),
            max_buffer=self._max,
            delivered=self._delivered,
            dropped=self._dropped,
            overflow=self._overflow,
            closed=self._closed,
        )
