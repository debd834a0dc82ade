"""ClientProtocol against a scripted server, with no sockets.

Every scenario is fed whole, one byte at a time and in random chunks (the ``split`` fixture).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings, strategies as st
from protocol_helpers import BANNER, Peer, event, legacy_command, packet, response
from sansio_helpers import Splitter, split_at, whole

from trio_ami.sansio import (
    LIST_ACTIONS,
    TRANSITIONS,
    Action,
    ActionAborted,
    ActionCompleted,
    ActionResult,
    BannerReceived,
    ClientProtocol,
    ConnectionClosed,
    ConnectionTerminated,
    Ending,
    Event,
    HeaderValue,
    Input,
    InvalidActionError,
    LimitExceeded,
    ListItem,
    ListTooLong,
    LocalProtocolError,
    LoginFailed,
    LoginSucceeded,
    Message,
    ProtocolItem,
    ProtocolStatistics,
    RemoteProtocolError,
    Response,
    State,
    UnexpectedMessage,
)
from trio_ami.sansio._state import ENDING_INPUTS, LOCAL_INPUTS


def ready_peer(split: Splitter = whole, proto: ClientProtocol | None = None) -> Peer:
    peer = Peer(split, proto)
    peer.ready()
    return peer


def completed(items: list[ProtocolItem]) -> list[ActionResult]:
    return [item.result for item in items if isinstance(item, ActionCompleted)]


def only_result(items: list[ProtocolItem]) -> ActionResult:
    results = completed(items)
    assert len(results) == 1, items
    return results[0]


def msg(data: bytes) -> Message:
    """The message ``data`` (one packet) parses to, for comparisons."""
    text = data.decode().replace("\r\n", "\n").rstrip("\n")
    return as_event(data) if text.startswith("Event: ") else as_response(data)


def as_event(data: bytes) -> Event:
    return Event(data.decode().replace("\r\n", "\n").rstrip("\n"))


def as_response(data: bytes) -> Response:
    return Response(data.decode().replace("\r\n", "\n").rstrip("\n"))


def state_of(peer: Peer) -> State:
    """The protocol's state, read through a call so that type checkers do not narrow it."""
    return peer.proto.state


# -- reaching each state, and applying each input --------------------------------------------------
class StatePeer(Peer):
    """A peer that remembers the Ping and Logoff it left pending on the way to a state."""

    ping_id: str | None = None
    logoff_id: str | None = None


# Every recipe leaves a Ping pending where the state allows one, so that RESPONSE can be driven.
def _connected(peer: StatePeer) -> None:
    peer.greet()
    peer.ping_id = peer.send(Action("Ping"))


def _challenge_sent(peer: StatePeer) -> None:
    _connected(peer)
    peer.login(auth="md5")


def _login_sent(peer: StatePeer) -> None:
    _connected(peer)
    peer.login(auth="plain")


def _ready(peer: StatePeer) -> None:
    peer.ready()
    peer.ping_id = peer.send(Action("Ping"))


def _logging_off(peer: StatePeer) -> None:
    _ready(peer)
    peer.logoff_id = peer.logoff()


def _logging_off_before_login(peer: StatePeer) -> None:
    _connected(peer)
    peer.logoff_id = peer.logoff()


def _closed(peer: StatePeer) -> None:
    peer.ready()
    peer.feed(response("Goodbye", peer.logoff(), ("Message", "Thanks for all the fish.")))


def _error(peer: StatePeer) -> None:
    peer.greet()
    peer.feed(event("FullyBooted"))  # an event before login


REACH: dict[State, Callable[[StatePeer], None]] = {
    State.AWAITING_BANNER: lambda peer: None,
    State.CONNECTED: _connected,
    State.CHALLENGE_SENT: _challenge_sent,
    State.LOGIN_SENT: _login_sent,
    State.READY: _ready,
    State.LOGGING_OFF: _logging_off,
    State.LOGGING_OFF_BEFORE_LOGIN: _logging_off_before_login,
    State.CLOSED: _closed,
    State.ERROR: _error,
}


def reach(state: State, split: Splitter = whole) -> StatePeer:
    # A small line limit lets any state be broken by one long line.
    peer = StatePeer(split, ClientProtocol(action_id_prefix="t", max_line_length=200))
    REACH[state](peer)
    assert state_of(peer) is state
    peer.proto.take_items()
    return peer


def _goodbye(peer: StatePeer) -> list[ProtocolItem]:
    if state_of(peer) in (State.LOGGING_OFF, State.LOGGING_OFF_BEFORE_LOGIN):
        return peer.feed(response("Goodbye", peer.logoff_id))
    return peer.feed(response("Goodbye", None, ("Message", "Thanks for all the fish.")))


APPLY: dict[Input, Callable[[StatePeer], object]] = {
    Input.SEND_CHALLENGE: lambda peer: peer.login(auth="md5"),
    Input.SEND_LOGIN: lambda peer: peer.login(auth="plain"),
    Input.SEND_ACTION: lambda peer: peer.send(Action("Ping")),
    Input.SEND_LOGOFF: lambda peer: peer.logoff(),
    Input.BANNER: lambda peer: peer.feed(BANNER),
    Input.CHALLENGE_ANSWERED: lambda peer: peer.feed(
        response("Success", peer.login_id, ("Challenge", "840415273"))
    ),
    Input.LOGIN_ACCEPTED: lambda peer: peer.feed(response("Success", peer.login_id)),
    Input.LOGIN_REFUSED: lambda peer: peer.feed(
        response("Error", peer.login_id, ("Message", "Authentication failed"))
    ),
    Input.RESPONSE: lambda peer: peer.feed(response("Success", peer.ping_id, ("Ping", "Pong"))),
    Input.EVENT: lambda peer: peer.feed(event("PeerStatus", None, ("Peer", "PJSIP/100"))),
    Input.GOODBYE: _goodbye,
    Input.LOGOFF_REFUSED: lambda peer: peer.feed(
        response("Error", peer.logoff_id, ("Message", "Permission denied"))
    ),
    Input.END_OF_STREAM: lambda peer: peer.eof(),
    Input.BROKEN_STREAM: lambda peer: peer.feed(b"x" * 300),
    Input.CLOSE: lambda peer: peer.proto.close(),
    Input.TRANSPORT_FAILED: lambda peer: peer.proto.connection_lost(OSError("reset by peer")),
}


def _key(transition: tuple[State, Input]) -> tuple[int, int]:
    states, inputs = list(State), list(Input)
    return states.index(transition[0]), inputs.index(transition[1])


def _id(transition: tuple[State, Input]) -> str:
    return f"{transition[0].name}-{transition[1].name}"


ALL_TRANSITIONS = sorted(TRANSITIONS, key=_key)


@pytest.mark.parametrize("transition", ALL_TRANSITIONS, ids=_id)
def test_every_transition(transition: tuple[State, Input], split: Splitter) -> None:
    state, inp = transition
    peer = reach(state, split)
    APPLY[inp](peer)
    assert state_of(peer) is TRANSITIONS[transition]


def test_transition_table_is_what_the_recipes_cover() -> None:
    # Every state has a recipe, every input an applier: the parametrization above is complete.
    assert set(REACH) == set(State)
    assert set(APPLY) == set(Input)
    assert {state for state, _ in TRANSITIONS}.isdisjoint({State.CLOSED, State.ERROR})
    local = {Input.SEND_CHALLENGE, Input.SEND_LOGIN, Input.SEND_ACTION, Input.SEND_LOGOFF}
    assert local | ENDING_INPUTS == LOCAL_INPUTS


def snapshot(proto: ClientProtocol) -> tuple[object, ...]:
    return (
        proto.state,
        proto.statistics(),
        proto.pending_action_ids,
        proto.banner,
        proto.fully_booted,
        proto.take_items(),
        proto.data_to_send(),
    )


ENDING = sorted(ENDING_INPUTS, key=list(Input).index)
FORBIDDEN_LOCAL = [
    (state, inp)
    for state in State
    for inp in sorted(LOCAL_INPUTS - ENDING_INPUTS, key=list(Input).index)
    if (state, inp) not in TRANSITIONS
]


@pytest.mark.parametrize("state", [State.CLOSED, State.ERROR])
@pytest.mark.parametrize("inp", ENDING)
def test_ending_inputs_do_nothing_once_the_session_is_over(state: State, inp: Input) -> None:
    # Closing what is closed is fine (an I/O layer's cleanup may run after the server's end).
    peer = reach(state)
    before = snapshot(peer.proto)
    APPLY[inp](peer)
    assert snapshot(peer.proto) == before


@pytest.mark.parametrize("transition", FORBIDDEN_LOCAL, ids=_id)
def test_forbidden_local_input_raises_and_changes_nothing(transition: tuple[State, Input]) -> None:
    state, inp = transition
    peer = reach(state)
    before = snapshot(peer.proto)
    written = bytes(peer.written)
    with pytest.raises(LocalProtocolError, match=f"in state {state.value!r}"):
        APPLY[inp](peer)
    assert snapshot(peer.proto) == before
    assert bytes(peer.written) == written


def test_refused_send_does_not_consume_an_action_id() -> None:
    peer = reach(State.LOGGING_OFF)
    with pytest.raises(LocalProtocolError):
        peer.proto.send_action(Action("Ping"))
    # Nothing changed, so the next ActionID is the one that would have come anyway.
    assert peer.proto.next_action_id() == "t-4"


def test_invalid_action_does_not_consume_an_action_id() -> None:
    peer = reach(State.READY)
    with pytest.raises(InvalidActionError):
        peer.proto.send_action(Action("Ping", {"Data": "x\r\nAction: Hangup"}))
    assert peer.send(Action("Ping")) == "t-3"


def test_invalid_action_changes_nothing() -> None:
    peer = reach(State.READY)
    before = snapshot(peer.proto)
    with pytest.raises(InvalidActionError):
        peer.proto.send_action(Action("Originate", {"Channel": "PJSIP/100\r\nAction: Hangup"}))
    with pytest.raises(InvalidActionError):
        peer.proto.send_action(Action("Ping", {"Data": "x" * 2000}))
    assert snapshot(peer.proto) == before


@pytest.mark.parametrize(
    "state",
    [State.CONNECTED, State.CHALLENGE_SENT, State.LOGIN_SENT, State.LOGGING_OFF_BEFORE_LOGIN],
)
def test_event_before_login_is_a_remote_protocol_error(state: State, split: Splitter) -> None:
    peer = reach(state, split)
    pending = peer.proto.pending_action_ids
    items = peer.feed(event("FullyBooted", None, ("Status", "Fully Booted")))
    assert state_of(peer) is State.ERROR
    terminated = items[-1]
    assert isinstance(terminated, ConnectionTerminated)
    assert isinstance(terminated.error, RemoteProtocolError)
    assert "event" in str(terminated.error)
    assert [item.action_id for item in items if isinstance(item, ActionAborted)] == pending
    assert not peer.proto.fully_booted


