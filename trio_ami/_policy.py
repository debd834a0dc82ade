"""How a reconnecting client reconnects: the backoff, when to give up, and which actions are
safe to send again after the link was lost under them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

import attrs

__all__ = ["RETRY_SAFE_ACTIONS", "ReconnectPolicy"]

#: Read-only actions, sent again on the next connection when the link is lost under them.
RETRY_SAFE_ACTIONS = frozenset(
    name.lower()
    for name in (
        "Ping",
        "Status",
        "CoreShowChannels",
        "CoreStatus",
        "CoreSettings",
        "Getvar",
        "GetConfig",
        "GetConfigJSON",
        "ListCategories",
        "ExtensionState",
        "SIPpeers",
        "SIPshowpeer",
        "IAXpeers",
        "IAXpeerlist",
        "PJSIPShowEndpoints",
        "PJSIPShowEndpoint",
        "PJSIPShowContacts",
        "PJSIPShowRegistrationsOutbound",
        "QueueStatus",
        "QueueSummary",
        "BridgeList",
        "BridgeInfo",
        "ListCommands",
        "MailboxCount",
        "MailboxStatus",
        "DeviceStateList",
        "ExtensionStateList",
        "PresenceStateList",
    )
)


def _folded(names: Iterable[str]) -> frozenset[str]:
    return frozenset(name.lower() for name in names)


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be positive, not {value}")


@attrs.frozen(kw_only=True)
class ReconnectPolicy:
    """How a :class:`ReconnectingAMI` reconnects, and what its actions do meanwhile.

    After the ``n``-th failed attempt in a row it waits ``initial_delay * factor ** (n - 1)``
    seconds, at most ``max_delay``, less a random part of up to ``jitter`` of it (so that many
    clients of a restarted server do not all come back at once). The first attempt after a loss
    is made at once.
    """

    initial_delay: float = attrs.field(default=0.5, validator=_positive)
    factor: float = attrs.field(default=2.0)
    max_delay: float = attrs.field(default=30.0, validator=_positive)
    #: The fraction of each delay that is random: 0 for none, 1 for "full jitter".
    jitter: float = 0.5
    #: Give up after this many failed attempts in a row (``None``: never).
    max_attempts: int | None = None
    #: A link lost within this many seconds of its login counts as a failed attempt, so that
    #: a server that drops every client right after the login (a crash loop) gets the backoff,
    #: not a storm of logins; 0 turns this off.
    stable_after: float = 1.0
    #: A refused login stops the client (the credentials are wrong: retrying only locks the
    #: account); ``True`` keeps trying, with the same backoff.
    retry_refused_login: bool = False
    #: Actions issued while the link is down wait for it, up to their own timeout; ``False``
    #: makes them fail at once with ``ConnectionClosed``.
    wait_when_down: bool = True
    #: The actions (names, any case) sent again after a reconnect when the link is lost under
    #: them; ``action(..., retry=...)`` decides per call.
    retry_actions: frozenset[str] = attrs.field(default=RETRY_SAFE_ACTIONS, converter=_folded)

    def __attrs_post_init__(self) -> None:
        if self.factor < 1:
            raise ValueError(f"factor must be at least 1, not {self.factor}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, not {self.jitter}")
        if self.stable_after < 0:
            raise ValueError(f"stable_after must not be negative, not {self.stable_after}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 or None, not {self.max_attempts}")

    def delay(self, failures: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait after ``failures`` failed attempts in a row (``rng()`` in [0, 1))."""
        exponent = min(failures - 1, 1000)  # no overflow for a client that has tried for years
        ceiling = min(self.max_delay, self.initial_delay * self.factor**exponent)
        return ceiling * (1 - self.jitter * rng())
