"""Logging in: the MD5 key as Asterisk computes it, from any challenge and any secret, and
credentials that no error and no item ever shows."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import cast

import pytest
from helpers.protocol import BANNER, Peer, response
from helpers.secrets import assert_no_secret, where_secrets_show
from helpers.splitting import Splitter, whole

from trio_ami.sansio import (
    Action,
    ActionAborted,
    AMIError,
    ClientProtocol,
    ConnectionClosed,
    Event,
    InvalidActionError,
    LocalProtocolError,
    RemoteProtocolError,
    State,
    md5_key,
)


def snapshot(proto: ClientProtocol) -> tuple[object, ...]:
    """What a refused call must leave as it was."""
    return (
        proto.state,
        proto.statistics(),
        proto.pending_action_ids,
        # A refused login must leave the protocol's own state untouched, the secret it keeps
        # while a challenge is awaited included: no public view shows these.
        proto._counter,  # noqa: SLF001
        proto._login_secret,  # noqa: SLF001
        list(proto._login_headers),  # noqa: SLF001
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


# -- no error and no item ever shows a credential -------------------------------------------------
CHALLENGE = b"840415273"


class LoginRun:
    """One login scenario: every item the protocol emits and every error a call raises."""

    def __init__(self, auth: str) -> None:
        self.auth = auth
        self.seen: list[object] = []
        #: Values derived from the secret that must not show either (the MD5 keys).
        self.derived: list[str] = []
        self.restart()

    def restart(self) -> None:
        """Go on with a new session (what was seen is kept)."""
        self.peer = Peer(whole, ClientProtocol(action_id_prefix="t", max_line_length=200))
        self.secret: object = SECRET

    def feed(self, *data: bytes) -> None:
        self.seen += self.peer.feed(*data)

    def attempt(self, call: Callable[[], object]) -> bool:
        """Run ``call``, keeping the error it raises; False if it raised."""
        try:
            call()
        except AMIError as exc:
            self.seen.append(exc)
            return False
        return True

    def login(
        self, username: str = "admin", secret: object = SECRET, events: list[str] | None = None
    ) -> bool:
        self.secret = secret
        text = cast("str", secret)  # deliberately anything
        return self.attempt(lambda: self.peer.login(username, text, auth=self.auth, events=events))

    def start(self) -> str:
        """Greet, leave a Ping pending, log in; in MD5, up to the challenge."""
        self.feed(BANNER)
        self.peer.send(Action("Ping"))
        assert self.login()
        return self.peer.login_id or ""

    def answer_challenge(self, challenge: bytes = CHALLENGE) -> str:
        """Answer the pending Challenge; returns the ActionID of the Login that answers it."""
        head = f"Response: Success\r\nActionID: {self.peer.login_id}\r\nChallenge: ".encode()
        self.feed(head + challenge + b"\r\n\r\n")
        assert isinstance(self.secret, str)
        self.derived.append(md5_key(challenge.decode("utf-8", "surrogateescape"), self.secret))
        return self.peer.last_action_id()

    def logged_in(self) -> str:
        """The ActionID of the Login whose answer is awaited."""
        login_id = self.start()
        return self.answer_challenge() if self.auth == "md5" else login_id

    def end(self) -> None:
        self.seen += self.peer.eof()
        self.seen.append(self.peer.proto.terminated)
        for call in (lambda: self.peer.proto.send_action(Action("Ping")), self.peer.proto.logoff):
            self.attempt(call)


def accepted(run: LoginRun) -> None:
    login_id = run.logged_in()
    run.feed(response("Success", login_id, ("Message", "Authentication accepted")))
    run.feed(response("Success", login_id))  # a second answer: an unexpected message
    run.attempt(run.peer.logoff)
    run.feed(response("Goodbye", "t-4" if run.auth == "md5" else "t-3"))


def refused(run: LoginRun) -> None:
    login_id = run.logged_in()
    run.feed(response("Error", login_id, ("Message", "Authentication failed")))


def closed_during_login(run: LoginRun) -> None:
    run.logged_in()


def closed_before_the_challenge_is_answered(run: LoginRun) -> None:
    run.start()


def goodbye_during_login(run: LoginRun) -> None:
    run.logged_in()
    run.feed(response("Goodbye", None))


def garbage_during_login(run: LoginRun) -> None:
    run.logged_in()
    run.feed(b"x" * 300)


def garbage_instead_of_the_challenge(run: LoginRun) -> None:
    run.start()
    run.feed(b"Response: Success\r\nActionID: t-2\r\nChallenge: " + b"\xff" * 300)


def transport_broke_during_login(run: LoginRun) -> None:
    run.logged_in()
    run.peer.proto.connection_lost(OSError("connection reset"))
    run.seen += run.peer.proto.take_items()


def closed_locally_during_login(run: LoginRun) -> None:
    run.logged_in()
    run.peer.proto.close()
    run.seen += run.peer.proto.take_items()


def bad_challenges(run: LoginRun) -> None:
    run.start()
    run.feed(response("Error", "t-2", ("Message", "Must specify AuthType")))


def empty_challenge(run: LoginRun) -> None:
    run.start()
    run.feed(response("Success", "t-2", ("Challenge", "")))


def challenge_that_is_not_utf8(run: LoginRun) -> None:
    run.start()
    login_id = run.answer_challenge(b"\xff\xfe\x80")
    run.feed(response("Error", login_id, ("Message", "Authentication failed")))


BAD_SECRETS: list[object] = [
    f"{SECRET}\r\nAction: Originate",
    f"\n{SECRET}",
    f"{SECRET}\r",
    SECRET * 100,
    f"{SECRET}\ud800",
    f"{SECRET}\udc0a",
    SECRET.encode(),
    None,
]


def bad_secrets(run: LoginRun) -> None:
    # Each in a session of its own. MD5 hashes a secret with a line break or a long one: that
    # login goes on, and ends with the server closing after the Login was sent.
    for secret in BAD_SECRETS:
        run.restart()
        run.feed(BANNER)
        if run.login(secret=secret):
            run.answer_challenge()
            run.seen += run.peer.eof()


def bad_usernames(run: LoginRun) -> None:
    run.feed(BANNER)
    for username in ["admin\r\nSecret: x", "admin\ud800", "a" * 2000]:
        run.login(username=username)
    run.login(events=["x" * 2000])
    run.attempt(lambda: run.peer.proto.login("admin", SECRET, auth="sha1"))


def calls_the_state_refuses(run: LoginRun) -> None:
    run.login()  # before the banner
    run.start()
    run.login()  # a second login
    run.attempt(lambda: run.peer.proto.send_action(Action("Login", {"Secret": SECRET})))


LOGIN_SCENARIOS = [
    accepted,
    refused,
    closed_during_login,
    closed_before_the_challenge_is_answered,
    goodbye_during_login,
    garbage_during_login,
    garbage_instead_of_the_challenge,
    transport_broke_during_login,
    closed_locally_during_login,
    bad_challenges,
    empty_challenge,
    challenge_that_is_not_utf8,
    bad_secrets,
    bad_usernames,
    calls_the_state_refuses,
]
MD5_ONLY = {
    closed_before_the_challenge_is_answered,
    garbage_instead_of_the_challenge,
    bad_challenges,
    empty_challenge,
    challenge_that_is_not_utf8,
}


@pytest.mark.parametrize(
    ("auth", "scenario"),
    [
        pytest.param(auth, scenario, id=f"{scenario.__name__}-{auth}")
        for scenario in LOGIN_SCENARIOS
        for auth in ("plain", "md5")
        if auth == "md5" or scenario not in MD5_ONLY
    ],
)
def test_no_error_and_no_item_shows_the_secret(
    auth: str, scenario: Callable[[LoginRun], None]
) -> None:
    run = LoginRun(auth)
    scenario(run)
    run.end()
    assert run.seen
    assert_no_secret(run.seen, SECRET, *run.derived)


def test_the_login_scenarios_see_what_they_are_about() -> None:
    # The walk above is only as good as the scenarios: they reach the items that hold a Login.
    run = LoginRun("md5")
    closed_during_login(run)
    run.end()
    [aborted] = [
        seen for seen in run.seen if isinstance(seen, ActionAborted) and seen.action_id == "t-3"
    ]
    assert aborted.action.name == "Login"
    assert aborted.action.get("Key") == "********"
    assert run.derived and run.derived[0] in run.peer.written.decode()  # the server got the key
    run = LoginRun("plain")
    bad_secrets(run)
    assert sum(isinstance(seen, LocalProtocolError) for seen in run.seen) == len(BAD_SECRETS)
    run = LoginRun("md5")
    bad_secrets(run)
    assert sum(isinstance(seen, LocalProtocolError) for seen in run.seen) == 4
    assert len(run.derived) == 4


def test_the_secret_inspector_looks_everywhere() -> None:
    def raised_in_handler(inner: BaseException, outer: BaseException) -> BaseException:
        try:
            try:
                raise inner
            except type(inner):
                raise outer from None  # suppressed, yet still the __context__
        except type(outer) as exc:
            return exc

    hidden = raised_in_handler(UnicodeEncodeError("utf-8", SECRET, 0, 1, "x"), ValueError("x"))
    assert hidden.__suppress_context__
    with_note = ValueError("x")
    with_note.__dict__["__notes__"] = [f"the secret was {SECRET}"]  # add_note() is 3.11+
    closed = ConnectionClosed("x")
    closed.__cause__ = RemoteProtocolError(f"bad: {SECRET!r}")
    shows = [
        ValueError(SECRET),
        ValueError(SECRET.encode()),
        ValueError("x", {"Secret": [SECRET]}),
        hidden,
        with_note,
        closed,
        ActionAborted("t-1", Action("Login", {"Secret": SECRET}), ConnectionClosed("x")),
        Event(f"Event: X\nData: {SECRET}"),
        f"cut at a line break: '{SECRET[:6]}'",  # "S3cr3t\r\n-pass" would show "S3cr3t"
        repr(f"{SECRET}\ud800"),
    ]
    for obj in shows:
        assert where_secrets_show(obj, SECRET, f"{SECRET[:6]}\r\n-pass", f"{SECRET}\ud800"), obj
    assert where_secrets_show(md5_key("1", SECRET), md5_key("1", SECRET))
    assert where_secrets_show(b"x" + SECRET.encode("latin-1") + b"x", SECRET)
    assert where_secrets_show([ValueError("ok")], SECRET) == []


@pytest.mark.parametrize("end", ["eof", "close", "lost"])
def test_the_secret_is_not_kept_once_the_session_ended_before_the_challenge(end: str) -> None:
    # A protocol object may outlive its session (held by a connection, logged, pickled in a
    # crash report): once over, it keeps nothing of the secret.
    peer = Peer(whole, ClientProtocol(action_id_prefix="t"))
    peer.greet()
    peer.login(secret=SECRET, auth="md5")
    if end == "eof":
        peer.eof()
    elif end == "close":
        peer.proto.close()
    else:
        peer.proto.connection_lost(OSError("reset"))
    assert_no_secret(vars(peer.proto), SECRET)
