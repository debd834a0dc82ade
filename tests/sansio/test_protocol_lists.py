"""How actions complete: single responses and event lists.

Every scenario is fed whole, one byte at a time and in random chunks (the ``split`` fixture)
where it takes one.
"""

from __future__ import annotations

import pytest
from helpers.protocol import (
    CHANNELS,
    as_event,
    as_response,
    completed,
    event,
    items_for,
    msg,
    only_result,
    packet,
    reach,
    ready_peer,
    response,
    state_of,
)
from helpers.splitting import Splitter

from trio_ami.sansio import (
    LIST_ACTIONS,
    Action,
    ActionCompleted,
    ActionResult,
    ClientProtocol,
    ConnectionTerminated,
    Event,
    ListItem,
    RemoteProtocolError,
    Response,
    State,
    UnexpectedMessage,
)


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
