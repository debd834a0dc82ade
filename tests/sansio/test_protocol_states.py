"""The transition table: every (state, input) pair, and what a forbidden input does.

Every scenario is fed whole, one byte at a time and in random chunks (the ``split`` fixture)
where it takes one.
"""

from __future__ import annotations

import pytest
from helpers.protocol import (
    APPLY,
    BANNER,
    REACH,
    Peer,
    event,
    reach,
    response,
    snapshot,
    state_of,
)
from helpers.splitting import Splitter

from trio_ami.sansio import (
    TRANSITIONS,
    Action,
    ActionAborted,
    BannerReceived,
    ClientProtocol,
    ConnectionTerminated,
    Ending,
    Input,
    InvalidActionError,
    LocalProtocolError,
    ProtocolStatistics,
    RemoteProtocolError,
    State,
    UnexpectedMessage,
)
from trio_ami.sansio._state import ENDING_INPUTS, LOCAL_INPUTS


# -- every (state, input) pair of the transition table ----------------------------------------
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
