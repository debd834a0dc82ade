"""The options every way of connecting shares, spelled once.

``open_ami``, ``connect_ami`` and ``wrap_ami_stream`` take the credentials, then these options as
keyword arguments (typed by :class:`SessionOptions` and :class:`ConnectOptions`); their defaults
live in :class:`Settings` and nowhere else. The credentials are never part of a settings object,
so that no ``repr`` of one can show the secret.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Sequence
from typing import Literal, TypedDict

import attrs

from ._subscription import DEFAULT_BUFFER, EventBuffer, EventMatcher, OverflowPolicy
from .sansio import ClientProtocol, Event

__all__ = [
    "ConnectOptions",
    "ProtocolOption",
    "SessionOptions",
    "Settings",
    "SubscribeOptions",
    "subscription_parts",
]

EventMask = bool | str | Sequence[str] | None
#: A configured protocol, or what makes a fresh one for each connection (a reconnecting client
#: needs the latter: a protocol lives as long as one session).
ProtocolOption = ClientProtocol | Callable[[], ClientProtocol] | None


class SessionOptions(TypedDict, total=False):
    """The options of a session over any stream (all optional; defaults in :class:`Settings`).

    - ``auth``: ``"md5"`` (challenge-response: the secret never crosses the wire) or
      ``"plain"``.
    - ``events``: the event mask set at login: ``True``/``False`` for all/none, classes
      (``["call", "system"]``), or ``None`` for the server's default.
    - ``login_timeout``: seconds for the banner and the login answer.
    - ``action_timeout``: the default deadline of every action (``None``: wait for ever).
    - ``logoff_timeout``: how long closing waits for the ``Goodbye``.
    - ``protocol``: a configured :class:`~trio_ami.sansio.ClientProtocol` (limits, list
      actions, encoding), fresh for each connection; or a callable that makes one, such as
      ``functools.partial(ClientProtocol, max_list_items=500_000)``, for a client that
      reconnects.
    - ``event_backlog``: how many events that arrive before the first subscription are kept for
      it (0: none); beyond that they are dropped and the first subscription is told how many.
    - ``keepalive``: send a ``Ping`` after this many seconds without traffic from the server
      (``None``: never); a peer that does not answer within ``keepalive_timeout`` is declared
      dead and the connection closed, ending the session as ``TRANSPORT_ERROR``.
    """

    auth: Literal["md5", "plain"]
    events: EventMask
    login_timeout: float
    action_timeout: float | None
    logoff_timeout: float
    protocol: ProtocolOption
    event_backlog: int
    keepalive: float | None
    keepalive_timeout: float


class ConnectOptions(SessionOptions, total=False):
    """:class:`SessionOptions`, and how to reach the server over TCP.

    - ``tls``: ``True`` for TLS verified against the system's CAs, an ``ssl.SSLContext`` of
      your own, or ``None``/``False`` for plain TCP (the default port follows: 5039 or 5038).
    - ``connect_timeout``: seconds to open the TCP connection (and the TLS handshake).
    """

    tls: bool | ssl.SSLContext | None
    connect_timeout: float


class SubscribeOptions(TypedDict, total=False):
    """The options of ``subscribe()``: ``predicate`` (events for which it is false are not
    delivered), ``buffer`` (events buffered, 10,000 by default), ``overflow`` (the policy when
    the buffer is full: ``"error"``, ``"drop_oldest"`` or ``"wait"``) and ``max_wait`` (how
    long the reader waits for room with ``"wait"``, 1 s by default)."""

    predicate: Callable[[Event], bool] | None
    buffer: int
    overflow: OverflowPolicy
    max_wait: float


@attrs.frozen(kw_only=True)
class Settings:
    """Every option with its default: what a connection is made with."""

    auth: Literal["md5", "plain"] = "md5"
    events: EventMask = True
    login_timeout: float = 10.0
    action_timeout: float | None = 30.0
    logoff_timeout: float = 2.0
    protocol: ProtocolOption = None
    event_backlog: int = 10_000
    keepalive: float | None = None
    keepalive_timeout: float = 10.0
    tls: bool | ssl.SSLContext | None = None
    connect_timeout: float = 10.0

    def __attrs_post_init__(self) -> None:
        if self.keepalive is not None and self.keepalive <= 0:
            raise ValueError(f"keepalive must be positive or None, not {self.keepalive}")
        if self.keepalive_timeout <= 0:
            raise ValueError(f"keepalive_timeout must be positive, not {self.keepalive_timeout}")

    def new_protocol(self) -> ClientProtocol:
        """The protocol for one new connection."""
        protocol = self.protocol
        if protocol is None:
            return ClientProtocol()
        return protocol if isinstance(protocol, ClientProtocol) else protocol()


def subscription_parts(
    names: Iterable[str], options: SubscribeOptions
) -> tuple[EventMatcher, EventBuffer]:
    """What a subscription is made of (its defaults filled in): what it wants, and its buffer.
    Raises ``ValueError`` for an option out of range."""
    buffer = EventBuffer(
        options.get("buffer", DEFAULT_BUFFER),
        options.get("overflow", "error"),
        options.get("max_wait", 1.0),
    )
    return EventMatcher(names, options.get("predicate")), buffer
