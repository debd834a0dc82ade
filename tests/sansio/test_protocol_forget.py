"""Forgetting actions, and ActionIDs.

Every scenario is fed whole, one byte at a time and in random chunks (the ``split`` fixture)
where it takes one.
"""

from __future__ import annotations

import pytest
from helpers.protocol import (
    BANNER,
    CHANNELS,
    ORIGINATE,
    as_event,
    event,
    items_for,
    msg,
    only_result,
    outcome,
    ready_peer,
    response,
    snapshot,
    state_of,
)
from helpers.splitting import Splitter

from trio_ami.sansio import (
    Action,
    ActionAborted,
    ClientProtocol,
    ConnectionTerminated,
    Ending,
    Event,
    ListItem,
    LocalProtocolError,
    State,
    UnexpectedMessage,
)


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
