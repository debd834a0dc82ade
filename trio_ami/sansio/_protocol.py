"""The AMI client session as a pure state machine: bytes and actions in, results and events out.

Drive it from any runtime::

    proto = ClientProtocol()
    sock.sendall(proto.login("admin", "secret"))      # after the banner arrived
    proto.receive_data(sock.recv(65536))              # b"" when the server closed
    sock.sendall(proto.data_to_send())                # the Login that answers a Challenge
    for item in proto.take_items(): ...               # Event, ActionCompleted, LoginSucceeded...
    action_id, data = proto.send_action(Action("Ping"))

Responses are matched to actions by ActionID, never by order. How an action completes is
declared when it is sent (see :meth:`ClientProtocol.send_action`): on its response, at the end
of the event list the response opens, or on the event that reports its outcome
(``OriginateResponse``).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence

from ._actions import Action, event_mask
from ._auth import md5_key
from ._errors import (
    ListTooLong,
    LocalProtocolError,
    RemoteProtocolError,
)
from ._fastpath import finder
from ._items import (
    ActionAborted,
    ActionCompleted,
    ActionResult,
    BannerReceived,
    ConnectionTerminated,
    ListItem,
    LoginFailed,
    LoginSucceeded,
    ProtocolItem,
    ProtocolStatistics,
    UnexpectedMessage,
)
from ._messages import Banner, Event, Message, Response
from ._parser import (
    DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_LINE_LENGTH,
    DEFAULT_MAX_PACKET_SIZE,
    PacketParser,
)
from ._pending import LIST_ACTIONS, PendingAction
from ._state import LOCAL_INPUTS, TRANSITIONS, Ending, Input, State

__all__ = ["DEFAULT_MAX_LIST_ITEMS", "ClientProtocol"]

#: Most items an action collects into its result before it fails with ``ListTooLong``.
DEFAULT_MAX_LIST_ITEMS = 100_000

_MAX_ABANDONED = 1024  # abandoned actions remembered, to drop their late packets


def _md5_login(headers: Sequence[tuple[str, str]], key: str) -> Action:
    """The Login answering a challenge: ``headers`` are the username, then the extra ones."""
    username, *extra = headers
    return Action("Login", [("AuthType", "md5"), username, ("Key", key), *extra])


class ClientProtocol:
    """The client side of one AMI session, without I/O.

    Feed what the server sends to :meth:`receive_data` and write what :meth:`login`,
    :meth:`send_action`, :meth:`logoff` return, then whatever :meth:`data_to_send` holds (the
    protocol answers a login challenge on its own). Take what happened with :meth:`next_item` or
    :meth:`take_items`.

    ``action_id_prefix`` starts every generated ActionID (``<prefix>-<n>``); by default it is
    random, so ActionIDs are unique across connections and processes (async events such as
    ``OriginateResponse`` reach every session). ``list_actions`` adds to or overrides
    :data:`LIST_ACTIONS` (action name to the event that ends its list); an empty event name
    removes the action, which then completes on its response unless that opens a list.
    ``max_list_items`` bounds the items an action collects into its result (see
    :meth:`send_action`).
    """

    def __init__(
        self,
        *,
        action_id_prefix: str | None = None,
        list_actions: Mapping[str, str] | None = None,
        encoding: str = "utf-8",
        max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        max_headers: int = DEFAULT_MAX_HEADERS,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        max_list_items: int = DEFAULT_MAX_LIST_ITEMS,
    ) -> None:
        if max_list_items < 1:
            raise ValueError(f"max_list_items must be positive, not {max_list_items}")
        self.max_list_items = max_list_items
        self._parser = PacketParser(
            encoding=encoding,
            max_packet_size=max_packet_size,
            max_headers=max_headers,
            max_line_length=max_line_length,
        )
        self.encoding = encoding
        self._prefix = action_id_prefix if action_id_prefix is not None else secrets.token_hex(6)
        self._counter = 0
        self._list_actions = {name.lower(): event for name, event in LIST_ACTIONS.items()}
        for name, end in (list_actions or {}).items():
            if end:
                self._list_actions[name.lower()] = end
            else:
                self._list_actions.pop(name.lower(), None)
        self._state = State.AWAITING_BANNER
        self._pending: dict[str, PendingAction] = {}
        # Pending or abandoned actions that may claim events carrying their ActionID.
        self._claimers: dict[str, PendingAction] = {}
        self._claim_ids: tuple[str, ...] = ()
        self._claim_finder: Callable[[bytes], object] | None = None
        self._abandoned: OrderedDict[str, PendingAction] = OrderedDict()
        self._items: deque[ProtocolItem] = deque()
        self._outgoing = bytearray()
        self._login_secret: str | None = None
        self._login_headers: list[tuple[str, str]] = []
        #: The banner, once received.
        self.banner: Banner | None = None
        #: True once the server sent ``FullyBooted`` (it is ready for every action).
        self.fully_booted = False
        self._actions_sent = 0
        self._responses = 0
        self._events = 0
        self._delivered = 0
        self._list_items = 0
        self._unexpected = 0
        self._late_dropped = 0
        self._bytes_sent = 0
        #: How the session ended, once it has.
        self.terminated: ConnectionTerminated | None = None

    # -- state ----------------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self._state

    @property
    def pending_action_ids(self) -> list[str]:
        """ActionIDs of the actions still waiting for their final result."""
        return list(self._pending)

    def _next_state(self, event: Input) -> State:
        """The state ``event`` leads to; raises if the current state does not allow it."""
        new = TRANSITIONS.get((self._state, event))
        if new is None:
            error_type = LocalProtocolError if event in LOCAL_INPUTS else RemoteProtocolError
            raise error_type(f"cannot {event.value} in state {self._state.value!r}")
        return new

    def _move(self, event: Input) -> None:
        self._state = self._next_state(event)

    def statistics(self) -> ProtocolStatistics:
        return ProtocolStatistics(
            state=self._state,
            pending_actions=len(self._pending),
            actions_sent=self._actions_sent,
            responses_received=self._responses,
            events_received=self._events,
            events_delivered=self._delivered,
            list_items_received=self._list_items,
            unexpected_messages=self._unexpected,
            late_packets_dropped=self._late_dropped,
            bytes_received=self._parser.bytes_received,
            bytes_sent=self._bytes_sent,
        )

    # -- sending --------------------------------------------------------------------------------
    def next_action_id(self) -> str:
        """A fresh ActionID: ``<prefix>-<n>``, skipping any that a pending action holds."""
        self._counter, action_id = self._fresh_action_id()
        return action_id

    def _fresh_action_id(self) -> tuple[int, str]:
        """The next counter value and its ActionID, without taking them."""
        counter = self._counter
        while True:
            counter += 1
            action_id = f"{self._prefix}-{counter}"
            if action_id not in self._pending and action_id not in self._abandoned:
                return counter, action_id

    def login(
        self,
        username: str,
        secret: str,
        *,
        auth: str = "md5",
        events: bool | str | Sequence[str] | None = None,
    ) -> bytes:
        """Start logging in; returns the bytes to send (a ``Challenge`` for MD5, else ``Login``).

        ``events`` sets the event mask on Login: ``True``/``False`` for all/none, or a list of
        classes (``["call", "system"]``). ``None`` leaves the server's default.
        """
        if auth not in ("md5", "plain"):
            raise LocalProtocolError(f"auth must be 'md5' or 'plain', not {auth!r}")
        if not isinstance(secret, str):
            raise LocalProtocolError(f"the secret must be a str, not {type(secret).__name__}")
        headers: list[tuple[str, str]] = []
        if events is not None:
            headers.append(("Events", event_mask(events)))
        if auth == "plain":
            action = Action("Login", [("Username", username), ("Secret", secret), *headers])
            action_id, data = self._send(action, Input.SEND_LOGIN)
            # What the protocol keeps, and may hand out in ActionAborted, hides the secret.
            self._pending[action_id].action = action.with_action_id(action_id).masked()
            return data
        login_headers = [("Username", username), *headers]
        # The Login that will answer the challenge must be sendable, and the secret hashable:
        # refuse them now, not when the challenge comes.
        _md5_login(login_headers, "0" * 32).to_bytes(self.encoding)
        md5_key("", secret, self.encoding)
        data = self._send(Action("Challenge", {"AuthType": "md5"}), Input.SEND_CHALLENGE)[1]
        self._login_secret = secret
        self._login_headers = login_headers
        return data

    def logoff(self) -> bytes:
        """Ask the server to end the session; it answers ``Goodbye`` and closes."""
        return self._send(Action("Logoff"), Input.SEND_LOGOFF)[1]

    def send_action(
        self,
        action: Action,
        *,
        complete_on: str | None = None,
        outcome_event: str | None = None,
        stream: bool = False,
        max_items: int | None = None,
    ) -> tuple[str, bytes]:
        """Register ``action`` and return its ActionID and the bytes to send.

        The action completes on its response, unless:

        - the response opens an event list (``EventList: start``), or the action is a known list
          action (``complete_on``, else :data:`LIST_ACTIONS`): it completes with the event that
          closes the list (``EventList: Complete`` or the named event), holding the list's items;
          ``stream=True`` emits each item as a :class:`ListItem` instead of keeping it;
        - ``outcome_event`` names the event that reports its outcome (``"OriginateResponse"`` for
          an ``Async`` Originate): it completes when that event, carrying its ActionID, arrives.

        A list that is collected (not streamed) holds at most ``max_items`` items (default: the
        protocol's ``max_list_items``): one more aborts the action with :class:`ListTooLong` (an
        :class:`ActionAborted` item) and drops the rest of its list, and the session goes on.

        An ``ActionID`` set on the action is used if no pending action holds it.
        """
        folded = action.name.lower()
        if folded in ("login", "challenge"):
            raise LocalProtocolError("log in with login(), which tracks the challenge")
        if max_items is not None and max_items < 1:
            raise LocalProtocolError(f"max_items must be positive, not {max_items}")
        purpose = Input.SEND_LOGOFF if folded == "logoff" else Input.SEND_ACTION
        list_end = complete_on or self._list_actions.get(folded)
        return self._send(action, purpose, list_end, outcome_event, stream, max_items=max_items)

    def _send(
        self,
        action: Action,
        purpose: Input,
        complete_on: str | None = None,
        outcome_event: str | None = None,
        stream: bool = False,
        *,
        max_items: int | None = None,
        transition: bool = True,
    ) -> tuple[str, bytes]:
        # Nothing changes, not even the ActionID counter, until the action may be sent.
        state = self._next_state(purpose) if transition else self._state
        counter, action_id = self._counter, action.action_id
        if action_id is None:
            counter, action_id = self._fresh_action_id()
            action = action.with_action_id(action_id)
        elif action_id in self._pending:
            raise LocalProtocolError(f"ActionID {action_id!r} is already pending")
        data = action.to_bytes(self.encoding)  # validates
        self._state = state
        self._counter = counter
        pending = PendingAction(
            action=action,
            purpose=purpose,
            complete_on=complete_on.lower() if complete_on else None,
            outcome_event=outcome_event.lower() if outcome_event else None,
            stream=stream,
            max_items=max_items or self.max_list_items,
        )
        self._pending[action_id] = pending
        if self._abandoned.pop(action_id, None) is not None:
            self._claimers.pop(action_id, None)  # a reused ActionID: the old one claims nothing
        if pending.claims_events:
            self._claimers[action_id] = pending
        self._actions_sent += 1
        self._bytes_sent += len(data)
        return action_id, data

    def data_to_send(self) -> bytes:
        """Bytes the protocol needs sent on its own (the Login answering a Challenge)."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def forget(self, action_id: str) -> None:
        """Give up on a pending action: its late packets will be dropped, not kept or misrouted.

        Does nothing if the action is not pending (it completed in the meantime).
        """
        pending = self._pending.pop(action_id, None)
        if pending is None:
            return
        pending.abandoned = True
        pending.events.clear()
        self._abandoned[action_id] = pending
        if len(self._abandoned) > _MAX_ABANDONED:
            old_id, _ = self._abandoned.popitem(last=False)
            self._claimers.pop(old_id, None)

    # -- receiving ------------------------------------------------------------------------------
    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes from the server; ``b""`` means it closed the connection."""
        if self._state in (State.CLOSED, State.ERROR):
            return  # the session is over; trailing bytes change nothing
        parser = self._parser
        if not data and self._state is State.AWAITING_BANNER and not parser.buffered_bytes:
            # Closed before greeting (too many sessions, refused address): a clean end. A
            # partial banner is still a protocol error, which the parser reports.
            self._terminate(
                Input.END_OF_STREAM, Ending.CLOSED_BY_SERVER, "the server closed the connection"
            )
            return
        parser.receive_data(data)
        try:
            if self.banner is None and parser.banner is not None:
                self.banner = parser.banner
                self._move(Input.BANNER)
                self._items.append(BannerReceived(parser.banner))
            while self._state not in (State.CLOSED, State.ERROR):
                messages = parser.take_messages()
                if not messages:
                    break
                self._handle_messages(messages)
        except RemoteProtocolError as exc:
            reason = f"protocol error: {exc}"
            self._terminate(Input.BROKEN_STREAM, Ending.PROTOCOL_ERROR, reason, exc)
            return
        if not data and self._state not in (State.CLOSED, State.ERROR):
            self._terminate(
                Input.END_OF_STREAM, Ending.CLOSED_BY_SERVER, "the server closed the connection"
            )

    def next_item(self) -> ProtocolItem | None:
        """The next thing that happened, or ``None`` if nothing is waiting."""
        return self._items.popleft() if self._items else None

    def take_items(self) -> list[ProtocolItem]:
        """Everything that happened since the last call, in order."""
        items = list(self._items)
        self._items.clear()
        return items

    def _claim_search(self) -> Callable[[bytes], object] | None:
        """What finds, in a packet, what it holds if it carries a claiming action's ActionID
        (``None``: no action claims events).

        An ActionID header's value is the packet's bytes as they are: a packet holding none of
        the claimers' ActionIDs carries none, and one C-level search spares most events the
        header lookup, which folds the whole packet's case. An ActionID that is not ASCII is
        searched as ``b""``, which every packet holds: those are looked up.
        """
        if not self._claimers:
            return None
        action_ids = tuple(self._claimers)
        if action_ids != self._claim_ids:  # compiled again only when the claimers change
            self._claim_ids = action_ids
            self._claim_finder = finder(
                [aid.encode("ascii") if aid.isascii() else b"" for aid in action_ids]
            )
        return self._claim_finder

    def _handle_messages(self, messages: Iterable[Message]) -> None:
        items = self._items
        claimed_in = self._claim_search()
        for message in messages:
            if self._state in (State.CLOSED, State.ERROR):
                return  # nothing after Goodbye or a refused login belongs to this session
            if isinstance(message, Event):
                self._events += 1
                if self._state is not State.READY:
                    self._move(Input.EVENT)  # raises unless the state allows events
                if claimed_in is not None and claimed_in(message.raw) is not None:
                    action_id = message.get("ActionID")
                    if action_id is not None:
                        claimer = self._claimers.get(action_id)
                        if claimer is not None:
                            claimed = self._claim(claimer, message)
                            claimed_in = self._claim_search()  # the claim may end the action
                            if claimed:
                                continue
                if not self.fully_booted and message.name == "FullyBooted":
                    self.fully_booted = True
                self._delivered += 1
                items.append(message)
            elif isinstance(message, Response):
                self._responses += 1
                self._handle_response(message)
                claimed_in = self._claim_search()  # the response may open or end a list
            else:
                self._unexpected += 1
                items.append(UnexpectedMessage(message, "neither a response nor an event"))

    # -- responses ------------------------------------------------------------------------------
    def _handle_response(self, response: Response) -> None:
        action_id = response.action_id
        pending = self._pending.get(action_id) if action_id is not None else None
        if pending is None and action_id is not None:
            pending = self._abandoned.get(action_id)
        if pending is None:
            if response.name.lower() == "goodbye":
                self._terminate(Input.GOODBYE, Ending.CLOSED_BY_SERVER, "the server said Goodbye")
                return
            self._unexpected += 1
            reason = "no ActionID" if action_id is None else f"ActionID {action_id!r} not pending"
            self._items.append(UnexpectedMessage(response, f"response with {reason}"))
            return
        self._move(Input.RESPONSE)
        if pending.purpose is Input.SEND_CHALLENGE:
            self._challenge_answered(pending, response)
        elif pending.purpose is Input.SEND_LOGIN:
            self._login_answered(pending, response)
        else:
            if pending.abandoned:
                self._late_dropped += 1  # a forgotten action's response, whatever it says
            self._action_answered(pending, response)

    def _action_answered(self, pending: PendingAction, response: Response) -> None:
        opened = pending.response
        if opened is not None:
            if pending.in_list and response.is_error:  # the list was aborted after it started
                self._finish(pending, opened, error=response)
            else:
                what = "a list action" if pending.in_list else "an action"
                self._drop_or_report(pending, response, f"second response to {what}")
            return
        pending.response = response
        if response.name.lower() == "goodbye":
            self._finish(pending, response)
            self._terminate(Input.GOODBYE, Ending.LOGGED_OFF, "logged off")
        elif response.is_error:
            self._finish(pending, response)
            if pending.purpose is Input.SEND_LOGOFF:
                self._move(Input.LOGOFF_REFUSED)  # back to where the Logoff was sent from
        elif pending.complete is not None:  # its list closed before this response came
            self._finish(pending, response)
        elif response.get("EventList", "").lower() == "start" or pending.complete_on:
            pending.in_list = True
            self._claimers[pending.action.action_id or ""] = pending
        elif pending.outcome_event is None or pending.outcome is not None:
            self._finish(pending, response)

    def _drop_or_report(self, pending: PendingAction, response: Response, reason: str) -> None:
        if not pending.abandoned:  # a forgotten action's response was counted as dropped
            self._unexpected += 1
            self._items.append(UnexpectedMessage(response, reason))

    def _challenge_answered(self, pending: PendingAction, response: Response) -> None:
        self._pending.pop(pending.action.action_id or "", None)
        challenge = response.get("Challenge")
        if response.is_error or not challenge:
            self._login_refused(response)
            return
        self._move(Input.CHALLENGE_ANSWERED)
        key = md5_key(challenge, self._login_secret or "", self.encoding)
        self._login_secret = None
        login = _md5_login(self._login_headers, key)
        action_id, data = self._send(login, Input.SEND_LOGIN, transition=False)
        self._pending[action_id].action = self._pending[action_id].action.masked()
        self._outgoing += data

    def _login_answered(self, pending: PendingAction, response: Response) -> None:
        self._pending.pop(pending.action.action_id or "", None)
        if response.name.lower() != "success":
            self._login_refused(response)
            return
        self._move(Input.LOGIN_ACCEPTED)
        self._items.append(LoginSucceeded(response))

    def _login_refused(self, response: Response) -> None:
        message = response.get("Message") or "login refused"
        self._items.append(LoginFailed(response, message))
        self._terminate(Input.LOGIN_REFUSED, Ending.LOGIN_REFUSED, f"login refused: {message}")

    # -- events that belong to an action --------------------------------------------------------
    def _claim(self, pending: PendingAction, event: Event) -> bool:
        """Route an event carrying a claiming action's ActionID; False to broadcast it."""
        name = event.name.lower()
        if pending.outcome_event is not None and name == pending.outcome_event:
            pending.outcome = event
            if pending.response is not None and not pending.in_list:
                self._finish(pending, pending.response)
            # Everyone may see a forgotten action's outcome: it is a broadcast event then. A
            # forgotten action stays remembered until its response, to drop that too.
            return not pending.abandoned
        # List items: after the response opened the list, or before the response of a known
        # list action, until the event that closes the list.
        if not pending.in_list and not (
            pending.response is None and pending.complete_on and pending.complete is None
        ):
            return False
        if event.get("EventList", "").lower() == "complete" or name == pending.complete_on:
            pending.complete = event
            if pending.abandoned:
                self._late_dropped += 1
            if pending.response is not None:
                self._finish(pending, pending.response)
            # Otherwise the list closed before its response: it completes when that comes.
            return True
        self._list_items += 1
        if pending.abandoned:
            self._late_dropped += 1
        elif pending.stream:
            pending.items += 1
            self._items.append(ListItem(pending.action.action_id or "", event))
        elif pending.items < pending.max_items:
            pending.items += 1
            pending.events.append(event)
        else:
            action_id = pending.action.action_id or ""
            error = ListTooLong(
                f"{pending.action.name}: the event list passed max_list_items="
                f"{pending.max_items} items; read long lists item by item instead",
                limit=pending.max_items,
            )
            self.forget(action_id)  # the rest of its list is dropped as it comes
            self._late_dropped += 1
            self._items.append(ActionAborted(action_id, pending.action, error))
        return True

    def _finish(
        self, pending: PendingAction, response: Response, *, error: Response | None = None
    ) -> None:
        """Complete ``pending``, answered by ``response``; a forgotten action is just dropped."""
        action_id = pending.action.action_id or ""
        self._claimers.pop(action_id, None)
        if pending.abandoned:
            self._abandoned.pop(action_id, None)  # its packets were counted as they came
            return
        del self._pending[action_id]
        result = ActionResult(
            action=pending.action,
            response=response,
            events=tuple(pending.events),
            complete=pending.complete,
            outcome=pending.outcome,
            error=error,
            items_received=pending.items,
        )
        self._items.append(ActionCompleted(result))

    # -- the end --------------------------------------------------------------------------------
    def close(self, reason: str = "closed locally") -> None:
        """Say that this side is closing the transport without a Goodbye (a Logoff that got no
        answer, a cancelled connection): every pending action is aborted, and the session ends
        ``CLOSED_LOCALLY``. Does nothing once the session is over."""
        if self._state not in (State.CLOSED, State.ERROR):
            self._terminate(Input.CLOSE, Ending.CLOSED_LOCALLY, reason)

    def connection_lost(self, error: BaseException) -> None:
        """Say that the transport broke (``error`` is what the I/O layer saw): every pending action
        is aborted, and the session ends with ``TRANSPORT_ERROR``. Does nothing once the session
        is over."""
        if self._state not in (State.CLOSED, State.ERROR):
            reason = f"the connection broke: {error}" if str(error) else "the connection broke"
            self._terminate(Input.TRANSPORT_FAILED, Ending.TRANSPORT_ERROR, reason, error)

    def _terminate(
        self, event: Input, ending: Ending, reason: str, error: BaseException | None = None
    ) -> None:
        self._move(event)
        terminated = ConnectionTerminated(ending, reason, error)
        for action_id, pending in self._pending.items():
            closed = terminated.closed_error(f"{pending.action.name} cannot complete")
            self._items.append(ActionAborted(action_id, pending.action, closed))
        self._pending.clear()
        self._claimers.clear()
        self._abandoned.clear()
        self._login_secret = None  # kept only while a challenge is awaited
        self._login_headers = []
        self.terminated = terminated
        self._items.append(terminated)
