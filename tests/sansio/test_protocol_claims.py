"""Events routed to the action whose ActionID they carry, past the search that spares most
events the header lookup."""

from __future__ import annotations

import pytest
from helpers.protocol import completed, event, packet, ready_peer, response

from trio_ami.sansio import Action, Event, ListItem

ORIGINATE = Action("Originate", {"Channel": "PJSIP/100", "Async": "true"})


@pytest.mark.parametrize("key", ["ActionID", "actionid", "ACTIONID", "ActionId"])
def test_an_outcome_is_claimed_whatever_the_case_of_its_key(key: str) -> None:
    peer = ready_peer()
    action_id = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    assert peer.feed(response("Success", action_id, ("Message", "queued"))) == []
    items = peer.feed(
        event("Newchannel", None, ("Channel", "PJSIP/100")),  # holds no claimer's ActionID
        event("Hangup", None, ("Uniqueid", action_id)),  # holds it, in another header
        packet(("Event", "OriginateResponse"), (key, action_id), ("Response", "Success")),
    )
    assert [type(item) for item in items] == [Event, Event, type(items[2])]
    [result] = completed(items)
    assert result.outcome is not None and result.outcome.name == "OriginateResponse"


def test_an_action_id_that_is_not_ascii_is_looked_up() -> None:
    peer = ready_peer()
    action_id = peer.send(
        Action("CoreShowChannels", action_id="liste-é"), complete_on="CoreShowChannelsComplete"
    )
    items = peer.feed(
        event("CoreShowChannel", action_id, ("Channel", "PJSIP/1")),
        event("CoreShowChannel", "other", ("Channel", "PJSIP/2")),  # not its list
        response("Success", action_id, ("EventList", "start")),
        event("CoreShowChannelsComplete", action_id, ("EventList", "Complete")),
    )
    assert [type(item).__name__ for item in items] == ["Event", "ActionCompleted"]
    [result] = completed(items)
    assert [item["Channel"] for item in result.events] == ["PJSIP/1"]


def test_claimers_change_within_one_read() -> None:
    # A response opens a list and a closing event ends it, in the same read: the events after
    # each are routed by the claimers as they are then.
    peer = ready_peer()
    first = peer.send(Action("Status"), stream=True)
    second = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    items = peer.feed(
        response("Success", first, ("EventList", "start")),
        event("Status", first, ("Channel", "PJSIP/1")),
        event("StatusComplete", first, ("EventList", "Complete")),
        event("Status", first, ("Channel", "PJSIP/late")),  # after its list: broadcast
        response("Success", second),
        event("OriginateResponse", second, ("Response", "Success")),
        event("OriginateResponse", second, ("Response", "Success")),  # after it ended
    )
    kinds = [type(item).__name__ for item in items]
    assert kinds == ["ListItem", "ActionCompleted", "Event", "ActionCompleted", "Event"]
    assert isinstance(items[0], ListItem) and items[0].event["Channel"] == "PJSIP/1"


@pytest.mark.parametrize("action_id", ["a.b*c", "(x|y)+", "\\d", "[1]", "^x", "x$"])
def test_action_ids_are_searched_as_they_are(action_id: str) -> None:
    peer = ready_peer()
    peer.send(
        Action("Originate", {"Channel": "PJSIP/1"}, action_id=action_id),
        outcome_event="OriginateResponse",
    )
    assert peer.feed(response("Success", action_id)) == []
    items = peer.feed(
        event(
            "OriginateResponse", "aXbc" if action_id == "a.b*c" else "x", ("Response", "Failure")
        ),
        event("OriginateResponse", action_id, ("Response", "Success")),
    )
    assert [type(item).__name__ for item in items] == ["Event", "ActionCompleted"]
