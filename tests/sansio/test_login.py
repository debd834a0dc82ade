"""Logging in: the MD5 key as Asterisk computes it, from any challenge and any secret."""

from __future__ import annotations

import hashlib

import pytest
from protocol_helpers import Peer, response
from sansio_helpers import Splitter
from secrets_helpers import assert_no_secret

from trio_ami.sansio import (
    ClientProtocol,
    InvalidActionError,
    LocalProtocolError,
    State,
    md5_key,
)


def snapshot(proto: ClientProtocol) -> tuple[object, ...]:
    """What a refused call must leave as it was."""
    return (
        proto.state,
        proto.statistics(),
        proto.pending_action_ids,
        proto._counter,
        proto._login_secret,
        list(proto._login_headers),
        proto.take_items(),
        proto.data_to_send(),
    )


# -- md5_key --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("challenge", "secret", "encoding", "hashed"),
    [
        ("840415273", "amp111", "utf-8", b"840415273amp111"),
        ("ABCdef", "Pa55:wörd", "utf-8", "ABCdefPa55:wörd".encode()),
        # Bytes that are not UTF-8, as the parser and os.environ give them (surrogateescape).
        ("\udcff\udcfe1", "amp111", "utf-8", b"\xff\xfe1amp111"),
        ("1234", "pa\udcffss", "utf-8", b"1234pa\xffss"),
        ("1234", "wörd", "latin-1", b"1234w\xf6rd"),
        ("1234", "w\udcf6rd", "latin-1", b"1234w\xf6rd"),
        ("", "", "utf-8", b""),
    ],
)
def test_md5_key_is_the_md5_of_the_bytes_asterisk_hashes(
    challenge: str, secret: str, encoding: str, hashed: bytes
) -> None:
    key = md5_key(challenge, secret, encoding)
    assert key == hashlib.md5(hashed).hexdigest()
    assert key == key.lower()
    assert md5_key(challenge, secret) == md5_key(challenge, secret, "utf-8")


SECRET = "S3cr3t-pass"


@pytest.mark.parametrize(
    ("challenge", "secret", "what"),
    [
        ("1234", f"{SECRET}\ud800", "secret"),
        ("1234", f"\udfff{SECRET}", "secret"),
        ("1234", f"{SECRET}\udc0a", "secret"),  # U+DC0A stands for no byte under surrogateescape
        ("12\ud800", SECRET, "challenge"),
        ("1234", SECRET.encode(), "secret"),
        (b"1234", SECRET, "challenge"),
        ("1234", None, "secret"),
    ],
)
def test_md5_key_refuses_what_it_cannot_hash(challenge: object, secret: object, what: str) -> None:
    with pytest.raises(LocalProtocolError, match=f"the {what}") as caught:
        md5_key(challenge, secret)  # type: ignore[arg-type]
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None
    assert_no_secret(caught.value, SECRET)


# -- the protocol answers any challenge ----------------------------------------------------------
@pytest.mark.parametrize(
    ("challenge", "secret", "encoding", "hashed"),
    [
        (b"\xff\xfe\x80ab", "amp111", "utf-8", b"\xff\xfe\x80abamp111"),
        (b"12\xc3", "amp111", "utf-8", b"12\xc3amp111"),  # a character cut short
        (b"1234", b"pa\xffss".decode("utf-8", "surrogateescape"), "utf-8", b"1234pa\xffss"),
        (b"\xe9t\xe9", "\xe9t\xe9", "latin-1", b"\xe9t\xe9\xe9t\xe9"),
        (b"\x81\xe9", "\udc81", "cp1252", b"\x81\xe9\x81"),  # 0x81 is no cp1252 character
    ],
)
def test_md5_login_hashes_the_challenge_as_received(
    challenge: bytes, secret: str, encoding: str, hashed: bytes, split: Splitter
) -> None:
    peer = Peer(split, ClientProtocol(action_id_prefix="t", encoding=encoding))
    peer.greet()
    peer.login("admin", secret, auth="md5")
    answer = b"Response: Success\r\nActionID: t-1\r\nChallenge: " + challenge + b"\r\n\r\n"
    assert peer.feed(answer) == []
    [login] = peer.sent()
    assert login["Key"] == hashlib.md5(hashed).hexdigest()
    assert login["Username"] == "admin"
    assert peer.proto.state is State.LOGIN_SENT


@pytest.mark.parametrize("auth", ["md5", "plain"])
@pytest.mark.parametrize(
    "secret",
    [f"{SECRET}\ud800", f"\udbff{SECRET}", f"{SECRET}\udc0a", SECRET.encode(), None],
    ids=["high-surrogate", "low-surrogate", "escaped-lf", "bytes", "none"],
)
def test_login_refuses_a_secret_it_cannot_send_or_hash(auth: str, secret: object) -> None:
    peer = Peer()
    peer.greet()
    before = snapshot(peer.proto)
    with pytest.raises(LocalProtocolError) as caught:
        peer.proto.login("admin", secret, auth=auth)  # type: ignore[arg-type]
    if auth == "plain" and isinstance(secret, str):
        assert isinstance(caught.value, InvalidActionError)
        assert "'Secret'" in str(caught.value)
    else:
        assert "secret" in str(caught.value)
    assert_no_secret(caught.value, SECRET)
    assert snapshot(peer.proto) == before
    # Nothing changed: a good login goes through.
    peer.login("admin", "amp111", auth=auth)
    assert peer.proto.state in (State.CHALLENGE_SENT, State.LOGIN_SENT)


def test_md5_login_with_a_surrogate_escaped_secret() -> None:
    # What os.environ gives for the bytes b"pa\xffss": the server has the bytes as its secret.
    secret = b"pa\xffss".decode("utf-8", "surrogateescape")
    peer = Peer()
    peer.greet()
    peer.login("admin", secret)
    peer.feed(response("Success", "t-1", ("Challenge", "840415273")))
    [login] = peer.sent()
    assert login["Key"] == hashlib.md5(b"840415273pa\xffss").hexdigest()
