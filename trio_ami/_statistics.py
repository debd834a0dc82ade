"""The snapshot a connection's ``statistics()`` gives."""

from __future__ import annotations

import attrs

from ._subscription import SubscriptionStatistics
from .sansio import ProtocolStatistics

__all__ = ["ConnectionStatistics"]


@attrs.frozen
class ConnectionStatistics:
    """A snapshot of a connection: the protocol's counters and every subscription's."""

    protocol: ProtocolStatistics
    waiting_actions: int
    subscriptions: tuple[SubscriptionStatistics, ...]
    unexpected_messages: int
    #: Events kept for the first subscription, and those it had no room for (0 once it opened).
    backlog: int = 0
    backlog_dropped: int = 0