@pytest.mark.parametrize("state", [State.CHALLENGE_SENT, State.LOGIN_SENT])
def test_goodbye_while_logging_in_is_a_remote_protocol_error(state: State) -> None:
    peer = reach(state)
    items = peer.feed(response("Goodbye", None))
    assert state_of(peer) is State.ERROR
    assert isinstance(items[-1], ConnectionTerminated)
    assert isinstance(items[-1].error, RemoteProtocolError)


@pytest.mark.parametrize("state", [State.CLOSED, State.ERROR])
def test_nothing_is_received_after_the_end(state: State) -> None:
    peer = reach(state)
    before = snapshot(peer.proto)
    peer.proto.receive_data(event("Hangup") + response("Success", "t-1"))
    peer.proto.receive_data(b"")
    peer.proto.receive_data(b"more after the end")
    assert snapshot(peer.proto) == before


# -- banner ---------------------------------------------------------------------------------------
def test_a_fresh_protocol() -> None:
    proto = ClientProtocol()
    assert proto.state is State.AWAITING_BANNER
    assert proto.banner is None
    assert not proto.fully_booted
    assert proto.pending_action_ids == []
    assert proto.next_item() is None
    assert proto.take_items() == []
    assert proto.data_to_send() == b""
    assert proto.statistics() == ProtocolStatistics(
        state=State.AWAITING_BANNER,
        pending_actions=0,
        actions_sent=0,
        responses_received=0,
        events_received=0,
        events_delivered=0,
        list_items_received=0,
        unexpected_messages=0,
        late_packets_dropped=0,
        bytes_received=0,
        bytes_sent=0,
    )


def test_banner(split: Splitter) -> None:
    peer = Peer(split)
    items = peer.feed(b"Asterisk Call Manager/2.10.6\r\n")
    assert len(items) == 1
    assert isinstance(items[0], BannerReceived)
    assert items[0].banner.version == "2.10.6"
    assert peer.proto.banner == items[0].banner
    assert state_of(peer) is State.CONNECTED


def test_banner_and_packets_in_one_read() -> None:
    proto = ClientProtocol(action_id_prefix="t")
    proto.receive_data(BANNER + b"Response: Error\r\nActionID: x\r\n\r\n")
    items = proto.take_items()
    assert isinstance(items[0], BannerReceived)
    assert isinstance(items[1], UnexpectedMessage)
    assert len(items) == 2
    assert proto.state is State.CONNECTED


def test_not_a_banner_breaks_the_session() -> None:
    peer = Peer()
    items = peer.feed(b"HTTP/1.1 400 Bad Request\r\n")
    assert state_of(peer) is State.ERROR
    assert len(items) == 1
    assert isinstance(items[0], ConnectionTerminated)
    assert isinstance(items[0].error, RemoteProtocolError)


def test_eof_inside_the_banner_is_an_error() -> None:
    peer = Peer()
    assert peer.feed(b"Asterisk Call Man") == []
    items = peer.eof()
    assert state_of(peer) is State.ERROR
    assert isinstance(items[-1], ConnectionTerminated)
    assert isinstance(items[-1].error, RemoteProtocolError)


def test_eof_before_the_banner_closes_as_the_table_says() -> None:
    # TRANSITIONS has (AWAITING_BANNER, END_OF_STREAM) -> CLOSED: a server that closes at once
    # (too many sessions, refused address) ends the session cleanly, with nothing pending.
    assert TRANSITIONS[State.AWAITING_BANNER, Input.END_OF_STREAM] is State.CLOSED
    peer = Peer()
    items = peer.eof()
    assert state_of(peer) is State.CLOSED
    assert items == [
        ConnectionTerminated(Ending.CLOSED_BY_SERVER, "the server closed the connection")
    ]
    peer.proto.receive_data(BANNER)  # nothing after the end is looked at
    assert peer.proto.take_items() == []
    assert peer.proto.banner is None


@pytest.mark.parametrize("tail", [b"\r", b"Asterisk"])
def test_eof_after_a_partial_banner_is_still_an_error(tail: bytes) -> None:
    peer = Peer()
    peer.feed(tail)
    items = peer.eof()
    assert state_of(peer) is State.ERROR
    assert isinstance(items[-1], ConnectionTerminated)
    assert isinstance(items[-1].error, RemoteProtocolError)


# -- login ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("events", "header"),
    [
        (None, None),
        (True, "on"),
        (False, "off"),
        ("call", "call"),
        (["call", "system"], "call,system"),
        (("user",), "user"),
    ],
)
def test_plain_login_bytes(events: bool | str | list[str] | None, header: str | None) -> None:
    proto = ClientProtocol(action_id_prefix="t")
    proto.receive_data(BANNER)
    data = proto.login("admin", "amp111", auth="plain", events=events)
    expected = b"Action: Login\r\nActionID: t-1\r\nUsername: admin\r\nSecret: amp111\r\n"
    if header is not None:
        expected += f"Events: {header}\r\n".encode()
    assert data == expected + b"\r\n"
    assert proto.state is State.LOGIN_SENT
    assert proto.pending_action_ids == ["t-1"]


@pytest.mark.parametrize(
    ("events", "header"),
    [(None, None), (True, "on"), (False, "off"), (["call", "system"], "call,system")],
)
def test_md5_login(events: bool | list[str] | None, header: str | None, split: Splitter) -> None:
    peer = Peer(split)
    peer.greet()
    challenge = peer.proto.login("admin", "amp111", events=events)  # MD5 is the default
    assert challenge == b"Action: Challenge\r\nActionID: t-1\r\nAuthType: md5\r\n\r\n"
    peer.write(challenge)
    assert state_of(peer) is State.CHALLENGE_SENT
    assert peer.proto.data_to_send() == b""
    written = len(peer.written)
    # The challenge is not reported; the Login answering it is queued in data_to_send().
    assert peer.feed(response("Success", "t-1", ("Challenge", "840415273"))) == []
    assert state_of(peer) is State.LOGIN_SENT
    key = hashlib.md5(b"840415273amp111").hexdigest()
    expected = (
        f"Action: Login\r\nActionID: t-2\r\nAuthType: md5\r\nUsername: admin\r\nKey: {key}\r\n"
    )
    if header is not None:
        expected += f"Events: {header}\r\n"
    assert bytes(peer.written[written:]) == (expected + "\r\n").encode()
    assert peer.proto.data_to_send() == b""
    assert peer.proto.pending_action_ids == ["t-2"]
    assert peer.proto.statistics().bytes_sent == len(peer.written)
    items = peer.feed(response("Success", "t-2", ("Message", "Authentication accepted")))
    assert items == [
        LoginSucceeded(
            as_response(response("Success", "t-2", ("Message", "Authentication accepted")))
        )
    ]
    assert state_of(peer) is State.READY
    assert peer.proto.pending_action_ids == []


def test_md5_key_is_lowercase_hex_of_challenge_then_secret() -> None:
    peer = Peer()
    peer.greet()
    peer.login("mark", "Pa55:wörd", auth="md5")
    peer.feed(response("Success", "t-1", ("Challenge", "ABCdef")))
    [login] = peer.sent()
    key = login["Key"]
    assert key == hashlib.md5("ABCdefPa55:wörd".encode()).hexdigest()
    assert key == key.lower()
    assert len(key) == 32
    assert login["Username"] == "mark"


def test_refused_login_call_keeps_the_pending_challenge() -> None:
    peer = Peer()
    peer.greet()
    peer.login("admin", "amp111", auth="md5")
    with pytest.raises(LocalProtocolError):
        peer.proto.login("intruder", "other-secret", auth="md5", events=True)
    peer.feed(response("Success", "t-1", ("Challenge", "840415273")))
    [login] = peer.sent()
    # The Login answering the challenge is the one that was started, not the refused one.
    assert login["Username"] == "admin"
    assert login["Key"] == hashlib.md5(b"840415273amp111").hexdigest()
    assert "Events" not in login


@pytest.mark.parametrize("how", ["eof", "broken", "goodbye"])
def test_plain_login_secret_is_never_handed_out(how: str) -> None:
    peer = Peer(whole, ClientProtocol(action_id_prefix="t", max_line_length=200))
    peer.greet()
    peer.login("admin", "amp111", auth="plain", events=["call"])
    assert b"Secret: amp111\r\n" in peer.written  # the server needs it
    if how == "eof":
        items = peer.eof()
    elif how == "broken":
        items = peer.feed(b"x" * 300)
    else:
        items = peer.feed(response("Goodbye", None))
    [aborted] = [item for item in items if isinstance(item, ActionAborted)]
    assert aborted.action_id == "t-1"
    assert aborted.action.action_id == "t-1"
    assert aborted.action.headers == (
        ("Username", "admin"),
        ("Secret", "********"),
        ("Events", "call"),
    )
    assert "amp111" not in repr(items)


def test_md5_login_that_could_not_answer_the_challenge_is_refused_at_once() -> None:
    peer = reach(State.CONNECTED)
    before = snapshot(peer.proto)
    with pytest.raises(InvalidActionError):
        peer.proto.login("admin\r\nAction: Originate", "amp111", auth="md5")
    with pytest.raises(InvalidActionError):
        peer.proto.login("admin", "amp111", auth="md5", events=["x" * 1024])
    assert snapshot(peer.proto) == before
    # A valid login still works, and the challenge's answer never makes receive_data raise.
    peer.login("admin", "amp111", auth="md5")
    peer.feed(response("Success", peer.login_id, ("Challenge", "1234")))
    assert state_of(peer) is State.LOGIN_SENT


def test_login_with_an_unknown_auth_is_refused() -> None:
    peer = reach(State.CONNECTED)
    before = snapshot(peer.proto)
    with pytest.raises(LocalProtocolError, match="auth"):
        peer.proto.login("admin", "amp111", auth="sha1")
    assert snapshot(peer.proto) == before


@pytest.mark.parametrize("name", ["Login", "login", "CHALLENGE", "Challenge"])
def test_login_actions_must_go_through_login(name: str) -> None:
    peer = reach(State.CONNECTED)
    before = snapshot(peer.proto)
    with pytest.raises(LocalProtocolError, match="login"):
        peer.proto.send_action(Action(name, {"Username": "admin", "Secret": "amp111"}))
    assert snapshot(peer.proto) == before


