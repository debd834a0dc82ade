"""The exception hierarchy and the data each exception carries."""

from __future__ import annotations

import pytest

from trio_ami.sansio import (
    Action,
    ActionFailed,
    ActionResult,
    ActionTimeout,
    AMIConnectionError,
    AMIError,
    AuthenticationError,
    ConnectionClosed,
    Event,
    InvalidActionError,
    LimitExceeded,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    Response,
    SubscriptionOverflow,
)


@pytest.mark.parametrize(
    ("exc", "bases"),
    [
        (ProtocolError, (AMIError,)),
        (LocalProtocolError, (ProtocolError, ValueError)),
        (InvalidActionError, (LocalProtocolError, ValueError)),
        (RemoteProtocolError, (ProtocolError,)),
        (LimitExceeded, (RemoteProtocolError,)),
        (AuthenticationError, (AMIError,)),
        (ActionFailed, (AMIError,)),
        (ActionTimeout, (AMIError, TimeoutError)),
        (AMIConnectionError, (AMIError, ConnectionError)),
        (ConnectionClosed, (AMIError,)),
        (SubscriptionOverflow, (AMIError,)),
    ],
)
def test_hierarchy(exc: type[Exception], bases: tuple[type[Exception], ...]) -> None:
    assert all(issubclass(exc, base) for base in bases)


@pytest.mark.parametrize(
    ("exc", "not_base"),
    [
        (RemoteProtocolError, ValueError),
        (LimitExceeded, LocalProtocolError),
        (LocalProtocolError, RemoteProtocolError),
        (AuthenticationError, ProtocolError),
        (ActionFailed, ProtocolError),
    ],
)
def test_hierarchy_is_not_flat(exc: type[Exception], not_base: type[Exception]) -> None:
    assert not issubclass(exc, not_base)


def test_limit_exceeded() -> None:
    exc = LimitExceeded("too big", limit="max_packet_size", value=10)
    assert (str(exc), exc.limit, exc.value) == ("too big", "max_packet_size", 10)


def test_authentication_error() -> None:
    exc = AuthenticationError("Authentication failed")
    assert exc.message == str(exc) == "Authentication failed"


def test_action_failed_uses_the_message_header() -> None:
    response = Response("Response: Error\nActionID: a-1\nMessage: Permission denied")
    result = ActionResult(action=Action("Originate", action_id="a-1"), response=response)
    exc = ActionFailed(response, result=result)
    assert exc.response is response
    assert exc.result is result
    assert str(exc) == "Permission denied (ActionID a-1)"


def test_action_failed_without_message_header() -> None:
    exc = ActionFailed(Response("Response: Error"))
    assert str(exc) == "Error (ActionID None)"
    assert exc.result is None


def test_action_failed_for_an_outcome_event() -> None:
    outcome = Event("Event: OriginateResponse\nActionID: o-1\nResponse: Failure\nReason: 5")
    assert str(ActionFailed(outcome)) == "5 (ActionID o-1)"


def test_connection_closed_and_overflow() -> None:
    closed = ConnectionClosed("logoff")
    assert closed.reason == str(closed) == "logoff"
    overflow = SubscriptionOverflow(3)
    assert overflow.missed == 3
    assert "3 events" in str(overflow)
