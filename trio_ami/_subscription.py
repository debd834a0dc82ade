"""Event subscriptions: a bounded buffer per subscriber, filled without ever blocking the reader.

The connection's reader offers each event to every matching :class:`EventBuffer`
synchronously. A buffer that is full never makes the reader wait (Asterisk drops clients that
read too slowly); what happens instead is its overflow policy:

- ``"error"`` (default): the new event is dropped, and the subscriber's next receive raises
  :class:`SubscriptionOverflow` saying how many events it missed. The subscription stays usable:
  the events buffered before the overflow are delivered afterwards.
- ``"drop_oldest"``: the oldest buffered event is dropped to make room, and counted.

What subscribers hold are trio receive channels over such a buffer: a :class:`Subscription`
(events chosen by an :class:`EventMatcher`) or an :class:`ActionStream` (the items of one event
list, then its result). The reader's side of the buffer stays with the connection.
"""

from __future__ import annotations

import fnmatch
import re
from collections import deque
from collections.abc import Callable, Iterable
from typing import Literal

import attrs
import trio

from .sansio import ActionResult, Event, SubscriptionOverflow

__all__ = [
    "DEFAULT_BUFFER",
    "ActionStream",
    "EventBuffer",
    "EventMatcher",
    "OverflowPolicy",
    "Subscription",
    "SubscriptionStatistics",
]

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


class EventMatcher:
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
        """Whether ``event`` (whose lower-case name is ``folded_name``) is wanted."""
        names = self._names
        if (
            names is not None
            and folded_name not in names
            and (self._pattern is None or self._pattern(folded_name) is None)
        ):
            return False
        return self._predicate is None or bool(self._predicate(event))


class EventBuffer:
    """The bounded queue between the connection's reader and one consumer.

    The reader's side (:meth:`offer`, :meth:`finish`) is synchronous and never blocks; the
    consumer's side is read through a :class:`Subscription` or an :class:`ActionStream`.
    """

    def __init__(self, size: int = DEFAULT_BUFFER, overflow: OverflowPolicy = "error") -> None:
        if size < 1:
            raise ValueError(f"buffer must be at least 1, not {size}")
        if overflow not in ("error", "drop_oldest"):
            raise ValueError(f"overflow must be 'error' or 'drop_oldest', not {overflow!r}")
        self.size = size
        self.overflow: OverflowPolicy = overflow
        self.queue: deque[Event] = deque()
        self.lot = trio.lowlevel.ParkingLot()  # consumers waiting for an event
        self.missed = 0  # dropped since the consumer last heard of it ("error" policy)
        self.dropped = 0
        self.delivered = 0
        self.finished = False
        self.error: BaseException | None = None  # raised once the queue is drained

    # -- the reader's side ----------------------------------------------------------------------
    def offer(self, event: Event) -> None:
        """Add ``event``, or apply the overflow policy if the buffer is full."""
        queue = self.queue
        if len(queue) >= self.size:
            self.dropped += 1
            if self.overflow == "drop_oldest":
                queue.popleft()
            else:
                self.missed += 1
                self.lot.unpark_all()
                return
        queue.append(event)
        if self.lot:
            self.lot.unpark_all()

    def finish(self, error: BaseException | None = None) -> None:
        """End the stream: cleanly, or with ``error`` once the buffer is drained."""
        if not self.finished:
            self.finished = True
            self.error = error
            self.lot.unpark_all()

    def statistics(self) -> SubscriptionStatistics:
        return SubscriptionStatistics(
            buffered=len(self.queue),
            max_buffer=self.size,
            delivered=self.delivered,
            dropped=self.dropped,
            overflow=self.overflow,
            closed=self.finished,
        )


class _BufferedChannel(trio.abc.ReceiveChannel[Event]):
    """The consumer's side of an :class:`EventBuffer`, as a trio receive channel."""

    def __init__(self, buffer: EventBuffer) -> None:
        self._buffer = buffer

    def receive_nowait(self) -> Event:
        """The next buffered event; raises ``trio.WouldBlock`` if there is none yet."""
        buffer = self._buffer
        if buffer.missed:
            missed, buffer.missed = buffer.missed, 0
            raise SubscriptionOverflow(missed)
        if buffer.queue:
            buffer.delivered += 1
            return buffer.queue.popleft()
        if buffer.finished:
            if buffer.error is not None:
                raise buffer.error
            raise trio.EndOfChannel
        raise trio.WouldBlock

    async def receive(self) -> Event:
        """Wait for the next event. Raises ``trio.EndOfChannel`` once the stream has ended."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                event = self.receive_nowait()
            except trio.WouldBlock:
                await self._buffer.lot.park()
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return event

    async def receive_batch(self, max_events: int | None = None) -> list[Event]:
        """Wait until at least one event is buffered, then take every buffered event (or at most
        ``max_events``) at once: one checkpoint for the whole batch."""
        if max_events is not None and max_events < 1:
            raise ValueError(f"max_events must be at least 1, not {max_events}")
        first = await self.receive()
        queue = self._buffer.queue
        count = len(queue) if max_events is None else min(len(queue), max_events - 1)
        batch = [first]
        batch.extend(queue.popleft() for _ in range(count))
        self._buffer.delivered += count
        return batch

    def close(self) -> None:
        """Stop receiving; buffered events are discarded."""
        self._buffer.queue.clear()
        self._buffer.finish()

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()

    @property
    def closed(self) -> bool:
        return self._buffer.finished

    def statistics(self) -> SubscriptionStatistics:
        return self._buffer.statistics()


class Subscription(_BufferedChannel):
    """A stream of events: ``async for event in subscription`` or ``await receive()``.

    Made by :meth:`AMIConnection.subscribe`. The iteration ends when the subscription is closed
    or the session ends cleanly (logoff); if the session is lost, the next receive after the
    buffered events raises :class:`ConnectionClosed`.
    """

    def __init__(self, buffer: EventBuffer, on_close: Callable[[], None]) -> None:
        super().__init__(buffer)
        self._on_close: Callable[[], None] | None = on_close

    def close(self) -> None:
        super().close()
        if self._on_close is not None:
            self._on_close()  # the connection stops offering events to it
            self._on_close = None


class ActionStream(_BufferedChannel):
    """The items of an event-list action, delivered as they arrive.

    Iterate it like a subscription; when the iteration ends, :attr:`result` holds the final
    result (response, closing event, ``items_received`` and ``items_match``).
    """

    def __init__(self, buffer: EventBuffer) -> None:
        super().__init__(buffer)
        self._result: ActionResult | None = None

    @property
    def result(self) -> ActionResult | None:
        """The action's final result, once its list has ended."""
        return self._result

    def complete(self, result: ActionResult, error: BaseException | None) -> None:
        """The list ended with ``result``: the iteration ends after the buffered items, raising
        ``error`` if there is one."""
        self._result = result
        self._buffer.finish(error)