@pytest.mark.parametrize("auth", ["plain", "md5"])
def test_refused_login(auth: str, split: Splitter) -> None:
    peer = Peer(split)
    peer.greet()
    ping = peer.send(Action("Ping"))  # sent before login: aborted when the session ends
    login_id = peer.login(auth=auth)
    if auth == "md5":
        peer.feed(response("Success", login_id, ("Challenge", "1234")))
        login_id = peer.last_action_id()
    refusal = response("Error", login_id, ("Message", "Authentication failed"))
    items = peer.feed(refusal, event("Late"), response("Success", ping))
    assert items[0] == LoginFailed(as_response(refusal), "Authentication failed")
    assert isinstance(items[1], ActionAborted)
    assert items[1].action_id == ping
    assert isinstance(items[1].error, ConnectionClosed)
    assert "Authentication failed" in items[1].error.reason
    assert isinstance(items[2], ConnectionTerminated)
    assert items[2].error is None
    assert len(items) == 3
    assert state_of(peer) is State.CLOSED
    assert peer.proto.pending_action_ids == []
    assert peer.eof() == []


def test_refused_login_without_a_message() -> None:
    peer = reach(State.LOGIN_SENT)
    items = peer.feed(response("Goodbye", peer.login_id))
    assert items[0] == LoginFailed(as_response(response("Goodbye", peer.login_id)), "login refused")
    assert state_of(peer) is State.CLOSED


@pytest.mark.parametrize(
    "answer",
    [
        response("Error", "t-2", ("Message", "Must specify AuthType")),
        response("Success", "t-2"),  # no Challenge header
        response("Success", "t-2", ("Challenge", "")),
    ],
    ids=["error", "no-challenge", "empty-challenge"],
)
def test_challenge_not_answered(answer: bytes, split: Splitter) -> None:
    peer = reach(State.CHALLENGE_SENT, split)
    assert peer.login_id == "t-2"
    items = peer.feed(answer)
    assert isinstance(items[0], LoginFailed)
    assert items[0].response == msg(answer)
    assert isinstance(items[-1], ConnectionTerminated)
    assert state_of(peer) is State.CLOSED
    assert peer.sent() == []  # no Login was sent
    assert peer.proto.data_to_send() == b""


def test_fully_booted(split: Splitter) -> None:
    peer = Peer(split)
    peer.greet()
    peer.login(auth="plain")
    assert not peer.proto.fully_booted
    booted = event("FullyBooted", None, ("Privilege", "system,all"), ("Status", "Fully Booted"))
    items = peer.feed(response("Success", "t-1"), booted)
    assert isinstance(items[0], LoginSucceeded)
    assert items[1] == msg(booted)
    assert peer.proto.fully_booted
    peer.feed(booted)  # a second one changes nothing
    assert peer.proto.fully_booted


# -- single responses -----------------------------------------------------------------------------
def test_single_response(split: Splitter) -> None:
    peer = ready_peer(split)
    action = Action("Ping")
    action_id = peer.send(action)
    assert action_id == "t-2"
    assert peer.sent()[0].headers == (("Action", "Ping"), ("ActionID", "t-2"))
    assert peer.proto.pending_action_ids == ["t-2"]
    pong = response("Success", "t-2", ("Ping", "Pong"), ("Timestamp", "1795672356.276843"))
    items = peer.feed(pong)
    assert items == [
        ActionCompleted(
            ActionResult(action=action.with_action_id("t-2"), response=as_response(pong))
        )
    ]
    result = only_result(items)
    assert isinstance(items[0], ActionCompleted)
    assert result.action_id == items[0].action_id == "t-2"
    assert result.success
    assert result.failure is None
    assert result.message == ""
    assert result.events == ()
    assert result.complete is None
    assert result.outcome is None
    assert result.error is None
    assert result.items_received == 0
    assert result.expected_items is None
    assert result.items_match
    assert result.output == []
    assert peer.proto.pending_action_ids == []


