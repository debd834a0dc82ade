"""Event subscriptions: a bounded buffer per subscriber, filled without ever blocking the reader.

The connection's reader offers each event to every matching :class:`EventBuffer`
synchronously. A buffer that is full never makes the reader wait (Asterisk drops clients that
read too slowly); what happens instead is its overflow policy:

- ``"error"`` (default): the new event is dropped, and the subscriber's next receive raises
  :class:`SubscriptionOverflow` saying how many events it missed. The subscription stays usable:
  the events buffered before the overflow are delivered afterwards.
- ``"drop_oldest"``: the oldest buffered event is dropped to make room, and counted.
- ``"wait"`` (opt-in backpressure): the reader stops reading the connection until the subscriber
  has made room, for at most ``max_wait`` seconds; then the events beyond the buffer are dropped
  as with ``"error"``. While it waits, no response and no other subscriber gets anything, and
  Asterisk drops a client that does not read within its ``writetimeout`` (100 ms by default).

Delivery is fair and keeps up with bursts: a subscriber takes, without yielding, every event that
was buffered when it last yielded, then yields once (a schedule point) before taking more. The
reader frames a whole read (about 130 events of 500 bytes) per turn, so a subscriber that is
faster per event than the parser is never outrun; and no subscriber runs longer without
yielding than it takes to handle one buffer-load. Cancellation is honoured at every receive.

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

OverflowPolicy = Literal["error", "drop_oldest", "wait"]

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
    #: Seconds the reader spent waiting for this subscriber to make room (``"wait"`` only).
    waited: float = 0.0


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

    @property
    def takes_everything(self) -> bool:
        """True when every event is wanted (no name, no pattern, no predicate): the reader then
        hands over a whole read's events at once, without asking per event."""
        return self._names is None and self._predicate is None

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

    def __init__(
        self, size: int = DEFAULT_BUFFER, overflow: OverflowPolicy = "error", max_wait: float = 1.0
    ) -> None:
        if size < 1:
            raise ValueError(f"buffer must be at least 1, not {size}")
        if overflow not in ("error", "drop_oldest", "wait"):
            raise ValueError(f"overflow must be 'error', 'drop_oldest' or 'wait', not {overflow!r}")
        if max_wait < 0:
            raise ValueError(f"max_wait must not be negative, not {max_wait}")
        self.size = size
        self.overflow: OverflowPolicy = overflow
        self.max_wait = max_wait
        self.waited = 0.0
        self.room = trio.lowlevel.ParkingLot()  # the reader, waiting for room ("wait")
        self.queue: deque[Event] = deque()
        self.lot = trio.lowlevel.ParkingLot()  # consumers waiting for an event
        self.missed = 0  # dropped since the consumer last heard of it ("error" policy)
        self.dropped = 0
        self.delivered = 0
        self.finished = False
        self.error: BaseException | None = None  # raised once the queue is drained

    # -- the reader's side ----------------------------------------------------------------------
    def offer(self, event: Event) -> bool:
        """Add ``event``, or apply the overflow policy if the buffer is full. True when a
        ``"wait"`` buffer is now over its size: the reader must wait for room."""
        queue = self.queue
        over = False
        if len(queue) >= self.size:
            if self.overflow == "wait":
                over = True
            elif self.overflow == "drop_oldest":
                self.dropped += 1
                queue.popleft()
            else:
                self.dropped += 1
                self.missed += 1
                self.lot.unpark_all()
                return False
        queue.append(event)
        if self.lot:
            self.lot.unpark_all()
        return over

    def offer_many(self, events: list[Event]) -> bool:
        """:meth:`offer` each of ``events`` in order, in one step while they all fit."""
        queue = self.queue
        if len(queue) + len(events) <= self.size:
            queue.extend(events)
            if self.lot:
                self.lot.unpark_all()
            return False
        over = False
        for event in events:
            over = self.offer(event) or over
        return over

    @property
    def over(self) -> bool:
        """True when a ``"wait"`` buffer holds more than its size: the reader must wait."""
        return len(self.queue) > self.size

    async def wait_for_room(self) -> None:
        """Wait (the reader, ``"wait"`` policy) until the subscriber has made room, at most
        ``max_wait`` seconds; then drop the newest events beyond the size, loudly."""
        started = trio.current_time()
        with trio.move_on_after(self.max_wait):
            while self.over and not self.finished:
                await self.room.park()
        self.waited += trio.current_time() - started
        excess = len(self.queue) - self.size
        if excess > 0:
            for _ in range(excess):
                self.queue.pop()
            self.report_lost(excess)

    def report_lost(self, count: int) -> None:
        """Count ``count`` events lost before they reached this buffer: the consumer's next
        receive raises :class:`SubscriptionOverflow` for them."""
        if count:
            self.dropped += count
            self.missed += count
            self.lot.unpark_all()

    def finish(self, error: BaseException | None = None) -> None:
        """End the stream: cleanly, or with ``error`` once the buffer is drained."""
        if not self.finished:
            self.finished = True
            self.error = error
            self.lot.unpark_all()
            self.room.unpark_all()

    def statistics(self) -> SubscriptionStatistics:
        return SubscriptionStatistics(
            buffered=len(self.queue),
            max_buffer=self.size,
            delivered=self.delivered,
            dropped=self.dropped,
            overflow=self.overflow,
            closed=self.finished,
            waited=self.waited,
        )


class _BufferedChannel(trio.abc.ReceiveChannel[Event]):
    """The consumer's side of an :class:`EventBuffer`, as a trio receive channel."""

    def __init__(self, buffer: EventBuffer) -> None:
        self._buffer = buffer
        # Events that may still be taken without yielding: what was buffered at the last yield.
        self._quota = 0

    def receive_nowait(self) -> Event:
        """The next buffered event; raises ``trio.WouldBlock`` if there is none yet."""
        buffer = self._buffer
        if buffer.missed:
            missed, buffer.missed = buffer.missed, 0
            raise SubscriptionOverflow(missed)
        if buffer.queue:
            buffer.delivered += 1
            event = buffer.queue.popleft()
            if buffer.room and not buffer.over:
                buffer.room.unpark_all()  # the reader waits for room ("wait")
            return event
        if buffer.finished:
            if buffer.error is not None:
                raise buffer.error
            raise trio.EndOfChannel
        raise trio.WouldBlock

    async def receive(self) -> Event:
        """Wait for the next event. Raises ``trio.EndOfChannel`` once the stream has ended.

        Takes what was buffered at the last yield without yielding again (see the module's
        fairness rule); cancellation is honoured at every call.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._quota > 0:
            self._quota -= 1
            try:
                return self.receive_nowait()
            except trio.WouldBlock:
                self._quota = 0  # closed and cleared meanwhile: wait as usual
        while True:
            try:
                event = self.receive_nowait()
            except trio.WouldBlock:
                await self._buffer.lot.park()
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
                self._quota = len(self._buffer.queue)
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
        if count == len(queue):
            batch.extend(queue)
            queue.clear()
        else:
            batch.extend(queue.popleft() for _ in range(count))
        self._buffer.delivered += count
        self._quota = min(self._quota, len(queue))
        if self._buffer.room and not self._buffer.over:
            self._buffer.room.unpark_all()
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
