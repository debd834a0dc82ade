"""How a session ends: Goodbye, the end of the stream, the I/O layer's close; and the list bound.

Every scenario is fed whole, one byte at a time and in random chunks (the ``split`` fixture)
where it takes one.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from helpers.protocol import (
    CHANNELS,
    ORIGINATE,
    StatePeer,
    completed,
    event,
    items_for,
    msg,
    only_result,
    reach,
    ready_peer,
    response,
    state_of,
)
from helpers.splitting import Splitter, whole

from trio_ami.sansio import (
    Action,
    ActionAborted,
    ActionCompleted,
    ClientProtocol,
    ConnectionClosed,
    ConnectionTerminated,
    Ending,
    Event,
    LimitExceeded,
    ListItem,
    ListTooLong,
    LocalProtocolError,
    RemoteProtocolError,
    State,
)


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
