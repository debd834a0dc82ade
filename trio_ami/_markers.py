"""What a reconnecting client's subscription delivers: events, and markers where the link broke.

A :class:`ResilientSubscription` outlives the connections under it. It reads one connection's
subscription (a *segment*) after another, in order: when a segment ends because its session was
lost, the consumer gets a :class:`LinkLost` once the events of that connection are read, and a
:class:`LinkRestored` before the first event of the next connection. Between the two, events may
have been missed; the markers say so, in the stream, where it happened.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TypeAlias

import attrs
import trio

from ._connection import AMIConnection
from ._settings import SubscribeOptions, subscription_parts
from ._subscription import Subscription, SubscriptionStatistics
from .sansio import ConnectionClosed, Ending, Event

__all__ = [
    "LinkLost",
    "LinkMarker",
    "LinkRestored",
    "ResilientSubscription",
    "SubscriptionItem",
]


@attrs.frozen(eq=False)
class LinkLost:
    """The link to the server was lost: events may be missed until :class:`LinkRestored`.

    Comes after the last event received on the lost connection.
    """

    #: Why: its ``ending`` (``TRANSPORT_ERROR`` for a dead peer, ``CLOSED_BY_SERVER`` for a
    #: restart...), its message, and its ``__cause__``.
    error: ConnectionClosed

    @property
    def ending(self) -> Ending:
        return self.error.ending

    @property
    def reason(self) -> str:
        return self.error.reason


@attrs.frozen
class LinkRestored:
    """The link is back (logged in again, event mask and filters re-applied): events flow
    again. Anything that happened while it was down was missed: resynchronise now (for
    instance, run ``CoreShowChannels`` again)."""

    #: Seconds from the loss to the new login.
    down_for: float
    #: Connection attempts it took.
    attempts: int
    #: Links restored so far by the client, this one included.
    reconnects: int


LinkMarker: TypeAlias = LinkLost | LinkRestored
#: What a :class:`ResilientSubscription` delivers.
SubscriptionItem: TypeAlias = Event | LinkLost | LinkRestored


class ResilientSubscription(trio.abc.ReceiveChannel[SubscriptionItem]):
    """Events across reconnections, with :class:`LinkLost` and :class:`LinkRestored` markers
    in order between them: ``async for item in subscription``.

    Made by ``ReconnectingAMI.subscribe()``. Overflow works as for a plain subscription (each
    connection's part has its own buffer and policy): :class:`SubscriptionOverflow` is raised
    and the iteration goes on. The iteration ends when the subscription or the client is
    closed, after the buffered events; if the client gives up (a refused login, no attempts
    left), the next receive after them raises why.
    """

    def __init__(
        self, names: tuple[str, ...], options: SubscribeOptions, on_close: Callable[[], None]
    ) -> None:
        _, probe = subscription_parts(names, options)  # a bad option fails now, not later
        self._names = names
        self._options = options
        self._size, self._overflow = probe.size, probe.overflow
        self._on_close = on_close
        self._current: Subscription | None = None
        self._segments: deque[tuple[LinkRestored | None, Subscription]] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._had_link = False  # a LinkRestored only follows a LinkLost
        self._ended = False  # no segment will come: the client is closing or gave up
        self._end_error: BaseException | None = None
        self._closed = False
        self._delivered = 0  # by the segments done with
        self._dropped = 0

    # -- the client's side ----------------------------------------------------------------------
    @property
    def wants_events(self) -> bool:
        """False once closed or ended: no new connection needs to feed it."""
        return not (self._closed or self._ended)

    def open_on(self, connection: AMIConnection) -> Subscription:
        """Open this subscription's part on a new connection."""
        return connection.open_subscription(*self._names, **self._options)

    def add_segment(self, segment: Subscription, restored: LinkRestored | None) -> None:
        """Deliver ``segment`` once the earlier ones are read, preceded by ``restored`` if this
        subscription has seen a link before."""
        if not self.wants_events:
            segment.close()
            return
        self._segments.append((restored if self._had_link else None, segment))
        self._had_link = True
        self._lot.unpark_all()

    def end(self, error: BaseException | None = None) -> None:
        """No more segments: the iteration ends after what is buffered (raising ``error``)."""
        self._ended = True
        self._end_error = error
        self._lot.unpark_all()

    # -- the consumer's side --------------------------------------------------------------------
    async def receive(self) -> SubscriptionItem:
        """The next event or marker; raises ``trio.EndOfChannel`` at the end."""
        while True:
            current = self._current
            if current is None:
                item = await self._next_segment()
                if item is not None:
                    return item
                continue
            try:
                return await current.receive()
            except (ConnectionClosed, trio.EndOfChannel) as exc:
                lost = self._segment_over(current, exc)
                if lost is not None:
                    return lost

    async def receive_batch(self, max_events: int | None = None) -> list[SubscriptionItem]:
        """Wait for at least one item, then take every event buffered with it (or at most
        ``max_events``): a marker comes alone, in its own batch."""
        if max_events is not None and max_events < 1:
            raise ValueError(f"max_events must be at least 1, not {max_events}")
        while True:
            current = self._current
            if current is None:
                item = await self._next_segment()
                if item is not None:
                    return [item]
                continue
            try:
                return list(await current.receive_batch(max_events))
            except (ConnectionClosed, trio.EndOfChannel) as exc:
                lost = self._segment_over(current, exc)
                if lost is not None:
                    return [lost]

    async def _next_segment(self) -> LinkRestored | None:
        """Move to the next segment: the marker that opens it, if any. Waits for one, or
        raises the end."""
        if self._segments:
            restored, self._current = self._segments.popleft()
            await trio.lowlevel.checkpoint()
            return restored
        if self._closed or self._ended:
            await trio.lowlevel.checkpoint()
            if self._end_error is not None and not self._closed:
                raise self._end_error
            raise trio.EndOfChannel
        await self._lot.park()
        return None

    def _segment_over(self, segment: Subscription, end: BaseException) -> LinkLost | None:
        """``segment`` is drained: a marker if its link was lost while the client goes on."""
        self._retire(segment)
        self._current = None
        if isinstance(end, ConnectionClosed) and not self._closed:
            if self._ended and not self._segments:
                return None  # the client gave up or closed: say that instead
            return LinkLost(end)
        return None

    def _retire(self, segment: Subscription) -> None:
        statistics = segment.statistics()
        self._delivered += statistics.delivered
        self._dropped += statistics.dropped
        segment.close()

    def close(self) -> None:
        """Stop receiving; buffered events are discarded."""
        if self._closed:
            return
        self._closed = True
        for segment in [self._current, *(segment for _, segment in self._segments)]:
            if segment is not None:
                self._retire(segment)
        self._current = None
        self._segments.clear()
        self._lot.unpark_all()
        self._on_close()  # the client opens no more parts for it

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()

    @property
    def closed(self) -> bool:
        return self._closed

    def statistics(self) -> SubscriptionStatistics:
        """Counters over every connection so far; ``buffered`` counts every part not read."""
        parts = [segment.statistics() for segment in self._live_segments()]
        return SubscriptionStatistics(
            buffered=sum(part.buffered for part in parts),
            max_buffer=self._size,
            delivered=self._delivered + sum(part.delivered for part in parts),
            dropped=self._dropped + sum(part.dropped for part in parts),
            overflow=self._overflow,
            closed=self._closed or (self._ended and not parts),
            waited=sum(part.waited for part in parts),
        )

    def _live_segments(self) -> list[Subscription]:
        segments = [segment for _, segment in self._segments]
        return segments if self._current is None else [self._current, *segments]
