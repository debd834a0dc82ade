"""The one exception hierarchy of trio-ami, shared by the sans-IO core and the trio layer.

::

    AMIError
    ├── ProtocolError
    │   ├── LocalProtocolError (also ValueError)     the caller misused the API
    │   │   └── InvalidActionError                   an action that must not be sent
    │   └── RemoteProtocolError                      the peer broke the protocol
    │       └── LimitExceeded                        a configured limit was crossed
    ├── AuthenticationError                          the server refused the login
    ├── ActionFailed                                 Response: Error (carries the response)
    ├── ActionTimeout (also TimeoutError)
    ├── AMIConnectionError (also ConnectionError)    could not connect, or the transport broke
    ├── ConnectionClosed                             the session ended while work was pending
    ├── ListTooLong                                  an event list passed max_list_items
    └── SubscriptionOverflow                         a subscriber fell behind and events were lost
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._state import Ending

if TYPE_CHECKING:
    from ._items import ActionResult
    from ._messages import Message

__all__ = [
    "AMIConnectionError",
    "AMIError",
    "ActionFailed",
    "ActionTimeout",
    "AuthenticationError",
    "ConnectionClosed",
    "InvalidActionError",
    "LimitExceeded",
    "ListTooLong",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "SubscriptionOverflow",
]


class AMIError(Exception):
    """Base class of every error raised by trio-ami."""


class ProtocolError(AMIError):
    """The AMI protocol was violated, by us (local) or by the peer (remote)."""


class LocalProtocolError(ProtocolError, ValueError):
    """The caller asked for something the protocol does not allow in the current state."""


class InvalidActionError(LocalProtocolError):
    """An action that cannot be sent as given: it would be rejected or misread by the server.

    Raised before a single byte is written, e.g. for a header value containing CR or LF (which
    would smuggle a second action into the stream), a line of 1024 bytes or more, or more than
    128 header lines.
    """


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that are not valid AMI."""


class LimitExceeded(RemoteProtocolError):
    """The peer crossed one of the parser's configured limits.

    ``limit`` names it (``"max_packet_size"``, ``"max_headers"`` or ``"max_line_length"``) and
    ``value`` is its configured value.
    """

    def __init__(self, message: str, *, limit: str, value: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value


class AuthenticationError(AMIError):
    """The server refused the login; ``message`` is what it said."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ActionFailed(AMIError):
    """An action failed: ``Response: Error``, a list aborted by an error, or a failed outcome.

    ``response`` is the message that says so (a ``Response``, or the outcome ``Event`` such as an
    ``OriginateResponse`` with ``Response: Failure``); ``result`` the whole ``ActionResult`` where
    there is one (its ``output``, its list items), else ``None``.
    """

    def __init__(
        self, response: Message, result: ActionResult | None = None, message: str = ""
    ) -> None:
        text = message or response.get("Message") or response.get("Reason") or response.name
        super().__init__(f"{text} (ActionID {response.action_id})")
        self.response = response
        self.result = result


class ActionTimeout(AMIError, TimeoutError):
    """An action did not complete within its timeout; its late reply will be discarded."""


class AMIConnectionError(AMIError, ConnectionError):
    """Connecting failed, or the transport broke underneath the session."""


class ConnectionClosed(AMIError):
    """The AMI session is over: work that was pending or is attempted now cannot complete.

    ``ending`` says how it ended (:class:`~trio_ami.sansio.Ending`: logged off, closed by the
    server, login refused, protocol error, transport error, closed locally) and ``reason`` says
    it in words; ``__cause__`` holds the error that ended it, where there is one.
    """

    def __init__(self, reason: str, *, ending: Ending = Ending.CLOSED_LOCALLY) -> None:
        super().__init__(reason)
        self.reason = reason
        self.ending = ending


class ListTooLong(AMIError):
    """An event list grew past the limit set for collecting it (``max_list_items``).

    Only the action that collected it fails: its remaining items are dropped as they come and
    the connection stays usable. Read lists of unknown size item by item instead
    (``action_stream()``).
    """

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class SubscriptionOverflow(AMIError):
    """A subscriber read too slowly and its bounded buffer overflowed: ``missed`` events lost."""

    def __init__(self, missed: int) -> None:
        super().__init__(f"subscriber fell behind: {missed} events were dropped")
        self.missed = missed
