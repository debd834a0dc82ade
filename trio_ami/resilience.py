"""Staying connected: the reconnecting client, its link markers, and a pool of servers
(:func:`open_ami_pool`).

::

    from trio_ami.resilience import LinkLost, LinkRestored, open_reconnecting_ami

    async with open_reconnecting_ami("pbx.example.com", username="admin", secret="...") as ami:
        async with ami.subscribe("Hangup") as events:
            async for item in events:
                if isinstance(item, LinkRestored):
                    ...  # events were missed while the link was down: resynchronise
                elif not isinstance(item, LinkLost):
                    print(item["Channel"])

The names live here rather than at the top of ``trio_ami``, which keeps the surface most users
need small. See ``docs/resilience.md``.
"""

from __future__ import annotations

from ._markers import (
    LinkLost,
    LinkMarker,
    LinkRestored,
    ResilientSubscription,
    SubscriptionItem,
)
from ._open import open_reconnecting_ami
from ._policy import RETRY_SAFE_ACTIONS, ReconnectPolicy
from ._pool import (
    AMIPool,
    PoolEvent,
    PoolSubscription,
    ServerConfig,
    ServerOverflow,
    open_ami_pool,
)
from ._reconnect import LinkState, ReconnectingAMI, ReconnectStatistics, StreamFactory

__all__ = [
    "RETRY_SAFE_ACTIONS",
    "AMIPool",
    "PoolEvent",
    "PoolSubscription",
    "ServerConfig",
    "ServerOverflow",
    "open_ami_pool",
    "LinkLost",
    "LinkMarker",
    "LinkRestored",
    "LinkState",
    "ReconnectPolicy",
    "ReconnectStatistics",
    "ReconnectingAMI",
    "ResilientSubscription",
    "StreamFactory",
    "SubscriptionItem",
    "open_reconnecting_ami",
]
