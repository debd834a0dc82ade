"""What the protocol reports: the result of an action, the items it emits, its statistics.

All frozen values: :meth:`ClientProtocol.take_items` hands them out, and nothing in them changes
afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ._actions import Action
from ._errors import AMIError, ConnectionClosed
from ._messages import Banner, Event, Message, Response, ascii_int
from ._state import Ending, State

__all__ = [
    "ActionAborted",
    "ActionCompleted",
    "ActionResult",
    "BannerReceived",
    "ConnectionTerminated",
    "ListItem",
    "LoginFailed",
    "LoginSucceeded",
    "ProtocolItem",
    "ProtocolStatistics",
    "UnexpectedMessage",
]

# What the Reason of an OriginateResponse means: the last call progress Asterisk saw (its
# AST_CONTROL_* value), 0 when the call could not be placed or nothing came back in time.
_ORIGINATE_REASONS: Mapping[str, str] = {
    "0": "failed, or no such extension or number",
    "1": "hung up",
    "3": "no answer",
    "4": "answered",
    "5": "busy",
    "8": "congestion",
}


def _originate_failure(outcome: Message) -> str:
    """``"Failure (reason 5: busy)"``: an ``OriginateResponse``'s status and why."""
    status = outcome.get("Response") or "Failure"
    reason = outcome.get("Reason", "").strip()
    if not reason:
        return status
    meaning = _ORIGINATE_REASONS.get(reason)
    return f"{status} (reason {reason}: {meaning})" if meaning else f"{status} (reason {reason})"


# -- results ------------------------------------------------------------------------------------
@attrs.frozen
class ActionResult:
    """The final result of one action.

    ``response`` is the server's response; ``events`` the items of the event list it opened
    (empty for a single-response action, or when the items were streamed); ``complete`` the event
    that closed the list; ``outcome`` the event that reported the outcome (``OriginateResponse``);
    ``error`` a ``Response: Error`` that aborted a list after it had started.
    """

    action: Action
    response: Response
    events: tuple[Event, ...] = ()
    complete: Event | None = None
    outcome: Event | None = None
    error: Response | None = None
    #: How many list items arrived (counted even when streamed).
    items_received: int = 0

    @property
    def action_id(self) -> str:
        return self.action.action_id or ""

    @property
    def success(self) -> bool:
        """False for ``Response: Error``, an aborted list, or an outcome other than Success."""
        if self.response.is_error or self.error is not None:
            return False
        return self.outcome is None or self.outcome.get("Response", "").lower() == "success"

    @property
    def failure(self) -> Response | Event | None:
        """The message that says why the action failed, or ``None`` if it succeeded."""
        if self.success:
            return None
        if self.error is not None:
            return self.error
        return self.response if self.response.is_error else self.outcome

    @property
    def message(self) -> str:
        """The server's ``Message:`` text (of the failure, if any); for a failed
        ``OriginateResponse``, its status and what its ``Reason`` code means."""
        source = self.failure or self.response
        text = source.get("Message")
        if not text and source is self.outcome and source.name.lower() == "originateresponse":
            return _originate_failure(source)
        return text or source.get("Reason") or ""

    @property
    def output(self) -> list[str]:
        """``Command`` output lines, the same on every AMI version."""
        return self.response.output

    @property
    def expected_items(self) -> int | None:
        """The ``ListItems`` count the server announced at the end of the list, if any."""
        if self.complete is None:
            return None
        return ascii_int(self.complete.get("ListItems", ""))

    @property
    def items_match(self) -> bool:
        """False when the server announced a ``ListItems`` count that differs from what came."""
        expected = self.expected_items
        return expected is None or expected == self.items_received


# -- items the protocol emits -------------------------------------------------------------------
@attrs.frozen
class BannerReceived:
    """The server greeted: ``banner.version`` is its AMI version."""

    banner: Banner


@attrs.frozen
class LoginSucceeded:
    """The server accepted the login."""

    response: Response


@attrs.frozen
class LoginFailed:
    """The server refused the login (the session is over): ``message`` is what it said."""

    response: Response
    message: str


@attrs.frozen
class ActionCompleted:
    """An action got its final result (successful or not: see ``result.success``)."""

    result: ActionResult

    @property
    def action_id(self) -> str:
        return self.result.action_id


@attrs.frozen
class ActionAborted:
    """An action can never complete: the session ended first (``error`` is a
    ``ConnectionClosed``), or its event list passed its limit (``ListTooLong``; the session goes
    on)."""

    action_id: str
    action: Action
    error: AMIError


@attrs.frozen
class ListItem:
    """One item of an event list that is delivered as it arrives (``stream=True``)."""

    action_id: str
    event: Event


@attrs.frozen
class UnexpectedMessage:
    """A packet that belongs to nothing pending: a response to an unknown ActionID, or a packet
    that is neither a response nor an event. Surfaced rather than dropped or misattributed."""

    message: Message
    reason: str


@attrs.frozen
class ConnectionTerminated:
    """The session is over: ``ending`` says how, ``reason`` says it in words, ``error`` is what
    ended it, where something did (the ``RemoteProtocolError`` of a protocol error, the error
    given to :meth:`ClientProtocol.connection_lost`)."""

    ending: Ending
    reason: str
    error: BaseException | None = None

    def closed_error(self, what: str) -> ConnectionClosed:
        """A new ``ConnectionClosed`` saying that ``what`` cannot go on, caused by ``error``."""
        closed = ConnectionClosed(f"{what}: {self.reason}", ending=self.ending)
        closed.__cause__ = self.error
        return closed


#: Everything :meth:`ClientProtocol.next_item` can return. A broadcast event is the ``Event``
#: itself.
ProtocolItem = (
    Event
    | BannerReceived
    | LoginSucceeded
    | LoginFailed
    | ActionCompleted
    | ActionAborted
    | ListItem
    | UnexpectedMessage
    | ConnectionTerminated
)


@attrs.frozen
class ProtocolStatistics:
    """A snapshot of a session's counters."""

    state: State
    pending_actions: int
    actions_sent: int
    responses_received: int
    events_received: int
    events_delivered: int
    list_items_received: int
    unexpected_messages: int
    late_packets_dropped: int
    bytes_received: int
    bytes_sent: int