def test_error_response(split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(Action("Getvar", {"Channel": "nope", "Variable": "X"}))
    error = response("Error", action_id, ("Message", "No such channel"))
    result = only_result(peer.feed(error))
    assert not result.success
    assert result.failure == msg(error)
    assert result.message == "No such channel"


def test_responses_are_matched_by_action_id_not_order(split: Splitter) -> None:
    peer = ready_peer(split)
    first = peer.send(Action("Ping"))
    second = peer.send(Action("Ping"))
    results = completed(peer.feed(response("Success", second), response("Success", first)))
    assert [r.action_id for r in results] == [second, first]
    assert [r.response.action_id for r in results] == [second, first]


def test_event_with_the_action_id_of_a_single_response_action_is_broadcast(split: Splitter) -> None:
    # UserEvent: the event it raises carries the action's ActionID, before or after the response.
    peer = ready_peer(split)
    action_id = peer.send(Action("UserEvent", {"UserEvent": "MyEvent", "Header1": "value1"}))
    raised = event("UserEvent", action_id, ("UserEvent", "MyEvent"), ("Header1", "value1"))
    items = peer.feed(raised, response("Success", action_id, ("Message", "Event Sent")), raised)
    assert items[0] == msg(raised)
    assert isinstance(items[1], ActionCompleted)
    assert items[2] == msg(raised)


def test_responses_that_belong_to_nothing(split: Splitter) -> None:
    peer = ready_peer(split)
    no_id = response("Success", None, ("Ping", "Pong"))
    unknown = response("Success", "someone-else-7", ("Ping", "Pong"))
    items = peer.feed(no_id, unknown)
    assert items == [
        UnexpectedMessage(msg(no_id), "response with no ActionID"),
        UnexpectedMessage(msg(unknown), "response with ActionID 'someone-else-7' not pending"),
    ]
    assert state_of(peer) is State.READY
    assert peer.proto.statistics().unexpected_messages == 2


def test_response_to_a_completed_action_is_unexpected() -> None:
    peer = ready_peer()
    action_id = peer.send(Action("Ping"))
    peer.feed(response("Success", action_id))
    items = peer.feed(response("Success", action_id))
    assert len(items) == 1
    assert isinstance(items[0], UnexpectedMessage)


@pytest.mark.parametrize("state", [State.CONNECTED, State.READY])
def test_packets_that_are_neither_response_nor_event(state: State, split: Splitter) -> None:
    peer = reach(state, split)
    odd = packet(("Foo", "bar"), ("ActionID", "t-1"))
    no_colon = b"just some text\r\n\r\n"
    items = peer.feed(odd, no_colon)
    unexpected = [item for item in items if isinstance(item, UnexpectedMessage)]
    assert len(unexpected) == len(items) == 2
    assert all(item.reason == "neither a response nor an event" for item in unexpected)
    assert unexpected[0].message["Foo"] == "bar"
    assert not isinstance(unexpected[1].message, (Event, Response))
    assert state_of(peer) is state


# -- event lists ----------------------------------------------------------------------------------
CHANNELS = [
    event("CoreShowChannel", "{id}", ("Channel", "Local/300@test-00000002;1")),
    event("CoreShowChannel", "{id}", ("Channel", "Local/300@test-00000002;2")),
]


def items_for(action_id: str, *templates: bytes) -> list[bytes]:
    return [template.replace(b"{id}", action_id.encode()) for template in templates]


@pytest.mark.parametrize(
    ("start", "complete"),
    [("start", "Complete"), ("Start", "complete"), ("START", "COMPLETE")],
)
def test_event_list(start: str, complete: str, split: Splitter) -> None:
    # "Hangup" is not a known list action: only EventList: start makes it a list.
    peer = ready_peer(split)
    action_id = peer.send(Action("Hangup", {"Channel": "/^Local/"}))
    opened = response("Success", action_id, ("EventList", start), ("Message", "will follow"))
    members = items_for(action_id, *CHANNELS)
    done = event(
        "ChannelsHungupListComplete", action_id, ("EventList", complete), ("ListItems", "2")
    )
    hangup = event("Hangup", None, ("Channel", "Local/300@test-00000002;1"))
    items = peer.feed(opened, members[0], hangup, members[1], done)
    assert items[0] == msg(hangup)
    result = only_result(items)
    assert len(items) == 2
    assert result.response == msg(opened)
    assert result.events == tuple(msg(m) for m in members)
    assert result.complete == msg(done)
    assert result.items_received == 2
    assert result.expected_items == 2
    assert result.items_match
    assert result.success
    assert result.message == "will follow"
    stats = peer.proto.statistics()
    assert stats.list_items_received == 2
    assert stats.events_received == 4
    assert stats.events_delivered == 1


@pytest.mark.parametrize(
    ("announced", "match"),
    [
        ("3", False),
        ("1", False),
        ("2", True),
        ("", True),
        ("n/a", True),
        # Only ASCII digits are a count: isdigit() is true for "²", which int() refuses.
        ("²", True),
        ("2²", True),
        ("٢", True),  # int() reads it as 2
        (" 2", True),
        ("2" * 5000, True),  # int() refuses more than 4300 digits
    ],
)
def test_list_items_count(announced: str, match: bool, split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(Action("CoreShowChannels"))
    done = event(
        "CoreShowChannelsComplete", action_id, ("EventList", "Complete"), ("ListItems", announced)
    )
    result = only_result(
        peer.feed(
            response("Success", action_id, ("EventList", "start")),
            *items_for(action_id, *CHANNELS),
            done,
        )
    )
    assert result.items_received == 2
    assert result.items_match is match
    assert result.expected_items == (int(announced) if announced in ("1", "2", "3") else None)
    assert result.success  # a count mismatch is reported, not a failure


def test_list_without_list_items_header() -> None:
    peer = ready_peer()
    action_id = peer.send(Action("CoreShowChannels"))
    result = only_result(
        peer.feed(
            response("Success", action_id, ("EventList", "start")),
            event("CoreShowChannelsComplete", action_id, ("EventList", "Complete")),
        )
    )
    assert result.expected_items is None
    assert result.items_match
    assert result.events == ()


def test_empty_list_in_the_same_read() -> None:
    peer = ready_peer()
    action_id = peer.send(Action("SIPshowregistry"))
    result = only_result(
        peer.feed(
            response(
                "Success",
                action_id,
                ("EventList", "start"),
                ("Message", "Registrations will follow"),
            )
            + event(
                "RegistrationsComplete", action_id, ("EventList", "Complete"), ("ListItems", "0")
            )
        )
    )
    assert result.items_received == 0
    assert result.items_match


def test_error_after_the_list_started(split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(Action("QueueStatus"))
    opened = response("Success", action_id, ("EventList", "start"))
    first = event("QueueParams", action_id, ("Queue", "support"))
    abort = response("Error", action_id, ("Message", "Queue went away"))
    result = only_result(peer.feed(opened, first, abort))
    assert result.response == msg(opened)
    assert result.error == msg(abort)
    assert not result.success
    assert result.failure == msg(abort)
    assert result.message == "Queue went away"
    assert result.events == (msg(first),)
    assert result.complete is None
    # The list is over: a late Complete carrying its ActionID is just an event now.
    late = event("QueueStatusComplete", action_id, ("EventList", "Complete"))
    assert peer.feed(late) == [msg(late)]


def test_error_instead_of_a_list(split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(Action("CoreShowChannels"))
    denied = response("Error", action_id, ("Message", "Permission denied"))
    result = only_result(peer.feed(denied))
    assert result.response == msg(denied)
    assert result.error is None
    assert not result.success
    assert result.message == "Permission denied"
    stray = event("CoreShowChannel", action_id)
    assert peer.feed(stray) == [msg(stray)]


def test_second_success_response_to_a_list_is_unexpected() -> None:
    peer = ready_peer()
    action_id = peer.send(Action("CoreShowChannels"))
    peer.feed(response("Success", action_id, ("EventList", "start")))
    again = response("Success", action_id, ("EventList", "start"))
    assert peer.feed(again) == [UnexpectedMessage(msg(again), "second response to a list action")]
    done = event(
        "CoreShowChannelsComplete", action_id, ("EventList", "Complete"), ("ListItems", "0")
    )
    assert only_result(peer.feed(done)).complete == msg(done)


@pytest.mark.parametrize("name", ["Status", "status", "STATUS"])
def test_known_list_action_without_event_list_header(name: str, split: Splitter) -> None:
    # Old Asterisk: Status answers without "EventList: start" and ends with StatusComplete,
    # which carries "Items", not "EventList: Complete" / "ListItems".
    peer = ready_peer(split)
    action_id = peer.send(Action(name))
    opened = response("Success", action_id, ("Message", "Channel status will follow"))
    members = [event("Status", action_id, ("Channel", f"SIP/alice-0000000{n}")) for n in range(3)]
    done = event("StatusComplete", action_id, ("Items", "3"))
    items = peer.feed(opened, *members, done)
    result = only_result(items)
    assert len(items) == 1
    assert result.events == tuple(msg(m) for m in members)
    assert result.complete == msg(done)
    assert result.expected_items is None
    assert result.items_match


@pytest.mark.parametrize(("action", "complete"), sorted(LIST_ACTIONS.items()))
def test_every_known_list_action_completes_on_its_event(action: str, complete: str) -> None:
    peer = ready_peer()
    action_id = peer.send(Action(action))
    member = event("Entry", action_id, ("Name", "x"))
    result = only_result(
        peer.feed(response("Success", action_id), member, event(complete, action_id))
    )
    assert result.complete is not None
    assert result.complete.name == complete
    assert result.events == (msg(member),)


def test_list_items_before_the_response_of_a_known_list_action() -> None:
    peer = ready_peer()
    action_id = peer.send(Action("CoreShowChannels"))
    member = items_for(action_id, CHANNELS[0])[0]
    items = peer.feed(member, response("Success", action_id, ("EventList", "start")))
    assert items == []
    done = event(
        "CoreShowChannelsComplete", action_id, ("EventList", "Complete"), ("ListItems", "1")
    )
    result = only_result(peer.feed(done))
    assert result.events == (msg(member),)
    assert result.items_match


def test_list_complete_before_the_response_of_a_known_list_action() -> None:
    # A peer that closes a list before answering must not crash the protocol: the list either
    # completes when the response comes, or the stream is refused as broken.
    peer = ready_peer()
    action_id = peer.send(Action("CoreShowChannels"))
    done = event(
        "CoreShowChannelsComplete", action_id, ("EventList", "Complete"), ("ListItems", "0")
    )
    items = peer.feed(done, response("Success", action_id, ("EventList", "start")))
    if state_of(peer) is State.READY:
        assert only_result(items).complete == msg(done)
    else:
        assert state_of(peer) is State.ERROR
        assert isinstance(items[-1], ConnectionTerminated)
        assert isinstance(items[-1].error, RemoteProtocolError)


def test_list_closed_before_its_response_keeps_its_items_and_ends_its_claim(
    split: Splitter,
) -> None:
    peer = ready_peer(split)
    action_id = peer.send(Action("Status"))
    member = event("Status", action_id, ("Channel", "SIP/alice-00000001"))
    done = event("StatusComplete", action_id, ("Items", "1"))
    after = event("Status", action_id, ("Channel", "SIP/bob-00000002"))  # the list is over
    items = peer.feed(member, done, after)
    assert items == [msg(after)]
    assert peer.proto.pending_action_ids == [action_id]
    opened = response("Success", action_id, ("Message", "Channel status will follow"))
    result = only_result(peer.feed(opened))
    assert result.response == msg(opened)
    assert result.events == (msg(member),)
    assert result.complete == msg(done)
    assert result.success
    assert peer.proto.pending_action_ids == []


def test_list_closed_before_an_error_response() -> None:
    peer = ready_peer()
    action_id = peer.send(Action("CoreShowChannels"))
    done = event("CoreShowChannelsComplete", action_id, ("EventList", "Complete"))
    denied = response("Error", action_id, ("Message", "Permission denied"))
    result = only_result(peer.feed(done, denied))
    assert not result.success
    assert result.message == "Permission denied"
    assert result.complete == msg(done)


def test_list_actions_override() -> None:
    proto = ClientProtocol(
        action_id_prefix="t",
        list_actions={"MyModuleList": "MyModuleListDone", "STATUS": "MyStatusEnd"},
    )
    peer = ready_peer(proto=proto)
    custom = peer.send(Action("mymodulelist"))
    status = peer.send(Action("Status"))
    peers = peer.send(Action("SIPpeers"))  # still the default
    items = peer.feed(
        response("Success", custom),
        event("MyModuleListEntry", custom),
        event("MyModuleListDone", custom),
        response("Success", status),
        event("StatusComplete", status),  # no longer the end of Status
        event("MyStatusEnd", status),
        response("Success", peers),
        event("PeerlistComplete", peers),
    )
    results = {result.action_id: result for result in completed(items)}
    assert results[custom].complete == msg(event("MyModuleListDone", custom))
    assert len(results[custom].events) == 1
    assert results[status].events == (msg(event("StatusComplete", status)),)
    assert results[peers].complete == msg(event("PeerlistComplete", peers))
    assert list(results) == [custom, status, peers]
    # The module-level table is unchanged.
    assert LIST_ACTIONS["status"] == "StatusComplete"
    assert "mymodulelist" not in LIST_ACTIONS


def test_list_actions_override_with_an_empty_name_removes_an_action() -> None:
    proto = ClientProtocol(action_id_prefix="t", list_actions={"STATUS": "", "NotAList": ""})
    peer = ready_peer(proto=proto)
    status = peer.send(Action("Status"))
    member = event("Status", status, ("Channel", "SIP/alice-00000001"))
    items = peer.feed(member, response("Success", status))
    assert items[0] == msg(member)  # no longer a list item: broadcast
    assert only_result(items).events == ()
    # EventList: start still opens a list.
    listing = peer.send(Action("Status"))
    result = only_result(
        peer.feed(
            response("Success", listing, ("EventList", "start")),
            event("StatusComplete", listing, ("EventList", "Complete"), ("ListItems", "0")),
        )
    )
    assert result.complete is not None
    assert LIST_ACTIONS["status"] == "StatusComplete"


def test_complete_on_argument() -> None:
    peer = ready_peer()
    action_id = peer.send(Action("ShowThings"), complete_on="ThingsDone")
    member = event("Thing", action_id, ("Name", "x"))
    done = event("thingsdone", action_id)  # matched case-insensitively
    result = only_result(peer.feed(response("Success", action_id), member, done))
    assert result.events == (msg(member),)
    assert result.complete == msg(done)


def test_streamed_list(split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(Action("CoreShowChannels"), stream=True)
    members = items_for(action_id, *CHANNELS)
    other = event("Newchannel", None, ("Channel", "PJSIP/100-00000001"))
    done = event(
        "CoreShowChannelsComplete", action_id, ("EventList", "Complete"), ("ListItems", "2")
    )
    opened = response("Success", action_id, ("EventList", "start"))
    items = peer.feed(opened, members[0], other, members[1], done)
    assert items[:3] == [
        ListItem(action_id, as_event(members[0])),
        msg(other),
        ListItem(action_id, as_event(members[1])),
    ]
    result = only_result(items)
    assert len(items) == 4
    assert result.events == ()
    assert result.items_received == 2
    assert result.items_match
    assert result.complete == msg(done)
    assert peer.proto.statistics().list_items_received == 2


def test_streamed_list_count_mismatch() -> None:
    peer = ready_peer()
    action_id = peer.send(Action("CoreShowChannels"), stream=True)
    done = event(
        "CoreShowChannelsComplete", action_id, ("EventList", "Complete"), ("ListItems", "5")
    )
    result = only_result(peer.feed(response("Success", action_id, ("EventList", "start")), done))
    assert result.items_received == 0
    assert not result.items_match


def test_concurrent_lists_keep_their_own_items(split: Splitter) -> None:
    peer = ready_peer(split)
    a = peer.send(Action("CoreShowChannels"))
    b = peer.send(Action("SIPpeers"))
    a_items = [event("CoreShowChannel", a, ("N", str(n))) for n in range(3)]
    b_items = [event("PeerEntry", b, ("N", str(n))) for n in range(2)]
    feed = [
        response("Success", b, ("EventList", "start")),
        response("Success", a, ("EventList", "start")),
        a_items[0],
        b_items[0],
        a_items[1],
        b_items[1],
        event("PeerlistComplete", b, ("EventList", "Complete"), ("ListItems", "2")),
        a_items[2],
        event("CoreShowChannelsComplete", a, ("EventList", "Complete"), ("ListItems", "3")),
    ]
    results = completed(peer.feed(*feed))
    assert [r.action_id for r in results] == [b, a]
    assert results[0].events == tuple(map(msg, b_items))
    assert results[1].events == tuple(map(msg, a_items))
    assert all(r.items_match for r in results)


# -- outcomes (async Originate) -------------------------------------------------------------------
ORIGINATE_HEADERS: dict[str, HeaderValue] = {
    "Channel": "Local/100@test",
    "Application": "Wait",
    "Data": "2",
    "Async": True,
}
ORIGINATE = Action("Originate", ORIGINATE_HEADERS)


def outcome(action_id: str, result: str = "Success", *headers: tuple[str, str]) -> bytes:
    return event(
        "OriginateResponse",
        action_id,
        ("Response", result),
        ("Channel", "Local/100@test-00000004;1"),
        *headers,
    )


def test_originate_outcome_after_the_response(split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    assert peer.sent()[0]["Async"] == "true"
    queued = response("Success", action_id, ("Message", "Originate successfully queued"))
    newchannel = event("Newchannel", None, ("Channel", "Local/100@test-00000004;1"))
    assert peer.feed(queued, newchannel) == [msg(newchannel)]
    assert peer.proto.pending_action_ids == [action_id]
    items = peer.feed(outcome(action_id, "Success", ("Reason", "4")))
    result = only_result(items)
    assert len(items) == 1
    assert result.response == msg(queued)
    assert result.outcome == msg(outcome(action_id, "Success", ("Reason", "4")))
    assert result.success
    assert result.failure is None
    assert result.message == "Originate successfully queued"


def test_originate_outcome_before_the_response(split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(ORIGINATE, outcome_event="originateresponse")
    assert peer.feed(outcome(action_id)) == []
    queued = response("Success", action_id, ("Message", "Originate successfully queued"))
    result = only_result(peer.feed(queued))
    assert result.outcome == msg(outcome(action_id))
    assert result.success


def test_originate_failure_outcome(split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    failed = outcome(action_id, "Failure", ("Reason", "0"))
    result = only_result(peer.feed(response("Success", action_id), failed))
    assert not result.success
    assert result.failure == msg(failed)
    # OriginateResponse says why in a Reason code (no Message), which the message spells out.
    assert result.message == "Failure (reason 0: failed, or no such extension or number)"
    assert result.outcome == msg(failed)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ((("Reason", "1"),), "Failure (reason 1: hung up)"),
        ((("Reason", "3"),), "Failure (reason 3: no answer)"),
        ((("Reason", "5"),), "Failure (reason 5: busy)"),
        ((("Reason", "8"),), "Failure (reason 8: congestion)"),
        ((("Reason", "42"),), "Failure (reason 42)"),
        ((), "Failure"),
        ((("Reason", "5"), ("Message", "Line busy")), "Line busy"),
    ],
)
def test_originate_failure_message_is_readable(
    headers: tuple[tuple[str, str], ...], message: str
) -> None:
    peer = ready_peer()
    action_id = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    failed = outcome(action_id, "Failure", *headers)
    result = only_result(peer.feed(response("Success", action_id), failed))
    assert result.message == message
    assert result.failure == result.outcome == msg(failed)  # the event itself is untouched


def test_outcome_messages_other_than_a_failed_originate_are_as_sent() -> None:
    peer = ready_peer()
    originate = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    queued = response("Success", originate, ("Message", "Originate successfully queued"))
    done = only_result(peer.feed(queued, outcome(originate, "Success", ("Reason", "4"))))
    assert done.message == "Originate successfully queued"
    other = peer.send(Action("Transfer"), outcome_event="TransferOutcome")
    failed = event("TransferOutcome", other, ("Response", "Failure"), ("Reason", "5"))
    assert only_result(peer.feed(response("Success", other), failed)).message == "5"


def test_originate_error_response_completes_at_once(split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    denied = response("Error", action_id, ("Message", "Originate failed"))
    result = only_result(peer.feed(denied))
    assert result.outcome is None
    assert not result.success
    assert result.message == "Originate failed"
    assert peer.proto.pending_action_ids == []
    # No outcome will come; if one did, it would be an ordinary event.
    assert peer.feed(outcome(action_id)) == [msg(outcome(action_id))]


def test_originate_outcome_then_error_response() -> None:
    peer = ready_peer()
    action_id = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    peer.feed(outcome(action_id))
    result = only_result(peer.feed(response("Error", action_id, ("Message", "Originate failed"))))
    assert result.outcome == msg(outcome(action_id))
    assert not result.success
    assert result.failure == msg(response("Error", action_id, ("Message", "Originate failed")))


def test_other_events_with_the_originate_action_id_are_broadcast() -> None:
    peer = ready_peer()
    action_id = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    other = event("VarSet", action_id, ("Variable", "X"))
    assert peer.feed(other) == [msg(other)]
    peer.feed(response("Success", action_id))
    assert peer.feed(other) == [msg(other)]
    assert peer.proto.pending_action_ids == [action_id]


def test_second_response_while_waiting_for_the_outcome() -> None:
    peer = ready_peer()
    action_id = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    peer.feed(response("Success", action_id))
    again = response("Success", action_id)
    assert peer.feed(again) == [UnexpectedMessage(msg(again), "second response to an action")]
    assert only_result(peer.feed(outcome(action_id))).success


def test_another_clients_originate_response_is_broadcast(split: Splitter) -> None:
    peer = ready_peer(split)
    mine = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    theirs = outcome("4f1c2a9e07b3-12", "Failure")
    assert peer.feed(theirs) == [msg(theirs)]
    assert peer.proto.pending_action_ids == [mine]


def test_without_outcome_event_originate_completes_on_its_response() -> None:
    peer = ready_peer()
    action_id = peer.send(ORIGINATE)
    result = only_result(peer.feed(response("Success", action_id)))
    assert result.outcome is None
    assert peer.feed(outcome(action_id)) == [msg(outcome(action_id))]


# -- events ---------------------------------------------------------------------------------------
def test_events_are_delivered_in_order(split: Splitter) -> None:
    peer = ready_peer(split)
    events = [event("Newchannel", None, ("Channel", f"PJSIP/{n}")) for n in range(5)]
    events.append(event("Hangup", "not-ours-1", ("Cause", "16")))
    assert peer.feed(*events) == [msg(e) for e in events]


def test_events_while_logging_off_are_delivered() -> None:
    peer = reach(State.LOGGING_OFF)
    hangup = event("Hangup")
    assert peer.feed(hangup) == [msg(hangup)]
    assert state_of(peer) is State.LOGGING_OFF


# -- Goodbye and the end --------------------------------------------------------------------------
def test_logoff(split: Splitter) -> None:
    peer = ready_peer(split)
    ping = peer.send(Action("Ping"))
    logoff = peer.logoff()
    assert state_of(peer) is State.LOGGING_OFF
    goodbye = response("Goodbye", logoff, ("Message", "Thanks for all the fish."))
    items = peer.feed(response("Success", ping), event("Hangup"), goodbye, event("AfterGoodbye"))
    assert [type(item) for item in items] == [
        ActionCompleted,
        Event,
        ActionCompleted,
        ConnectionTerminated,
    ]
    assert isinstance(items[2], ActionCompleted)
    result = items[2].result
    assert result.action.name == "Logoff"
    assert result.success
    assert result.message == "Thanks for all the fish."
    assert items[3] == ConnectionTerminated(Ending.LOGGED_OFF, "logged off")
    assert state_of(peer) is State.CLOSED
    assert peer.eof() == []
    assert peer.proto.statistics().events_received == 1  # nothing after Goodbye is looked at


def test_logoff_through_send_action() -> None:
    peer = ready_peer()
    action_id = peer.send(Action("LOGOFF"))
    assert state_of(peer) is State.LOGGING_OFF
    items = peer.feed(response("Goodbye", action_id))
    assert only_result(items).action_id == action_id
    assert state_of(peer) is State.CLOSED


def test_logoff_before_login() -> None:
    peer = reach(State.CONNECTED)
    ping = peer.proto.pending_action_ids[0]
    logoff = peer.logoff()
    items = peer.feed(
        response("Error", ping, ("Message", "Permission denied")), response("Goodbye", logoff)
    )
    results = completed(items)
    assert [r.success for r in results] == [False, True]
    assert state_of(peer) is State.CLOSED


@pytest.mark.parametrize(
    ("state", "back"),
    [(State.READY, State.READY), (State.CONNECTED, State.CONNECTED)],
)
def test_refused_logoff_goes_back_to_where_it_was_sent_from(
    state: State, back: State, split: Splitter
) -> None:
    peer = reach(state, split)
    logoff = peer.logoff()
    assert state_of(peer) is not state
    refusal = response("Error", logoff, ("Message", "Permission denied"))
    result = only_result(peer.feed(refusal))
    assert result.action.name == "Logoff"
    assert not result.success
    assert result.message == "Permission denied"
    assert state_of(peer) is back
    # The session goes on: actions are sent, and a second Logoff can end it.
    ping = peer.send(Action("Ping"))
    assert only_result(peer.feed(response("Success", ping))).success
    items = peer.feed(response("Goodbye", peer.logoff()))
    assert items[-1] == ConnectionTerminated(Ending.LOGGED_OFF, "logged off")
    assert state_of(peer) is State.CLOSED


def test_refused_logoff_that_was_forgotten_still_goes_back() -> None:
    peer = ready_peer()
    logoff = peer.logoff()
    peer.proto.forget(logoff)
    assert peer.feed(response("Error", logoff)) == []
    assert state_of(peer) is State.READY
    assert peer.proto.statistics().late_packets_dropped == 1


def test_logoff_answered_with_success_still_waits_for_the_end() -> None:
    peer = ready_peer()
    logoff = peer.logoff()
    assert only_result(peer.feed(response("Success", logoff))).success
    assert state_of(peer) is State.LOGGING_OFF
    assert peer.eof() == [
        ConnectionTerminated(Ending.CLOSED_BY_SERVER, "the server closed the connection")
    ]


@pytest.mark.parametrize("state", [State.CONNECTED, State.READY])
def test_unsolicited_goodbye(state: State, split: Splitter) -> None:
    peer = reach(state, split)
    pending = peer.proto.pending_action_ids
    items = peer.feed(response("Goodbye", None, ("Message", "Manager shutting down")))
    assert [item.action_id for item in items if isinstance(item, ActionAborted)] == pending
    assert items[-1] == ConnectionTerminated(Ending.CLOSED_BY_SERVER, "the server said Goodbye")
    assert state_of(peer) is State.CLOSED


def test_goodbye_answering_a_pending_action() -> None:
    peer = ready_peer()
    first = peer.send(Action("Ping"))
    second = peer.send(Action("Ping"))
    items = peer.feed(response("Goodbye", first))
    assert isinstance(items[0], ActionCompleted)
    assert items[0].action_id == first
    assert isinstance(items[1], ActionAborted)
    assert items[1].action_id == second
    assert items[2] == ConnectionTerminated(Ending.LOGGED_OFF, "logged off")
    assert state_of(peer) is State.CLOSED


@pytest.mark.parametrize(
    "state",
    [
        State.CONNECTED,
        State.CHALLENGE_SENT,
        State.LOGIN_SENT,
        State.READY,
        State.LOGGING_OFF,
        State.LOGGING_OFF_BEFORE_LOGIN,
    ],
)
def test_end_of_stream_aborts_every_pending_action(state: State, split: Splitter) -> None:
    peer = reach(state, split)
    pending = peer.proto.pending_action_ids
    assert pending
    items = peer.eof()
    aborted = [item for item in items if isinstance(item, ActionAborted)]
    assert [item.action_id for item in aborted] == pending
    for item in aborted:
        assert isinstance(item.error, ConnectionClosed)
        assert "closed the connection" in item.error.reason
        assert item.error.__cause__ is None
        assert item.action.action_id == item.action_id
    assert items[-1] == ConnectionTerminated(
        Ending.CLOSED_BY_SERVER, "the server closed the connection"
    )
    assert len(items) == len(pending) + 1
    assert state_of(peer) is State.CLOSED
    assert peer.proto.pending_action_ids == []
    assert peer.proto.statistics().pending_actions == 0


def test_end_of_stream_mid_list_and_mid_outcome() -> None:
    peer = ready_peer()
    listing = peer.send(Action("CoreShowChannels"))
    originate = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    peer.feed(
        response("Success", listing, ("EventList", "start")),
        items_for(listing, CHANNELS[0])[0],
        response("Success", originate),
    )
    items = peer.eof()
    assert [item.action_id for item in items if isinstance(item, ActionAborted)] == [
        listing,
        originate,
    ]
    assert state_of(peer) is State.CLOSED


@pytest.mark.parametrize("cut", [1, 10, 25])
def test_end_of_stream_inside_a_packet(cut: int, split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(Action("Ping"))
    assert peer.feed(response("Success", action_id, ("Ping", "Pong"))[:cut]) == []
    items = peer.eof()
    assert state_of(peer) is State.ERROR
    aborted, terminated = items
    assert isinstance(aborted, ActionAborted)
    assert isinstance(terminated, ConnectionTerminated)
    assert isinstance(terminated.error, RemoteProtocolError)
    assert "inside a packet" in str(terminated.error)
    assert aborted.error.__cause__ is terminated.error
    assert terminated.reason.startswith("protocol error")


def test_limit_exceeded_breaks_the_session(split: Splitter) -> None:
    proto = ClientProtocol(action_id_prefix="t", max_packet_size=4096)
    peer = ready_peer(split, proto)
    action_id = peer.send(Action("Command", {"Command": "core show help"}))
    huge = response("Success", action_id, *[("Output", "x" * 60)] * 100)
    items = peer.feed(event("Before"), huge, event("After"))
    assert items[0] == msg(event("Before"))
    assert isinstance(items[1], ActionAborted)
    assert isinstance(items[-1], ConnectionTerminated)
    assert isinstance(items[-1].error, LimitExceeded)
    assert items[-1].error.limit == "max_packet_size"
    assert state_of(peer) is State.ERROR
    with pytest.raises(LocalProtocolError):
        peer.proto.send_action(Action("Ping"))


def test_packets_before_a_broken_one_are_delivered() -> None:
    peer = ready_peer(whole, ClientProtocol(action_id_prefix="t", max_line_length=100))
    action_id = peer.send(Action("Ping"))
    items = peer.feed(response("Success", action_id), b"y" * 200)
    assert isinstance(items[0], ActionCompleted)
    assert isinstance(items[1], ConnectionTerminated)
    assert isinstance(items[1].error, LimitExceeded)


# -- forget ---------------------------------------------------------------------------------------
def test_forget_an_unknown_action_does_nothing() -> None:
    peer = ready_peer()
    before = snapshot(peer.proto)
    peer.proto.forget("never-sent")
    assert snapshot(peer.proto) == before


def test_forget_then_late_response(split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(Action("Ping"))
    peer.proto.forget(action_id)
    assert peer.proto.pending_action_ids == []
    assert peer.feed(response("Success", action_id)) == []
    assert peer.proto.statistics().late_packets_dropped == 1
    # Forgotten for good: one more is unexpected.
    assert len(peer.feed(response("Success", action_id))) == 1


def test_forget_then_late_error(split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(Action("Ping"))
    peer.proto.forget(action_id)
    assert peer.feed(response("Error", action_id)) == []
    assert peer.proto.statistics().late_packets_dropped == 1


def test_forget_a_list_before_its_response(split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(Action("CoreShowChannels"))
    peer.proto.forget(action_id)
    done = event(
        "CoreShowChannelsComplete", action_id, ("EventList", "Complete"), ("ListItems", "2")
    )
    items = peer.feed(
        response("Success", action_id, ("EventList", "start")),
        *items_for(action_id, *CHANNELS),
        done,
    )
    assert items == []
    stats = peer.proto.statistics()
    assert stats.late_packets_dropped == 4
    assert stats.unexpected_messages == 0
    assert stats.list_items_received == 2
    # Once the list is over, its ActionID claims nothing.
    after = event("CoreShowChannel", action_id)
    assert peer.feed(after) == [msg(after)]


def test_forget_a_known_list_whose_response_has_not_come_and_items_come_first() -> None:
    peer = ready_peer()
    action_id = peer.send(Action("CoreShowChannels"))
    peer.proto.forget(action_id)
    assert peer.feed(*items_for(action_id, *CHANNELS)) == []
    assert peer.proto.statistics().late_packets_dropped == 2


def test_forget_a_known_list_that_closes_before_its_response(split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(Action("CoreShowChannels"))
    peer.proto.forget(action_id)
    done = event("CoreShowChannelsComplete", action_id, ("EventList", "Complete"))
    assert peer.feed(*items_for(action_id, *CHANNELS), done) == []
    # Still remembered: its response is dropped too, then the ActionID is free.
    assert peer.feed(response("Success", action_id, ("EventList", "start"))) == []
    stats = peer.proto.statistics()
    assert stats.late_packets_dropped == 4
    assert stats.unexpected_messages == 0
    assert len(peer.feed(response("Success", action_id))) == 1


def test_forget_a_list_midway(split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(Action("CoreShowChannels"))
    first, second = items_for(action_id, *CHANNELS)
    assert peer.feed(response("Success", action_id, ("EventList", "start")), first) == []
    peer.proto.forget(action_id)
    done = event(
        "CoreShowChannelsComplete", action_id, ("EventList", "Complete"), ("ListItems", "2")
    )
    assert peer.feed(second, response("Success", action_id), done) == []
    assert peer.proto.statistics().late_packets_dropped == 3  # item, stray response, Complete
    assert peer.eof() == [
        ConnectionTerminated(Ending.CLOSED_BY_SERVER, "the server closed the connection")
    ]


def test_forget_a_streamed_list_midway() -> None:
    peer = ready_peer()
    action_id = peer.send(Action("CoreShowChannels"), stream=True)
    first, second = items_for(action_id, *CHANNELS)
    items = peer.feed(response("Success", action_id, ("EventList", "start")), first)
    assert items == [ListItem(action_id, as_event(first))]
    peer.proto.forget(action_id)
    done = event("CoreShowChannelsComplete", action_id, ("EventList", "Complete"))
    assert peer.feed(second, done) == []
    assert peer.proto.statistics().late_packets_dropped == 2


def test_forget_a_list_then_it_is_aborted() -> None:
    peer = ready_peer()
    action_id = peer.send(Action("CoreShowChannels"))
    peer.feed(response("Success", action_id, ("EventList", "start")))
    peer.proto.forget(action_id)
    assert peer.feed(response("Error", action_id)) == []
    assert peer.proto.statistics().late_packets_dropped == 1
    stray = event("CoreShowChannel", action_id)
    assert peer.feed(stray) == [msg(stray)]


def test_forget_an_originate_then_late_response_and_outcome(split: Splitter) -> None:
    peer = ready_peer(split)
    action_id = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    peer.proto.forget(action_id)
    assert peer.feed(response("Success", action_id)) == []
    # Everyone may see an outcome: it is still delivered, as a broadcast event.
    assert peer.feed(outcome(action_id)) == [msg(outcome(action_id))]
    stats = peer.proto.statistics()
    assert stats.late_packets_dropped == 1
    assert stats.unexpected_messages == 0


def test_forget_an_originate_then_outcome_before_late_response() -> None:
    peer = ready_peer()
    action_id = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    peer.proto.forget(action_id)
    assert peer.feed(outcome(action_id)) == [msg(outcome(action_id))]
    assert peer.feed(response("Success", action_id)) == []
    stats = peer.proto.statistics()
    assert stats.late_packets_dropped == 1
    assert stats.unexpected_messages == 0


def test_forget_an_originate_after_its_response() -> None:
    peer = ready_peer()
    action_id = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    peer.feed(response("Success", action_id))
    peer.proto.forget(action_id)
    assert peer.feed(response("Success", action_id)) == []  # a stray second response: dropped
    assert peer.feed(outcome(action_id, "Failure")) == [msg(outcome(action_id, "Failure"))]
    assert peer.proto.statistics().late_packets_dropped == 1
    assert peer.feed(outcome(action_id)) == [msg(outcome(action_id))]


def test_forget_the_logoff_still_ends_the_session() -> None:
    peer = ready_peer()
    logoff = peer.logoff()
    peer.proto.forget(logoff)
    items = peer.feed(response("Goodbye", logoff))
    assert items == [ConnectionTerminated(Ending.LOGGED_OFF, "logged off")]
    assert state_of(peer) is State.CLOSED
    assert peer.proto.statistics().late_packets_dropped == 1


def test_forgotten_actions_are_not_aborted() -> None:
    peer = ready_peer()
    kept = peer.send(Action("Ping"))
    gone = peer.send(Action("Ping"))
    peer.proto.forget(gone)
    items = peer.eof()
    assert [item.action_id for item in items if isinstance(item, ActionAborted)] == [kept]


def test_forget_remembers_a_bounded_number_of_actions() -> None:
    peer = ready_peer()
    ids = [peer.send(Action("CoreShowChannels")) for _ in range(1030)]
    for action_id in ids:
        peer.proto.forget(action_id)
    oldest, newest = ids[0], ids[-1]
    items = peer.feed(
        response("Success", oldest, ("EventList", "start")), event("CoreShowChannel", oldest)
    )
    assert [type(item) for item in items] == [UnexpectedMessage, Event]
    assert (
        peer.feed(
            response("Success", newest, ("EventList", "start")), event("CoreShowChannel", newest)
        )
        == []
    )
    assert peer.proto.statistics().unexpected_messages == 1


def test_an_action_id_can_be_reused_after_forget() -> None:
    peer = ready_peer()
    peer.send(Action("Ping", action_id="mine"))
    peer.proto.forget("mine")
    peer.send(Action("Ping", action_id="mine"))
    result = only_result(peer.feed(response("Success", "mine")))
    assert result.action_id == "mine"


def test_an_action_id_reused_after_forgetting_a_list_claims_nothing_of_the_old_one() -> None:
    peer = ready_peer()
    peer.send(Action("CoreShowChannels", action_id="mine"))
    peer.proto.forget("mine")
    peer.send(Action("Ping", action_id="mine"))
    stray = event("CoreShowChannel", "mine")
    assert peer.feed(stray) == [msg(stray)]
    assert only_result(peer.feed(response("Success", "mine"))).action.name == "Ping"


# -- ActionIDs ------------------------------------------------------------------------------------
def test_generated_action_ids_follow_the_prefix() -> None:
    peer = ready_peer()
    assert peer.login_id == "t-1"
    assert [peer.send(Action("Ping")) for _ in range(3)] == ["t-2", "t-3", "t-4"]
    assert peer.proto.next_action_id() == "t-5"


def test_generated_action_ids_are_unique_across_protocols() -> None:
    first, second = ClientProtocol(), ClientProtocol()
    for proto in (first, second):
        proto.receive_data(BANNER)
    ids = {first.next_action_id() for _ in range(50)} | {second.next_action_id() for _ in range(50)}
    assert len(ids) == 100
    prefix = first.next_action_id().rsplit("-", 1)[0]
    assert prefix != second.next_action_id().rsplit("-", 1)[0]
    assert len(prefix) >= 8


@pytest.mark.parametrize(
    "action",
    [
        Action("Ping", action_id="my-ping"),
        Action("Ping", [("ActionID", "my-ping")]),
        Action("Ping", {"actionid": "my-ping"}),
    ],
)
def test_caller_chosen_action_id(action: Action) -> None:
    peer = ready_peer()
    assert peer.send(action) == "my-ping"
    assert peer.sent()[0].headers == (("Action", "Ping"), ("ActionID", "my-ping"))
    result = only_result(peer.feed(response("Success", "my-ping")))
    assert result.action_id == "my-ping"
    assert peer.send(Action("Ping", action_id="my-ping")) == "my-ping"  # free again


def test_duplicate_pending_action_id_is_refused() -> None:
    peer = ready_peer()
    peer.send(Action("Ping", action_id="dup"))
    before = snapshot(peer.proto)
    with pytest.raises(LocalProtocolError, match="dup"):
        peer.proto.send_action(Action("Ping", action_id="dup"))
    assert snapshot(peer.proto) == before


def test_generated_action_id_never_collides_with_a_pending_one() -> None:
    peer = ready_peer()
    chosen = peer.send(Action("Ping", action_id="t-2"))  # what the generator would give next
    generated = peer.send(Action("Ping"))
    assert generated != chosen
    assert sorted(peer.proto.pending_action_ids) == sorted({chosen, generated})


def test_generated_action_id_skips_a_forgotten_one_whose_packets_may_still_come() -> None:
    peer = ready_peer()
    peer.send(Action("Ping", action_id="t-2"))
    peer.proto.forget("t-2")
    generated = peer.send(Action("Ping"))
    assert generated == "t-3"
    assert peer.feed(response("Success", "t-2")) == []  # the late one, dropped
    assert only_result(peer.feed(response("Success", generated))).action_id == generated
    assert peer.proto.next_action_id() == "t-4"


# -- Command --------------------------------------------------------------------------------------
LINES = [
    "",
    "          username: reader",
    "            secret: <Set>",
    "Response: Success",
    "",
    "",
    "Key: looks like a header",
    "--END COMMAND-- is not the end here",
    "trailing spaces   ",
]


def modern_command(action_id: str, lines: list[str], status: str = "Success") -> bytes:
    return response(
        status,
        action_id,
        ("Message", "Command output follows"),
        *[("Output", line) for line in lines],
    )


def legacy_bytes(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


@pytest.mark.parametrize(
    "lines",
    [
        LINES,
        [],
        ["Asterisk 13.38.3 built by root @ vm on a x86_64 running Linux on 2026-11-26 05:58:47"],
        ["", ""],
        ["Name/username             Host", "alice                     (Unspecified)"],
    ],
    ids=["tricky", "empty", "one", "blank-lines", "table"],
)
def test_command_output_is_the_same_in_both_formats(lines: list[str], split: Splitter) -> None:
    modern = ready_peer(split)
    action = Action("Command", {"Command": "manager show user reader"})
    modern_id = modern.send(action)
    modern_result = only_result(modern.feed(modern_command(modern_id, lines)))
    legacy = Peer(split)
    legacy.greet(b"Asterisk Call Manager/2.10.6\r\n")
    legacy.login(auth="plain")
    legacy.feed(response("Success", "t-1"))
    legacy_id = legacy.send(action)
    legacy_result = only_result(legacy.feed(legacy_command(legacy_id, legacy_bytes(lines))))
    assert modern_result.output == legacy_result.output == lines
    assert modern_result.success
    assert legacy_result.success
    assert legacy_result.response.is_legacy_command
    assert not modern_result.response.is_legacy_command


def test_legacy_command_exchange(split: Splitter) -> None:
    # Asterisk 13: Response: Follows, raw text with bare \n, --END COMMAND--, then more packets.
    peer = Peer(split)
    peer.greet(b"Asterisk Call Manager/2.10.6\r\n")
    peer.login(auth="plain")
    peer.feed(response("Success", "t-1"), event("FullyBooted", None, ("Status", "Fully Booted")))
    version = peer.send(Action("Command", {"Command": "core show version"}))
    empty = peer.send(Action("Command", {"Command": "logger reload"}))
    unknown = peer.send(Action("Command", {"Command": "this is not a command"}))
    ping = peer.send(Action("Ping"))
    [sent_version, *_] = peer.sent()
    assert sent_version.headers == (
        ("Action", "Command"),
        ("ActionID", "t-2"),
        ("Command", "core show version"),
    )
    wire = (
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: t-2\r\n"
        b"Asterisk 13.38.3 built by root @ vm\n"
        b"--END COMMAND--\r\n\r\n"
        b"Event: Reload\r\nModule: logger\r\n\r\n"
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: t-3\r\n--END COMMAND--\r\n\r\n"
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: t-4\r\n"
        b"No such command 'this is not a command' (type 'core show help this is' for other"
        b" possible commands)\n"
        b"--END COMMAND--\r\n\r\n"
        b"Response: Success\r\nActionID: t-5\r\nPing: Pong\r\n\r\n"
    )
    items = peer.feed(wire)
    assert isinstance(items[1], Event)
    assert items[1].name == "Reload"
    results = {result.action_id: result for result in completed(items)}
    assert list(results) == [version, empty, unknown, ping]
    assert results[version].output == ["Asterisk 13.38.3 built by root @ vm"]
    assert results[version].response.name == "Follows"
    assert results[version].response["Privilege"] == "Command"
    assert results[empty].output == []
    assert results[unknown].output[0].startswith("No such command")
    assert all(result.success for result in results.values())  # Follows is not an error
    assert results[ping].output == []


def test_command_error_carries_its_output(split: Splitter) -> None:
    # Modern Asterisk answers an unknown command with Response: Error and Output lines.
    peer = ready_peer(split)
    action_id = peer.send(Action("Command", {"Command": "this is not a command"}))
    line = (
        "No such command 'this is not a command' (type 'core show help this is' for other"
        " possible commands)"
    )
    result = only_result(peer.feed(modern_command(action_id, [line], status="Error")))
    assert not result.success
    assert result.output == [line]
    assert result.message == "Command output follows"


# -- statistics -----------------------------------------------------------------------------------
def test_statistics(split: Splitter) -> None:
    peer = Peer(split)
    peer.greet()
    login = peer.proto.login("admin", "amp111", auth="plain")
    peer.write(login)
    replies = [response("Success", "t-1"), event("FullyBooted")]
    peer.feed(*replies)
    listing = peer.send(Action("CoreShowChannels"))
    ping = peer.send(Action("Ping"))
    originate = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    stats = peer.proto.statistics()
    assert stats.state is State.READY
    assert stats.pending_actions == 3
    assert stats.actions_sent == 4
    assert stats.bytes_sent == len(peer.written)
    more = [
        response("Success", listing, ("EventList", "start")),
        *items_for(listing, *CHANNELS),
        event("CoreShowChannelsComplete", listing, ("EventList", "Complete"), ("ListItems", "2")),
        response("Success", "nobody-1"),
        packet(("Foo", "bar")),
        event("Newchannel"),
        response("Success", originate),
        outcome(originate),
    ]
    peer.feed(*more)
    peer.proto.forget(ping)
    peer.feed(response("Success", ping))
    assert peer.proto.statistics() == ProtocolStatistics(
        state=State.READY,
        pending_actions=0,
        actions_sent=4,
        responses_received=5,  # login, list, the unknown one, originate, the late ping
        events_received=6,  # FullyBooted, 2 items, Complete, Newchannel, OriginateResponse
        events_delivered=2,  # FullyBooted, Newchannel
        list_items_received=2,
        unexpected_messages=2,
        late_packets_dropped=1,
        bytes_received=len(BANNER) + sum(map(len, replies + more)) + len(response("Success", ping)),
        bytes_sent=len(peer.written),
    )


# -- properties: interleavings --------------------------------------------------------------------
@dataclass
class Planned:
    """One action of a generated session and the packets that answer it."""

    action_id: str
    kind: str  # single, error, list, stream, originate
    response: bytes
    members: list[bytes] = field(default_factory=list)
    complete: bytes | None = None
    outcome: bytes | None = None
    success: bool = True


@dataclass
class Session:
    actions: list[Planned]
    wire: list[tuple[str, bytes]]  # (owning ActionID, or "" for a broadcast event; packet)
    sizes: list[int]  # how the wire is cut into reads


@st.composite
def sessions(draw: st.DrawFn) -> Session:
    """Several concurrent actions, the packets that answer them, interleaved with other events."""
    kinds = st.sampled_from(["single", "error", "list", "stream", "originate"])
    actions: list[Planned] = []
    queues: list[list[tuple[str, bytes]]] = []
    for n, kind in enumerate(draw(st.lists(kinds, min_size=1, max_size=6)), start=2):
        action_id = f"h-{n}"
        if kind in ("single", "error"):
            status = "Success" if kind == "single" else "Error"
            plan = Planned(action_id, kind, response(status, action_id, ("Message", f"reply {n}")))
            plan.success = kind == "single"
            packets = [plan.response]
        elif kind in ("list", "stream"):
            count = draw(st.integers(0, 4))
            start = draw(st.sampled_from(["start", "Start"]))
            plan = Planned(action_id, kind, response("Success", action_id, ("EventList", start)))
            plan.members = [event("Entry", action_id, ("N", str(i))) for i in range(count)]
            plan.complete = event(
                "ListDone", action_id, ("EventList", "Complete"), ("ListItems", str(count))
            )
            packets = [plan.response, *plan.members, plan.complete]
        else:
            queued = response("Success", action_id, ("Message", "Originate successfully queued"))
            plan = Planned(action_id, kind, queued)
            result = draw(st.sampled_from(["Success", "Failure"]))
            plan.outcome = outcome(action_id, result)
            plan.success = result == "Success"
            # The outcome may overtake the response.
            packets = [plan.outcome, queued] if draw(st.booleans()) else [queued, plan.outcome]
        actions.append(plan)
        queues.append([(action_id, packet) for packet in packets])
    # Unrelated events: no ActionID, a stranger's ActionID, or the ActionID of a single action.
    singles = [plan.action_id for plan in actions if plan.kind in ("single", "error")]
    owners = st.sampled_from([None, "stranger-1", *singles])
    count = draw(st.integers(0, 8))
    queues.append([("", event("Noise", draw(owners), ("Seq", str(i)))) for i in range(count)])
    wire: list[tuple[str, bytes]] = []
    while any(queues):
        queue = draw(st.sampled_from([q for q in queues if q]))
        wire.append(queue.pop(0))
    return Session(actions, wire, draw(st.lists(st.integers(1, 97), max_size=60)))


@settings(max_examples=150, deadline=None)
@given(sessions())
def test_interleaved_actions_get_exactly_their_own_packets(session: Session) -> None:
    peer = Peer(whole, ClientProtocol(action_id_prefix="h"))
    peer.ready()
    for plan in session.actions:
        if plan.kind == "originate":
            sent = peer.send(ORIGINATE, outcome_event="OriginateResponse")
        elif plan.kind in ("list", "stream"):
            sent = peer.send(Action("ShowEntries"), stream=plan.kind == "stream")
        else:
            sent = peer.send(Action("Ping"))
        assert sent == plan.action_id
    data = b"".join(packet for _, packet in session.wire)
    cuts = list(itertools.accumulate(session.sizes))
    items: list[ProtocolItem] = []
    for piece in split_at(data, cuts):
        peer.proto.receive_data(piece)
        items += peer.proto.take_items()

    results = {r.action_id: r for r in completed(items)}
    assert sorted(results) == sorted(plan.action_id for plan in session.actions)
    for plan in session.actions:
        result = results[plan.action_id]
        assert result.response == msg(plan.response)
        assert result.success is plan.success
        members = [msg(m) for m in plan.members]
        streamed = [
            i.event for i in items if isinstance(i, ListItem) and i.action_id == plan.action_id
        ]
        assert streamed == (members if plan.kind == "stream" else [])
        assert list(result.events) == (members if plan.kind == "list" else [])
        assert result.items_received == len(members)
        assert result.items_match
        assert result.complete == (msg(plan.complete) if plan.complete else None)
        assert result.outcome == (msg(plan.outcome) if plan.outcome else None)
    broadcast = [item for item in items if isinstance(item, Event)]
    assert broadcast == [msg(packet) for owner, packet in session.wire if owner == ""]
    assert not [item for item in items if isinstance(item, (UnexpectedMessage, ActionAborted))]
    assert peer.proto.pending_action_ids == []
    assert state_of(peer) is State.READY


TAIL = (
    response("Success", "t-2", ("EventList", "start"))
    + event("CoreShowChannel", "t-2", ("Channel", "a"))
    + event("Hangup", None, ("Channel", "b"))
    + event("CoreShowChannelsComplete", "t-2", ("EventList", "Complete"), ("ListItems", "1"))
    + legacy_command("t-3", b"line one\n\nline: three\n")
    + response("Success", "t-4", ("Message", "Command output follows"), ("Output", "x"))
    + response("Goodbye", "t-5")
)


def run_tail(pieces: list[bytes]) -> list[ProtocolItem]:
    peer = ready_peer()
    peer.send(Action("CoreShowChannels"))
    peer.send(Action("Command", {"Command": "x"}))
    peer.send(Action("Command", {"Command": "y"}))
    peer.logoff()
    items: list[ProtocolItem] = []
    for piece in pieces:
        peer.proto.receive_data(piece)
        items += peer.proto.take_items()
    return items


@settings(max_examples=80, deadline=None)
@given(st.sets(st.integers(1, len(TAIL) - 1), max_size=40))
def test_any_chunking_gives_the_same_items(cuts: set[int]) -> None:
    reference = run_tail([TAIL])
    assert [type(item) for item in reference] == [
        Event,
        ActionCompleted,
        ActionCompleted,
        ActionCompleted,
        ActionCompleted,
        ConnectionTerminated,
    ]
    assert run_tail(split_at(TAIL, list(cuts))) == reference


# -- the core imports no I/O library --------------------------------------------------------------
def test_the_core_modules_import_no_io_library() -> None:
    # test_import.py imports trio_ami.sansio, which runs the package's __init__ first. This
    # loads the core alone (the parent package stubbed), so it tells the core's own imports
    # apart from the package's, and records which file imported each I/O module.
    code = r"""
import json, sys, traceback, types
import importlib.util
spec = importlib.util.find_spec("trio_ami")
package = types.ModuleType("trio_ami")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["trio_ami"] = package
importers = {}
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in WATCHED and name not in importers:
            frames = [f.filename for f in traceback.extract_stack()]
            frames = [f for f in frames if "importlib" not in f and f != "<string>"]
            importers[name] = frames[-1] if frames else "<main>"
        return None
WATCHED = ("trio", "asyncio", "socket", "selectors", "ssl", "select", "threading")
sys.meta_path.insert(0, Watch())
import trio_ami.sansio
assert "trio_ami.sansio._protocol" in sys.modules
print(json.dumps({m: importers.get(m, "?") for m in sys.modules if m.partition(".")[0] in WATCHED}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded: dict[str, str] = json.loads(done.stdout)
    # attrs, a dependency, imports threading for its own bookkeeping (attr/_compat.py); nothing
    # else may load an I/O or threading module.
    assert {name: f for name, f in loaded.items() if "/attr/" not in f.replace("\\", "/")} == {}


# -- how a session ends, told by the I/O layer ---------------------------------------------------
def test_close_aborts_pending_actions_and_says_it_was_local(split: Splitter) -> None:
    peer = reach(State.READY, split)
    ping = peer.ping_id
    peer.proto.close("no answer to Logoff within 2 s")
    items = peer.proto.take_items()
    aborted, terminated = items
    assert isinstance(aborted, ActionAborted)
    assert aborted.action_id == ping
    assert isinstance(aborted.error, ConnectionClosed)
    assert aborted.error.ending is Ending.CLOSED_LOCALLY
    assert str(aborted.error) == "Ping cannot complete: no answer to Logoff within 2 s"
    assert aborted.error.__cause__ is None
    assert terminated == ConnectionTerminated(
        Ending.CLOSED_LOCALLY, "no answer to Logoff within 2 s"
    )
    assert peer.proto.terminated == terminated
    assert state_of(peer) is State.CLOSED
    assert Ending.CLOSED_LOCALLY.clean


def test_connection_lost_carries_the_transport_error() -> None:
    peer = reach(State.LOGGING_OFF)
    broken = ConnectionResetError(104, "Connection reset by peer")
    peer.proto.connection_lost(broken)
    items = peer.proto.take_items()
    terminated = items[-1]
    assert terminated == ConnectionTerminated(
        Ending.TRANSPORT_ERROR,
        "the connection broke: [Errno 104] Connection reset by peer",
        broken,
    )
    errors = [item.error for item in items if isinstance(item, ActionAborted)]
    assert [type(error) for error in errors] == [ConnectionClosed, ConnectionClosed]  # Ping, Logoff
    assert all(error.__cause__ is broken for error in errors)
    assert all(getattr(error, "ending", None) is Ending.TRANSPORT_ERROR for error in errors)
    assert state_of(peer) is State.ERROR
    assert not Ending.TRANSPORT_ERROR.clean
    # An error without text still gives a readable reason.
    other = reach(State.READY)
    other.proto.connection_lost(OSError())
    last = other.proto.take_items()[-1]
    assert isinstance(last, ConnectionTerminated)
    assert last.reason == "the connection broke"


@pytest.mark.parametrize(
    ("feed", "ending"),
    [
        (lambda peer: peer.feed(response("Goodbye", peer.logoff())), Ending.LOGGED_OFF),
        (lambda peer: peer.eof(), Ending.CLOSED_BY_SERVER),
        (lambda peer: peer.feed(response("Goodbye", None)), Ending.CLOSED_BY_SERVER),
        (lambda peer: peer.feed(b"x" * 300), Ending.PROTOCOL_ERROR),
    ],
    ids=["logoff", "eof", "goodbye", "garbage"],
)
def test_every_ending_of_the_server_is_named(
    feed: Callable[[StatePeer], object], ending: Ending
) -> None:
    peer = reach(State.READY)
    feed(peer)
    terminated = peer.proto.terminated
    assert terminated is not None
    assert terminated.ending is ending
    assert isinstance(terminated.error, RemoteProtocolError) == (ending is Ending.PROTOCOL_ERROR)


def test_a_refused_login_is_its_own_ending() -> None:
    peer = reach(State.LOGIN_SENT)
    peer.feed(response("Error", peer.login_id, ("Message", "Authentication failed")))
    assert peer.proto.terminated == ConnectionTerminated(
        Ending.LOGIN_REFUSED, "login refused: Authentication failed"
    )


# -- the bound on a collected list ---------------------------------------------------------------
def _channel_items(action_id: str, count: int) -> list[bytes]:
    return [event("CoreShowChannel", action_id, ("Channel", f"PJSIP/{n}")) for n in range(count)]


def test_a_list_longer_than_its_bound_fails_only_its_action(split: Splitter) -> None:
    peer = ready_peer(split, ClientProtocol(max_list_items=3))
    action_id = peer.send(Action("CoreShowChannels"))
    items = peer.feed(
        response("Success", action_id, ("EventList", "start")), *_channel_items(action_id, 4)
    )
    (aborted,) = items
    assert isinstance(aborted, ActionAborted)
    assert isinstance(aborted.error, ListTooLong)
    assert aborted.error.limit == 3
    assert "max_list_items=3" in str(aborted.error)
    assert action_id not in peer.proto.pending_action_ids
    # The rest of the list is dropped, and the session goes on.
    late = peer.feed(
        *_channel_items(action_id, 5),
        event("CoreShowChannelsComplete", action_id, ("EventList", "Complete")),
    )
    assert late == []
    assert peer.proto.statistics().late_packets_dropped == 1 + 5 + 1
    ping = peer.send(Action("Ping"))
    assert only_result(peer.feed(response("Success", ping))).success


def test_the_bound_is_per_action_and_streams_are_not_bounded() -> None:
    peer = ready_peer(whole, ClientProtocol(max_list_items=2))
    wide = peer.send(Action("CoreShowChannels"), max_items=10)
    streamed = peer.send(Action("CoreShowChannels"), stream=True)
    items = peer.feed(
        response("Success", wide, ("EventList", "start")),
        response("Success", streamed, ("EventList", "start")),
        *_channel_items(wide, 10),
        *_channel_items(streamed, 10),
        event("CoreShowChannelsComplete", wide, ("EventList", "Complete"), ("ListItems", "10")),
    )
    assert len(only_result(items).events) == 10
    assert sum(isinstance(item, ListItem) for item in items) == 10
    with pytest.raises(LocalProtocolError, match="max_items must be positive"):
        peer.send(Action("CoreShowChannels"), max_items=0)
    with pytest.raises(ValueError, match="max_list_items must be positive"):
        ClientProtocol(max_list_items=0)
