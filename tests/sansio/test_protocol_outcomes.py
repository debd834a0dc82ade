"""Actions completed by an outcome event (async Originate), and broadcast events.

Every scenario is fed whole, one byte at a time and in random chunks (the ``split`` fixture)
where it takes one.
"""

from __future__ import annotations

import pytest
from helpers.protocol import (
    ORIGINATE,
    event,
    msg,
    only_result,
    outcome,
    reach,
    ready_peer,
    response,
    state_of,
)
from helpers.splitting import Splitter

from trio_ami.sansio import (
    Action,
    State,
    UnexpectedMessage,
)

# -- outcomes (async Originate) -------------------------------------------------------------------


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
