"""Logging in: plain and MD5, the event mask, refusals.

Every scenario is fed whole, one byte at a time and in random chunks (the ``split`` fixture)
where it takes one.
"""

from __future__ import annotations

import hashlib

import pytest
from helpers.protocol import (
    BANNER,
    Peer,
    as_response,
    event,
    msg,
    reach,
    response,
    snapshot,
    state_of,
)
from helpers.splitting import Splitter, whole

from trio_ami.sansio import (
    Action,
    ActionAborted,
    ClientProtocol,
    ConnectionClosed,
    ConnectionTerminated,
    InvalidActionError,
    LocalProtocolError,
    LoginFailed,
    LoginSucceeded,
    State,
)


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
