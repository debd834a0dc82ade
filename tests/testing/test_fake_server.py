"""FakeAMIServer and PBXSimulator, driven over real loopback TCP with raw action bytes.

Replies are parsed with the project's PacketParser and, where a real server was recorded doing
the same thing (tests/data/*.transcript.txt), compared with the recording header by header.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing

from trio_ami import AuthenticationError, open_ami
from trio_ami.sansio import (
    Action,
    Event,
    Message,
    PacketParser,
    RemoteProtocolError,
    Response,
    md5_key,
)
from trio_ami.testing import (
    EventFilter,
    FakeAMIServer,
    FakeSession,
    FilterError,
    PBXSimulator,
    load_capture,
)

DATA = Path(__file__).resolve().parent.parent / "data"
TIMEOUT = 5.0


# -- a raw AMI client ---------------------------------------------------------------------------
class Client:
    """Sends raw action bytes, parses what comes back with PacketParser, keeps the raw bytes."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.parser = PacketParser()
        self.raw = bytearray()
        self.eof = False
        self.seen: list[Message] = []
        self._ids = 0

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def action(
        self,
        name: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        action_id: str | None = "auto",
    ) -> str | None:
        if action_id == "auto":
            self._ids += 1
            action_id = f"t-{self._ids}"
        await self.send(Action(name, headers, action_id).to_bytes())
        return action_id

    async def _fill(self) -> None:
        data = await self.stream.receive_some(65536)
        self.raw += data
        if not data:
            self.eof = True
        self.parser.receive_data(data)

    async def next(self) -> Message | None:
        """The next message, or None at the end of the stream."""
        with trio.fail_after(TIMEOUT):
            while True:
                message = self.parser.next_message()
                if message is not None:
                    self.seen.append(message)
                    return message
                if self.eof:
                    return None
                await self._fill()

    async def until(self, predicate: Callable[[Message], bool]) -> list[Message]:
        """Messages up to and including the first matching ``predicate``."""
        got: list[Message] = []
        while True:
            message = await self.next()
            assert message is not None, f"stream ended before the expected message: {got}"
            got.append(message)
            if predicate(message):
                return got

    async def response(self, action_id: str | None) -> Response:
        messages = await self.until(
            lambda m: isinstance(m, Response) and m.get("ActionID") == action_id
        )
        response = messages[-1]
        assert isinstance(response, Response)
        return response

    async def call(
        self, name: str, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()
    ) -> Response:
        return await self.response(await self.action(name, headers))

    async def event(self, name: str) -> Event:
        messages = await self.until(lambda m: isinstance(m, Event) and m.name == name)
        event = messages[-1]
        assert isinstance(event, Event)
        return event

    async def listing(
        self, name: str, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()
    ) -> tuple[Response, list[Event], Event]:
        action_id = await self.action(name, headers)
        response = await self.response(action_id)
        assert response.get("EventList") == "start", response
        items = await self.until(
            lambda m: m.get("ActionID") == action_id and m.get("EventList") == "Complete"
        )
        mine = [m for m in items if isinstance(m, Event) and m.get("ActionID") == action_id]
        return response, mine[:-1], mine[-1]

    async def rest(self) -> list[Message]:
        """Everything until the end of the stream (which must come)."""
        got = []
        while (message := await self.next()) is not None:
            got.append(message)
        return got

    async def quiet(self, seconds: float = 0.05) -> list[Message]:
        """What arrives within ``seconds`` (the stream may stay open)."""
        got = []
        with trio.move_on_after(seconds):
            while (message := await self.next()) is not None:
                got.append(message)
        return got

    async def login(
        self, username: str = "admin", secret: str = "secret", **extra: str
    ) -> Response:
        return await self.call("Login", {"Username": username, "Secret": secret, **extra})


Connect = Callable[..., Awaitable[Client]]


@asynccontextmanager
async def serving(
    server: FakeAMIServer | None = None, **kwargs: object
) -> AsyncIterator[tuple[FakeAMIServer, Connect]]:
    if server is None:
        server = FakeAMIServer(users={"admin": "secret"}, **kwargs)  # type: ignore[arg-type]
    clients: list[Client] = []
    async with server.listen_tcp() as (host, port):

        async def connect(*, login: bool = True, **extra: str) -> Client:
            client = Client(await trio.open_tcp_stream(host, port))
            clients.append(client)
            with trio.fail_after(TIMEOUT):
                while b"\n" not in client.raw:
                    await client._fill()
            if login:
                response = await client.login(**extra)
                assert response.name == "Success", response
            return client

        try:
            yield server, connect
        finally:
            for client in clients:
                await trio.aclose_forcefully(client.stream)


# -- captures -----------------------------------------------------------------------------------
def recorded(name: str) -> tuple[list[bytes], bytes, bool]:
    """(the actions a recording sent, every byte the server sent, whether the server closed)."""
    capture = load_capture(DATA / name)
    return capture.actions, capture.raw, capture.closed


VOLATILE = {
    "Timestamp",
    "Uptime",
    "LastReload",
    "EventTV",
    "SessionTV",
    "SessionID",
    "LocalAddress",
    "RemoteAddress",
    "Challenge",
}


def shape(message: Message, volatile: set[str]) -> list[tuple[str, str | None]]:
    headers: list[tuple[str, str | None]] = [
        (k, None if k in volatile else v) for k, v in message.headers
    ]
    if isinstance(message, Response) and message.is_legacy_command:
        headers += [("<output>", line) for line in message.output]
    return headers


@pytest.mark.parametrize(
    ("name", "skip_ids", "extra_volatile"),
    [
        ("login_plain", set(), set()),
        ("login_fail", set(), set()),
        ("action_before_login", set(), set()),
        ("ping", set(), set()),
        ("events", set(), set()),
        ("userevent", set(), set()),
        ("setvar_getvar", set(), set()),
        ("getconfig", set(), {"JSON"}),
        (
            "command_output",
            {f"command_output-{n}" for n in (2, 3, 4, 5, 7)},
            set(),
        ),
        ("asterisk13/login_plain", set(), set()),
        ("asterisk13/ping", set(), set()),
        ("asterisk13/sippeers", {f"sippeers-{n}" for n in (3, 4, 5, 6, 7)}, set()),
        (
            "asterisk13/command_output",
            {f"command_output-{n}" for n in (2, 3, 4, 5, 7, 9)},
            set(),
        ),
        ("asterisk13/getconfig", set(), {"JSON"}),
    ],
)
async def test_replies_match_real_recordings(
    name: str, skip_ids: set[str], extra_volatile: set[str]
) -> None:
    """Play a recording's actions against the fake; its answers match the real server's."""
    sent, raw, closed = recorded(name)
    parser = PacketParser()
    parser.receive_data(raw)
    expected = parser.take_messages()
    assert parser.banner is not None
    server = FakeAMIServer(users={"admin": "amp111"}, ami_version=parser.banner.version)
    async with serving(server) as (_, connect):
        client = await connect(login=False)
        assert bytes(client.raw).startswith(parser.banner.text.encode() + b"\r\n")
        for data in sent:
            await client.send(data)
            sent_id = Message(data.decode().strip().replace("\r\n", "\n")).get("ActionID")

            def answers(message: Message, sent_id: str | None = sent_id) -> bool:
                return isinstance(message, Response) and message.action_id == sent_id

            await client.until(answers)
        if closed:
            await client.rest()
        else:  # pragma: no cover - every recording ends with Logoff
            await client.quiet()
    got = client.seen
    volatile = VOLATILE | extra_volatile

    def keep(messages: list[Message], cls: type[Message]) -> list[list[tuple[str, str | None]]]:
        return [
            shape(m, volatile)
            for m in messages
            if isinstance(m, cls) and m.get("ActionID") not in skip_ids
        ]

    assert keep(got, Response) == keep(expected, Response)
    assert keep(got, Event) == keep(expected, Event)
    assert client.eof == closed


# -- login --------------------------------------------------------------------------------------
async def test_banner_and_plain_login() -> None:
    async with serving() as (server, connect):
        client = await connect(login=False)
        assert bytes(client.raw) == b"Asterisk Call Manager/11.0.0\r\n"
        await client.send(
            b"Action: Login\r\nActionID: a1\r\nUsername: admin\r\nSecret: secret\r\n\r\n"
        )
        await client.event("SuccessfulAuth")
        assert bytes(client.raw).startswith(
            b"Asterisk Call Manager/11.0.0\r\n"
            b"Response: Success\r\nActionID: a1\r\nMessage: Authentication accepted\r\n\r\n"
            b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: "
        )
        auth = client.seen[-1]
        assert auth["AccountID"] == "admin"
        assert auth["LocalAddress"].startswith("IPV4/TCP/127.0.0.1/")
        [session] = server.sessions
        assert session.logged_in and session.username == "admin"
        assert [m["Action"] for m in server.received] == ["Login"]
        again = await client.login()
        assert again["Message"] == "Already authenticated"


async def test_failed_login_closes() -> None:
    async with serving(auth_failure_delay=0.01) as (server, connect):
        client = await connect(login=False)
        response = await client.login(secret="wrong")
        assert response.headers == (
            ("Response", "Error"),
            ("ActionID", "t-1"),
            ("Message", "Authentication failed"),
        )
        assert await client.rest() == []
        unknown = await connect(login=False)
        assert (await unknown.login(username="nobody"))["Message"] == "Authentication failed"
        assert await unknown.rest() == []
        await server.wait_until(lambda: not server.sessions)


async def test_md5_login() -> None:
    async with serving() as (server, connect):
        client = await connect(login=False)
        challenge = (await client.call("Challenge", {"AuthType": "md5"}))["Challenge"]
        assert challenge.isdigit()
        again = await client.call("Challenge", {"AuthType": "MD5"})
        assert again.headers == (
            ("Response", "Success"),
            ("ActionID", "t-2"),
            ("Challenge", challenge),
        )
        key = md5_key(challenge, "secret")
        assert key == hashlib.md5(f"{challenge}secret".encode()).hexdigest()
        response = await client.call(
            "Login", {"AuthType": "md5", "Username": "admin", "Key": key.upper()}
        )
        assert response["Message"] == "Authentication accepted"
        assert server.sessions[0].logged_in

        wrong = await connect(login=False)
        await wrong.call("Challenge", {"AuthType": "md5"})
        bad = await wrong.call("Login", {"AuthType": "md5", "Username": "admin", "Key": "0" * 32})
        assert bad["Message"] == "Authentication failed"
        assert await wrong.rest() == []

        no_challenge = await connect(login=False)
        refused = await no_challenge.call(
            "Login", {"AuthType": "md5", "Username": "admin", "Key": key}
        )
        assert refused["Message"] == "Authentication failed"

        bad_type = await connect(login=False)
        error = await bad_type.call("Challenge", {"AuthType": "plain"})
        assert error["Message"] == "Must specify AuthType"


async def test_md5_login_with_a_challenge_and_a_secret_that_are_not_utf8(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The secret as os.environ gives the bytes b"pa\xffss"; a challenge of bytes that are not
    # UTF-8. Client and server hash the same bytes, and the client never fails on them.
    secret = b"pa\xffss".decode("utf-8", "surrogateescape")
    server = FakeAMIServer(users={"admin": secret})
    challenge_bytes = b"\xfe\xff12"
    monkeypatch.setattr(
        FakeAMIServer,
        "new_challenge",
        lambda self: challenge_bytes.decode("utf-8", "surrogateescape"),
    )
    expected_key = hashlib.md5(challenge_bytes + b"pa\xffss").hexdigest()
    async with server.listen_tcp() as (host, port):
        with trio.fail_after(TIMEOUT):
            client = Client(await trio.open_tcp_stream(host, port))
            challenge = (await client.call("Challenge", {"AuthType": "md5"}))["Challenge"]
            assert b"Challenge: " + challenge_bytes + b"\r\n" in client.raw
            assert md5_key(challenge, secret) == expected_key
            key = md5_key(challenge, secret)
            accepted = await client.call(
                "Login", {"AuthType": "md5", "Username": "admin", "Key": key}
            )
            assert accepted["Message"] == "Authentication accepted"
            await trio.aclose_forcefully(client.stream)

            async with open_ami(host, port, username="admin", secret=secret) as ami:
                await ami.ping()
            with pytest.raises(AuthenticationError):
                async with open_ami(host, port, username="admin", secret="pa\udcfess"):
                    pass  # pragma: no cover
    logins = [action for action in server.received if action["Action"] == "Login"]
    assert [login["Key"] for login in logins] == [
        expected_key,
        expected_key,
        hashlib.md5(challenge_bytes + b"pa\xfess").hexdigest(),
    ]


async def test_actions_before_login_are_denied() -> None:
    async with serving() as (server, connect):
        client = await connect(login=False)
        for name in ("Ping", "CoreShowChannels", "NoSuchAction"):
            response = await client.call(name)
            assert (response.name, response["Message"]) == ("Error", "Permission denied")
        server.push_event("Hangup", {"Channel": "PJSIP/100-00000001"})
        goodbye = await client.call("Logoff")
        assert goodbye.headers == (
            ("Response", "Goodbye"),
            ("ActionID", "t-4"),
            ("Message", "Thanks for all the fish."),
        )
        assert await client.rest() == []  # and no Hangup event reached it
        assert len(server.received) == 4


async def test_login_with_events_off_and_drop_after_login() -> None:
    async with serving() as (server, connect):
        client = await connect(Events="off")
        assert server.sessions[0].event_mask == 0
        assert server.push_event("Hangup", {"Channel": "x"}) == 0
        await client.call("Ping")
        assert [m.name for m in client.seen] == ["Success", "Success"]  # no FullyBooted
        server.drop_after_login = True
        dropped = await connect()
        assert [m.name for m in await dropped.rest()] == ["FullyBooted"]


async def test_legacy_asterisk_flavour() -> None:
    async with serving(ami_version="2.10.6") as (server, connect):
        client = await connect()
        booted = await client.event("FullyBooted")
        assert booted.headers == (
            ("Event", "FullyBooted"),
            ("Privilege", "system,all"),
            ("Status", "Fully Booted"),
        )
        assert server.settings.flavour.command_is_legacy
        version = await client.call("Command", {"Command": "core show version"})
        assert version.is_legacy_command
        assert version.output[0].startswith("Asterisk 13.38.3 built by")


# -- simple actions -----------------------------------------------------------------------------
async def test_ping_and_unknown_action() -> None:
    async with serving() as (_, connect):
        client = await connect()
        pong = await client.call("Ping")
        assert [k for k, _ in pong.headers] == ["Response", "ActionID", "Ping", "Timestamp"]
        assert re.fullmatch(r"\d+\.\d{6}", pong["Timestamp"])
        await client.action("Ping", action_id=None)
        bare = await client.response(None)
        assert [k for k, _ in bare.headers] == ["Response", "Ping", "Timestamp"]
        unknown = await client.call("FooBar")
        assert unknown["Message"] == (
            "Invalid/unknown command: FooBar. Use Action: ListCommands to show available commands."
        )
        await client.send(b"Foo: bar\r\n\r\n")
        missing = await client.response(None)
        assert missing["Message"] == "Missing action in request"
        commands = await client.call("ListCommands")
        assert "Originate" in commands and "Ping" in commands


async def test_line_limits() -> None:
    async with serving() as (_, connect):
        client = await connect()
        # Action refuses to build these, so they are written by hand.
        await client.send(
            b"Action: UserEvent\r\nActionID: long\r\nBig: " + b"y" * 1100 + b"\r\n\r\n"
        )
        long_line = await client.response("long")
        assert long_line["Message"] == "Failed to parse message: line too long"
        lines = b"".join(b"H%d: v\r\n" % i for i in range(130))
        await client.send(b"Action: UserEvent\r\nActionID: many\r\n" + lines + b"\r\n")
        many = await client.response("many")
        assert many["Message"] == "Too many lines in message or allocation failure"


async def test_events_action_and_mask() -> None:
    async with serving() as (server, connect):
        client = await connect()
        for mask, answer in [
            ("off", "Off"),
            ("on", "On"),
            ("system,call", "On"),
            ("bogus", "Off"),
            ("user", "On"),
            ("1", "On"),
        ]:
            response = await client.call("Events", {"EventMask": mask})
            assert [k for k, _ in response.headers] == ["Response", "ActionID", "Events"]
            assert response["Events"] == answer, mask
        assert (await client.call("Events"))["Message"] == "Invalid event mask"
        await client.call("Events", {"EventMask": "call"})
        session = server.sessions[0]
        assert session.event_classes == {"call"}
        assert server.push_event("Newexten", {"Channel": "a"}) == 0  # dialplan class
        assert server.push_event("Hangup", {"Channel": "b"}) == 1
        assert server.push_event("Custom", {"Privilege": "agent,all"}) == 0
        assert server.push_event("Custom", {"Privilege": "call,all"}) == 1
        assert server.push_event("NoClass", {"X": "1"}) == 1  # no known class: mask just on
        assert server.push_event(Event("Event: Mine\nPrivilege: call,all\nA: 1")) == 1
        assert server.push_event(Event("Event: Mine\nA: 2"), privilege="agent") == 0
        events = await client.quiet()
        assert [(m.name, m.get("Privilege")) for m in events] == [
            ("Hangup", "call,all"),
            ("Custom", "call,all"),
            ("NoClass", None),
            ("Mine", "call,all"),
        ]


async def test_filters() -> None:
    async with serving() as (server, connect):
        client = await connect()
        assert (await client.call("Filter", {"Filter": "Event: Hangup"}))[
            "Message"
        ] == "Unknown operation"
        ok = await client.call("Filter", {"Operation": "Add", "Filter": "Event: Hangup"})
        assert ok.headers == (("Response", "Success"), ("ActionID", "t-3"), ("Message", "Success"))
        await client.call("Filter", {"Operation": "Add", "Filter": "!Channel: PJSIP/666"})
        bad = await client.call("Filter", {"Operation": "Add", "Filter": "Event: ("})
        assert bad["Message"] == "Filter did not compile.  Check the syntax of the filter given."
        empty = await client.call("Filter", {"Operation": "Add", "Filter": ""})
        assert empty["Message"].startswith("Filter was formatted incorrectly.")
        assert server.sessions[0].filters == ["Event: Hangup", "!Channel: PJSIP/666"]
        server.push_event("Newchannel", {"Channel": "PJSIP/100-1"})
        server.push_event("Hangup", {"Channel": "PJSIP/100-1"})
        server.push_event("Hangup", {"Channel": "PJSIP/666-2"})
        server.push_event("Hangup", {"Channel": "PJSIP/101-3"})
        events = await client.quiet()
        assert [m["Channel"] for m in events] == ["PJSIP/100-1", "PJSIP/101-3"]

        other = await connect()
        await other.call(
            "Filter",
            {
                "Operation": "Add",
                "MatchCriteria": "action(exclude),name(VarSet),header(Variable),method(exact)",
                "Filter": "BRIDGEPEER",
            },
        )
        missing_method = await other.call(
            "Filter", {"Operation": "Add", "MatchCriteria": "name(VarSet)", "Filter": "x"}
        )
        assert missing_method.name == "Error"
        server.push_event("VarSet", {"Variable": "BRIDGEPEER", "Value": "x"})
        server.push_event("VarSet", {"Variable": "DIALSTATUS", "Value": "ANSWER"})
        server.push_event("Newexten", {"Variable": "BRIDGEPEER"})
        events = await other.quiet()
        assert [(m.name, m.get("Variable")) for m in events] == [
            ("VarSet", "DIALSTATUS"),
            ("Newexten", "BRIDGEPEER"),
        ]


def test_event_filter_methods() -> None:
    data = "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/100-1\r\nValue: 1\r\n\r\n"
    for method, pattern, expected in [
        ("starts_with", "PJSIP/1", True),
        ("ends_with", "-1", True),
        ("contains", "100", True),
        ("exact", "PJSIP/100-1", True),
        ("exact", "PJSIP/100", False),
        ("regex", r"^PJSIP/\d+-1$", True),
    ]:
        event_filter = EventFilter.parse(pattern, f"name(VarSet),header(Channel),method({method})")
        assert event_filter.matches("VarSet", data) is expected, method
        assert not event_filter.matches("Hangup", data)
    legacy = EventFilter.parse("!Value: [0-9]")
    assert legacy.exclude and legacy.method == "regex" and legacy.matches("VarSet", data)
    anything = EventFilter.parse("", "eventfilter(action(exclude),name(VarSet),method(none))")
    assert anything.exclude and anything.matches("VarSet", data)
    for criteria in [
        "action(maybe)",
        "name()",
        "header()",
        "method(fuzzy)",
        "colour(red)",
        "name(x) junk",
    ]:
        with pytest.raises(FilterError):
            EventFilter.parse("x", criteria)
    with pytest.raises(FilterError):
        EventFilter.parse("", "name(VarSet),method(regex)")
    with pytest.raises(FilterError):
        EventFilter.parse("", "action(include),method(none)")


# -- Command ------------------------------------------------------------------------------------
async def test_command_modern() -> None:
    async with serving() as (server, connect):
        server.commands["show things"] = "one\n\ntwo: looks like a header\n"
        server.commands["silent"] = ""
        client = await connect()
        await client.action("Command", {"Command": "core show version"}, action_id="c1")
        version = await client.response("c1")
        assert [k for k, _ in version.headers] == ["Response", "ActionID", "Message", "Output"]
        assert version["Message"] == "Command output follows"
        assert re.fullmatch(
            r"Asterisk 22\.10\.1 built by \S+ @ \S+ on a \S+ running Linux on .*", version.output[0]
        )
        things = await client.call("Command", {"Command": "  SHOW   things "})
        assert things.output == ["one", "", "two: looks like a header"]
        silent = await client.call("Command", {"Command": "silent"})
        assert silent.get_all("Output") == [""]
        await client.action("Command", {"Command": "this is not a command"}, action_id="c4")
        await client.response("c4")
        assert (
            b"Response: Error\r\nActionID: c4\r\nMessage: Command output follows\r\n"
            b"Output: No such command 'this is not a command' (type 'core show help this is' "
            b"for other possible commands)\r\n\r\n"
        ) in client.raw
        near = await client.call("Command", {"Command": "core show nothing"})
        assert "core show help core show nothing'" in near.output[0]
        assert (await client.call("Command"))["Message"] == "No command provided"
        channels = await client.call("Command", {"Command": "core show channels"})
        assert channels.output == [
            "Channel"
            + " " * 58
            + "Location"
            + " " * 25
            + "State   "
            + "Application(Data)"
            + " " * 13,
            "0 active channels",
            "0 active calls",
            "0 calls processed",
        ]
        uptime = await client.call("Command", {"Command": "core show uptime"})
        assert re.fullmatch(r"System uptime: \d+ seconds?", uptime.output[0])


async def test_command_legacy() -> None:
    async with serving(legacy_command=True) as (server, connect):
        server.commands["two lines"] = "Name: a\n\nlast"
        client = await connect()
        await client.action("Command", {"Command": "two lines"}, action_id="L1")
        response = await client.response("L1")
        assert response.is_legacy_command
        assert response.output == ["Name: a", "", "last"]
        assert (
            b"Response: Follows\r\nPrivilege: Command\r\nActionID: L1\r\nName: a\n\nlast\n"
            b"--END COMMAND--\r\n\r\n"
        ) in client.raw
        await client.action("Command", {"Command": "logger reload"}, action_id=None)
        await client.response(None)
        assert b"Response: Follows\r\nPrivilege: Command\r\n--END COMMAND--\r\n\r\n" in client.raw
        unknown = await client.call("Command", {"Command": "nope"})
        assert unknown.name == "Follows"
        assert unknown.output[0].startswith("No such command 'nope'")
        server.configure(legacy_command=False)
        modern = await client.call("Command", {"Command": "two lines"})
        assert modern.name == "Success" and not modern.is_legacy_command


# -- lists --------------------------------------------------------------------------------------
async def test_empty_coreshowchannels_bytes() -> None:
    async with serving() as (_, connect):
        client = await connect()
        await client.action("CoreShowChannels", action_id="cs")
        await client.until(lambda m: m.name == "CoreShowChannelsComplete")
        assert bytes(client.raw).endswith(
            b"Response: Success\r\nActionID: cs\r\nEventList: start\r\n"
            b"Message: Channels will follow\r\n\r\n"
            b"Event: CoreShowChannelsComplete\r\nActionID: cs\r\nEventList: Complete\r\n"
            b"ListItems: 0\r\n\r\n"
        )


async def test_peer_and_endpoint_lists() -> None:
    async with serving() as (server, connect):
        client = await connect()
        response, items, complete = await client.listing("SIPpeers")
        assert response["Message"] == "Peer status list will follow"
        assert [i["ObjectName"] for i in items] == ["alice", "bob"]
        assert [k for k, _ in items[0].headers][:3] == ["Event", "ActionID", "Channeltype"]
        assert (complete.name, complete["ListItems"]) == ("PeerlistComplete", "2")
        response, items, complete = await client.listing("IAXpeerlist")
        assert response["Message"] == "IAX Peer status list will follow"
        assert items[0]["Channeltype"] == "IAX"
        assert (complete.name, complete["ListItems"]) == ("PeerlistComplete", "1")
        response, items, complete = await client.listing("PJSIPShowEndpoints")
        assert [i.name for i in items] == ["EndpointList"] * 3
        assert [i["ObjectName"] for i in items] == ["100", "101", "102"]
        assert items[0]["DeviceState"] == "Not in use"
        assert (complete.name, complete["ListItems"]) == ("EndpointListComplete", "3")
        server.pbx.pjsip_endpoints = []
        assert (await client.call("PJSIPShowEndpoints"))["Message"] == "No endpoints found"
        server.sip_peers.clear()
        await client.action("SIPpeers", action_id=None)
        await client.until(lambda m: m.name == "PeerlistComplete")
        assert bytes(client.raw).endswith(
            b"Response: Success\r\nEventList: start\r\n"
            b"Message: Peer status list will follow\r\n\r\n"
            b"Event: PeerlistComplete\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
        )


# -- Originate ----------------------------------------------------------------------------------
async def test_originate_without_simulator() -> None:
    async with serving(originate_delay=0.01, handler_errors="respond") as (server, connect):
        client = await connect()
        listener = await connect()
        await client.action(
            "Originate",
            {
                "Channel": "Local/100@test",
                "Application": "Wait",
                "Data": "2",
                "Async": "true",
                "CallerID": '"AMI Test" <5551234>',
            },
            action_id="o1",
        )
        queued = await client.response("o1")
        assert queued.headers == (
            ("Response", "Success"),
            ("ActionID", "o1"),
            ("Message", "Originate successfully queued"),
        )
        outcome = await client.event("OriginateResponse")
        assert [k for k, _ in outcome.headers] == [
            "Event", "Privilege", "ActionID", "Response", "Channel", "Application", "Data",
            "Reason", "Uniqueid", "CallerIDNum", "CallerIDName",
        ]  # fmt: skip
        assert outcome["Response"] == "Success" and outcome["Reason"] == "4"
        assert re.fullmatch(r"Local/100@test-[0-9a-f]{8};1", outcome["Channel"])
        assert (outcome["CallerIDNum"], outcome["CallerIDName"]) == ("5551234", "AMI Test")
        # a broadcast event: the other session sees it too
        assert (await listener.event("OriginateResponse"))["ActionID"] == "o1"

        await client.action(
            "Originate",
            {
                "Channel": "Local/999@test",
                "Context": "test",
                "Exten": "999",
                "Priority": "1",
                "Async": "yes",
            },
            action_id="o2",
        )
        failed = await client.event("OriginateResponse")
        assert failed.headers[2:] == (
            ("ActionID", "o2"),
            ("Response", "Failure"),
            ("Channel", "Local/999@test"),
            ("Context", "test"),
            ("Exten", "999"),
            ("Reason", "0"),
            ("Uniqueid", "<unknown>"),
            ("CallerIDNum", "<unknown>"),
            ("CallerIDName", "<unknown>"),
        )
        server.originate_outcome = lambda action: "busy"
        await client.call(
            "Originate", {"Channel": "PJSIP/100", "Application": "Echo", "Async": "1"}
        )
        assert (await client.event("OriginateResponse"))["Reason"] == "5"
        sync_fail = await client.call("Originate", {"Channel": "PJSIP/100", "Application": "Echo"})
        assert (sync_fail.name, sync_fail["Message"]) == ("Error", "Originate failed")
        server.originate_outcome = None
        sync_ok = await client.call("Originate", {"Channel": "PJSIP/100", "Application": "Echo"})
        assert sync_ok["Message"] == "Originate successfully queued"
        for headers, message in [
            ({"Application": "Echo"}, "Channel not specified"),
            ({"Channel": "nochannel", "Application": "Echo"}, "Invalid channel"),
            (
                {"Channel": "PJSIP/1", "Exten": "1"},
                "Originate with 'Exten' requires 'Context' and 'Priority'",
            ),
            ({"Channel": "PJSIP/1", "Timeout": "soon", "Application": "Echo"}, "Invalid timeout"),
            (
                {"Channel": "PJSIP/1", "Priority": "start", "Application": "Echo"},
                "Invalid priority",
            ),
        ]:
            error = await client.call("Originate", headers)
            assert (error.name, error["Message"]) == ("Error", message)
        server.originate_outcome = lambda action: "sideways"
        assert (
            await client.call("Originate", {"Channel": "PJSIP/1", "Application": "E"})
        ).name == "Error"
        assert isinstance(server.handler_exceptions[0], ValueError)


async def test_originate_with_simulator_makes_a_call() -> None:
    simulator = PBXSimulator(seed=3, time_scale=0.02)
    async with serving(simulator=simulator) as (server, connect):
        client = await connect()
        await client.action(
            "Originate",
            {
                "Channel": "Local/300@test",
                "Application": "Wait",
                "Data": "30",
                "Async": "true",
                "Variable": "FOO=bar",
            },
            action_id="orig",
        )
        seen = await client.until(lambda m: m.name == "OriginateResponse")
        seen = seen[next(i for i, m in enumerate(seen) if m.get("ActionID") == "orig") :]
        names = [m.name for m in seen]
        assert names[:3] == ["Success", "Newchannel", "Newchannel"]
        assert "LocalBridge" in names and "DialEnd" in names
        varsets = [m for m in seen if m.name == "VarSet"]
        assert {(m["Channel"][-2:], m["Variable"], m["Value"]) for m in varsets} == {
            (";1", "FOO", "bar"),
            (";2", "FOO", "bar"),
        }
        outcome = seen[-1]
        assert outcome["ActionID"] == "orig" and outcome["Response"] == "Success"
        _, items, complete = await client.listing("CoreShowChannels")
        assert sorted(i["Channel"] for i in items) == sorted(
            ch.name for ch in server.live_channels()
        )
        assert complete["ListItems"] == "2"
        one = next(i for i in items if i["Channel"].endswith(";1"))
        assert (one["Application"], one["ApplicationData"]) == ("Wait", "30")
        assert [k for k, _ in one.headers][:3] == ["Event", "ActionID", "Channel"]
        assert re.fullmatch(r"\d\d:\d\d:\d\d", one["Duration"])
        status_response, status, status_done = await client.listing("Status")
        assert status_response["Message"] == "Channel status will follow"
        assert status[0].headers[-1] == ("ActionID", status_done["ActionID"])
        assert status_done["Items"] == "2"
        text = await client.call("Command", {"Command": "core show channels"})
        assert text.output[-3:] == ["2 active channels", "1 active call", "1 call processed"]
        # hang it up through AMI: regex form
        await client.action("Hangup", {"Channel": "/^Local/300@test-.*/"}, action_id="h")
        hung = await client.response("h")
        assert hung["Message"] == "Channels hung up will follow"
        done = await client.until(lambda m: m.name == "ChannelsHungupListComplete")
        assert done[-1]["ListItems"] == "2"
        assert [m["ActionID"] for m in done if m.name == "ChannelHungup"] == ["h", "h"]
        hangups = await client.until(
            lambda m: [x.name for x in client.seen[-30:]].count("Hangup") == 2
        )
        assert [m.name for m in hangups].count("Hangup") == 2
        assert next(m for m in hangups if m.name == "SoftHangupRequest")["Cause"] == "16"
        assert server.live_channels() == []

        sync = await client.call(
            "Originate", {"Channel": "PJSIP/101", "Application": "Wait", "Data": "1"}
        )
        assert sync["Message"] == "Originate successfully queued"
        assert any(ch.name.startswith("PJSIP/101-") for ch in server.live_channels())
        failed = await client.call(
            "Originate", {"Channel": "Local/999@test", "Application": "Wait", "Data": "1"}
        )
        assert failed["Message"] == "Originate failed"


async def test_hangup_redirect_and_channel_variables() -> None:
    simulator = PBXSimulator(seed=5, ring_time=(0.01, 0.02))
    async with serving(simulator=simulator) as (server, connect):
        client = await connect()
        assert (await client.call("Hangup"))["Message"] == "No channel specified"
        assert (await client.call("Hangup", {"Channel": "PJSIP/1-1"}))[
            "Message"
        ] == "No such channel"
        assert (await client.call("Hangup", {"Channel": "/x"}))["Message"].startswith(
            "Regex format"
        )
        await client.call(
            "Originate", {"Channel": "PJSIP/105", "Application": "Wait", "Data": "60"}
        )
        [channel] = server.live_channels()
        set_ok = await client.call(
            "Setvar", {"Channel": channel.name, "Variable": "COLOR", "Value": "blue"}
        )
        assert set_ok["Message"] == "Variable Set"
        varset = await client.event("VarSet")
        assert (varset["Channel"], varset["Variable"], varset["Value"]) == (
            channel.name,
            "COLOR",
            "blue",
        )
        got = await client.call("Getvar", {"Channel": channel.name, "Variable": "COLOR"})
        assert got["Value"] == "blue"
        uid = await client.call("Getvar", {"Channel": channel.name, "Variable": "UNIQUEID"})
        assert uid["Value"] == channel.uniqueid

        for headers, message in [
            ({}, "Channel not specified"),
            ({"Channel": channel.name}, "Context not specified"),
            ({"Channel": channel.name, "Context": "c"}, "Exten not specified"),
            ({"Channel": channel.name, "Context": "c", "Exten": "1"}, "Priority not specified"),
            (
                {"Channel": channel.name, "Context": "c", "Exten": "1", "Priority": "x"},
                "Priority is invalid",
            ),
            (
                {"Channel": "PJSIP/9-9", "Context": "c", "Exten": "1", "Priority": "1"},
                "Channel does not exist: PJSIP/9-9",
            ),
        ]:
            assert (await client.call("Redirect", headers))["Message"] == message
        moved = await client.call(
            "Redirect",
            {"Channel": channel.name, "Context": "other", "Exten": "200", "Priority": "1"},
        )
        assert moved["Message"] == "Redirect successful"
        newexten = await client.event("Newexten")
        assert (newexten["Context"], newexten["Exten"]) == ("other", "200")

        await client.action("Hangup", {"Channel": channel.name, "Cause": "17"}, action_id="hx")
        assert (await client.response("hx"))["Message"] == "Channel Hungup"
        soft = await client.event("SoftHangupRequest")
        assert soft["Channel"] == channel.name
        hangup = await client.event("Hangup")
        assert (hangup["Cause"], hangup["Cause-txt"]) == ("17", "User busy")
        assert server.live_channels() == []


async def test_numbers_from_a_client_are_ascii_digits_only() -> None:
    # "²" passes str.isdigit() but int() refuses it; int() reads "٣", which Asterisk does not.
    simulator = PBXSimulator(seed=5, ring_time=(0.01, 0.02))
    async with serving(simulator=simulator) as (server, connect):
        client = await connect()
        for mask in ("²", "٣", "1²"):
            events = await client.call("Events", {"EventMask": mask})
            assert (events.name, events["Events"]) == ("Success", "Off")
        hangup = await client.call("Hangup", {"Channel": "PJSIP/1-1", "Cause": "²"})
        assert hangup["Message"] == "No such channel"
        await client.call(
            "Originate", {"Channel": "PJSIP/105", "Application": "Wait", "Data": "60"}
        )
        [channel] = server.live_channels()
        redirect = {"Channel": channel.name, "Context": "c", "Exten": "1", "Priority": "1"}
        extra = {"ExtraChannel": channel.name, "ExtraContext": "d", "ExtraExten": "2"}
        for bad in ("²", "٣", "1²"):
            answer = await client.call("Redirect", {**redirect, "Priority": bad})
            assert answer["Message"] == "Priority is invalid"
            answer = await client.call("Redirect", {**redirect, **extra, "ExtraPriority": bad})
            assert answer["Message"] == "ExtraPriority is invalid"
        originate = {"Channel": "PJSIP/106", "Context": "test", "Exten": "100", "Priority": "1"}
        for key, message in (("Priority", "Invalid priority"), ("Timeout", "Invalid timeout")):
            for bad in ("²", "٣", "x1"):
                answer = await client.call("Originate", {**originate, key: bad})
                assert answer["Message"] == message
        # A priority is read as Asterisk's sscanf("%d") reads it: " 2nd" is 2.
        answer = await client.call("Originate", {**originate, "Priority": " 2nd"})
        assert answer["Message"] == "Originate successfully queued"
        [placed] = [ch for ch in server.live_channels() if ch.name.startswith("PJSIP/106-")]
        assert placed.priority == 2
        # A Wait that is no time at all: the call lasts a simulated talk time instead.
        for data in ("inf", "nan", "-5", "1e400"):
            local = {"Channel": "Local/300@test", "Application": "Wait", "Data": data}
            answer = await client.call("Originate", local)
            assert answer["Message"] == "Originate successfully queued"
        assert server.handler_exceptions == []


def test_a_version_that_is_not_ascii_digits_stops_at_them() -> None:
    assert not FakeAMIServer(ami_version="11.²").settings.flavour.command_is_legacy
    assert FakeAMIServer(ami_version="2.²").settings.flavour.command_is_legacy


async def test_dual_redirect_and_status_of_one_channel() -> None:
    simulator = PBXSimulator(seed=6, ring_time=(0.01, 0.02))
    async with serving(simulator=simulator) as (server, connect):
        client = await connect()
        for endpoint in ("106", "107"):
            await client.call(
                "Originate", {"Channel": f"PJSIP/{endpoint}", "Application": "Wait", "Data": "60"}
            )
        first, second = server.live_channels()
        await client.call("Setvar", {"Channel": first.name, "Variable": "TAG", "Value": "a"})
        _, [status], done = await client.listing(
            "Status", {"Channel": first.name, "Variables": "TAG,UNIQUEID"}
        )
        assert status.get_all("Variable") == ["TAG=a", f"UNIQUEID={first.uniqueid}"]
        assert (status["Type"], done["ListItems"]) == ("PJSIP", "1")
        assert (await client.call("Status", {"Channel": "PJSIP/0-0"}))[
            "Message"
        ] == "No such channel"
        headers = {"Channel": first.name, "Context": "c", "Exten": "1", "Priority": "1"}
        extra = {"ExtraChannel": second.name, "ExtraContext": "d", "ExtraExten": "2"}
        missing = await client.call("Redirect", {**headers, **extra})
        assert missing["Message"] == "ExtraPriority not specified"
        moved = await client.call("Redirect", {**headers, **extra, "ExtraPriority": "1"})
        assert moved["Message"] == "Dual Redirect successful"
        assert [(c.context, c.exten) for c in (first, second)] == [("c", "1"), ("d", "2")]
        gone = await client.call("Redirect", {**headers, "ExtraChannel": "PJSIP/0-0"})
        assert gone["Message"] == "ExtraChannel does not exist: PJSIP/0-0"


async def test_global_variables() -> None:
    async with serving() as (server, connect):
        client = await connect()
        response = await client.call("Setvar", {"Variable": "G", "Value": "1"})
        assert response.headers == (
            ("Response", "Success"),
            ("ActionID", "t-2"),
            ("Message", "Variable Set"),
        )
        event = await client.event("VarSet")
        assert event.headers == (
            ("Event", "VarSet"),
            ("Privilege", "dialplan,all"),
            ("Channel", "none"),
            ("Uniqueid", "none"),
            ("Variable", "G"),
            ("Value", "1"),
        )
        assert server.pbx.global_vars == {"G": "1"}
        assert (await client.call("Getvar", {"Variable": "G"}))["Value"] == "1"
        assert (await client.call("Getvar", {"Variable": "UNSET"}))["Value"] == ""
        assert (await client.call("Getvar", {}))["Message"] == "No variable specified"
        assert (await client.call("Setvar", {"Value": "x"}))["Message"] == "No variable specified"
        nochan = await client.call("Getvar", {"Channel": "Local/x-00000000;1", "Variable": "X"})
        assert nochan["Message"] == "No such channel"


async def test_config_actions() -> None:
    async with serving() as (server, connect):
        server.configs["tiny.conf"] = {"only": ["a=1", "b = two"]}
        client = await connect()
        config = await client.call("GetConfig", {"Filename": "tiny.conf"})
        assert config.headers[2:] == (
            ("Category-000000", "only"),
            ("Line-000000-000000", "a=1"),
            ("Line-000000-000001", "b = two"),
        )
        subset = await client.call("GetConfig", {"Filename": "extensions.conf", "Category": "test"})
        assert subset["Category-000000"] == "test"
        assert subset["Line-000000-000013"] == "same=n,Hangup()"
        as_json = await client.call("GetConfigJSON", {"Filename": "tiny.conf"})
        assert json.loads(as_json["JSON"]) == {"only": {"a": "1", "b": "two"}}
        manager = json.loads(
            (await client.call("GetConfigJSON", {"Filename": "manager.conf"}))["JSON"]
        )
        assert manager["admin"]["secret"] == "secret"
        categories = await client.call("ListCategories", {"Filename": "extensions.conf"})
        assert [v for k, v in categories.headers if k.startswith("Category-")] == [
            "general", "globals", "default", "test",
        ]  # fmt: skip
        for name in ("GetConfig", "GetConfigJSON", "ListCategories"):
            missing = await client.call(name, {"Filename": "nonexistent.conf"})
            assert missing["Message"] == "Config file not found"
            assert (await client.call(name))["Message"] == "Filename not specified"


async def test_extension_state() -> None:
    simulator = PBXSimulator(seed=1, ring_time=(0.01, 0.02))
    async with serving(simulator=simulator) as (server, connect):
        server.hints["100@test"] = "Custom:test100"
        client = await connect()
        custom = await client.call("ExtensionState", {"Exten": "100", "Context": "test"})
        assert custom.headers[2:] == (
            ("Message", "Extension Status"),
            ("Exten", "100"),
            ("Context", "test"),
            ("Hint", "Custom:test100"),
            ("Status", "0"),
            ("StatusText", "Idle"),
        )
        none = await client.call("ExtensionState", {"Exten": "555"})
        assert (none["Context"], none["Hint"], none["Status"], none["StatusText"]) == (
            "default", "", "-1", "Unknown",
        )  # fmt: skip
        await client.call(
            "Originate", {"Channel": "PJSIP/104", "Application": "Wait", "Data": "60"}
        )
        busy = await client.call("ExtensionState", {"Exten": "104", "Context": "from-internal"})
        assert (busy["Hint"], busy["Status"], busy["StatusText"]) == ("PJSIP/104", "1", "InUse")
        assert (await client.call("ExtensionState"))["Message"] == "Extension not specified"


async def test_userevent_reaches_every_session() -> None:
    async with serving() as (_, connect):
        client = await connect()
        other = await connect()
        await client.action(
            "UserEvent",
            [("UserEvent", "MyEvent"), ("Header1", "value1"), ("Header2", "value 2")],
            action_id="u1",
        )
        await client.response("u1")
        await client.event("UserEvent")
        assert (
            b"Response: Success\r\nActionID: u1\r\nMessage: Event Sent\r\n\r\n"
            b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: MyEvent\r\nActionID: u1\r\n"
            b"Header1: value1\r\nHeader2: value 2\r\n\r\n"
        ) in client.raw
        assert (await other.event("UserEvent"))["Header2"] == "value 2"


# -- scripting ----------------------------------------------------------------------------------
async def test_handlers_and_canned_replies() -> None:
    async with serving(handler_errors="respond") as (server, connect):
        server.set_reply("Foo", {"Response": "Success", "Message": "x"})

        async def queue_status(session: FakeSession, action: Message) -> list[object]:
            await trio.sleep(0)
            return [
                [
                    ("Response", "Success"),
                    ("EventList", "start"),
                    ("Message", "Queue status will follow"),
                ],
                {"Event": "QueueParams", "Queue": "support"},
                Event("Event: QueueStatusComplete\nEventList: Complete\nListItems: 1"),
            ]

        server.set_handler("QueueStatus", queue_status)  # type: ignore[arg-type]
        server.set_handler(
            "Ping", lambda session, action: {"Response": "Success", "Ping": "Custom"}
        )
        server.set_handler("Explode", lambda session, action: {"Value": str(1 / 0)})
        server.set_reply("Raw", b"Response: Success\r\nMessage: raw\r\n\r\n")
        server.set_reply("Nothing", None)
        client = await connect()
        foo = await client.call("Foo")
        assert foo.headers == (("Response", "Success"), ("ActionID", "t-2"), ("Message", "x"))
        _, items, complete = await client.listing("QueueStatus")
        assert [(i.name, i["ActionID"]) for i in items] == [("QueueParams", "t-3")]
        assert complete["ListItems"] == "1"
        assert (await client.call("Ping"))["Ping"] == "Custom"
        boom = await client.call("Explode")
        assert boom.name == "Error" and "ZeroDivisionError" in boom["Message"]
        assert isinstance(server.handler_exceptions[0], ZeroDivisionError)
        await client.action("Raw", action_id="r")
        raw = await client.response(None)
        assert raw["Message"] == "raw"
        await client.action("Nothing")
        server.set_handler("Ping", None)
        pong = await client.call("Ping")
        assert pong["Ping"] == "Pong"
        assert server.received[-2]["Action"] == "Nothing"


# -- faults -------------------------------------------------------------------------------------
async def test_stall_and_close_mid_packet() -> None:
    async with serving() as (server, connect):
        client = await connect()
        server.stall("CoreShowChannels")
        await client.action("CoreShowChannels", action_id="never")
        assert (await client.call("Ping")).name == "Success"
        assert not any(m.get("ActionID") == "never" for m in client.seen)
        server.unstall("CoreShowChannels")
        assert (await client.call("CoreShowChannels"))["EventList"] == "start"

        server.sessions[0].stall("Ping")
        await client.action("Ping", action_id="p")
        await client.quiet(0.05)
        assert not any(m.get("ActionID") == "p" for m in client.seen)

        server.close_mid_packet("Getvar")
        await client.action("Getvar", {"Variable": "G"}, action_id="half")
        with pytest.raises(RemoteProtocolError):
            await client.rest()
        full = b"Response: Success\r\nActionID: half\r\nVariable: G\r\nValue: \r\n\r\n"
        assert client.raw.endswith(full[: len(full) // 2])


async def test_session_close_and_send_raw() -> None:
    async with serving() as (server, connect):
        client = await connect()
        [session] = server.sessions
        session.send_raw(b"Response: Success\r\nActionID: garbage")
        session.send_raw(b"\r\n\r\n")
        assert (await client.response("garbage")).name == "Success"
        session.send_raw(b"Event: Half\r\nChan")
        with trio.fail_after(TIMEOUT):
            while not client.raw.endswith(b"Chan"):
                await client._fill()
        session.close()
        assert session.closed
        with pytest.raises(RemoteProtocolError):
            await client.rest()
        await server.wait_until(lambda: not server.sessions)

        other = await connect()
        server.disconnect_all(reset=True)
        with pytest.raises((trio.BrokenResourceError, RemoteProtocolError, AssertionError)):
            assert await other.rest() == [] and False


async def test_slow_writes_are_chunked() -> None:
    async with serving() as (server, connect):
        client = await connect()
        server.write_chunk_size = 7  # shorthands for server.configure(...)
        server.write_delay = 0.002
        reads: list[int] = []
        original = client.stream.receive_some

        async def counting(max_bytes: int | None = None) -> bytes:
            data = await original(max_bytes)
            reads.append(len(data))
            return bytes(data)

        client.stream.receive_some = counting  # type: ignore[method-assign]
        start = trio.current_time()
        response = await client.call("Command", {"Command": "core show version"})
        assert response.output[0].startswith("Asterisk 22.10.1")
        assert max(reads) <= 7 * 2  # chunks may merge in the socket, never much
        assert len(reads) > 10
        assert trio.current_time() - start >= 0.002 * 10


async def test_slow_reader_is_disconnected_others_are_not() -> None:
    async with serving(session_queue_size=20) as (server, connect):
        await connect()  # logs in, then never reads again
        fast = await connect()
        slow_session, fast_session = server.sessions
        payload = "x" * 8000
        received = 0

        async def read_fast() -> None:
            nonlocal received
            while True:
                message = await fast.next()
                if message is None:
                    return
                received += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_fast)
            pushed = 0
            with trio.fail_after(10):
                while not slow_session.closed:
                    server.push_event("UserEvent", {"UserEvent": "Bulk", "Data": payload})
                    pushed += 1
                    await trio.sleep(0)
            assert slow_session.overflowed and server.statistics().overflow_disconnects == 1
            assert not fast_session.closed
            await fast.action("Ping", action_id="alive")
            await server.wait_until(lambda: received >= pushed)
            nursery.cancel_scope.cancel()
        assert fast_session in server.sessions


async def test_write_timeout_drops_a_stuck_client() -> None:
    async with serving(write_timeout=0.05) as (server, connect):
        await connect()  # never reads again
        [session] = server.sessions
        with trio.fail_after(TIMEOUT):
            while not session.closed:
                server.push_event("UserEvent", {"Pad": "x" * 60_000})
                await trio.sleep(0.001)
        assert server.statistics().write_timeouts == 1 and not session.overflowed


async def test_push_event_async_waits_instead_of_dropping() -> None:
    async with serving(session_queue_size=3) as (server, connect):
        client = await connect()
        await client.event("SuccessfulAuth")
        [session] = server.sessions
        count = 0

        async def read_slowly() -> None:
            nonlocal count
            while count < 300:
                if (await client.next()) is not None:
                    count += 1
                if count % 50 == 0:
                    await trio.sleep(0.01)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_slowly)
            for n in range(300):
                assert await server.push_event_async("UserEvent", {"N": str(n), "Pad": "x" * 4000})
        assert count == 300 and not session.closed
        assert server.statistics().overflow_disconnects == 0
        assert [m["N"] for m in client.seen[-300:]] == [str(n) for n in range(300)]


async def test_replay_capture() -> None:
    raw = (DATA / "login_plain.raw").read_bytes()
    server = FakeAMIServer.replay(raw)
    async with serving(server) as (_, connect):
        client = await connect(login=False)
        await client.rest()
        assert bytes(client.raw) == raw

    paced = FakeAMIServer(users={})
    paced.replay_capture(DATA / "asterisk13" / "sippeers.raw", paced=True)
    async with serving(paced) as (server, connect):
        client = await connect(login=False)
        assert bytes(client.raw) == b"Asterisk Call Manager/2.10.6\r\n"
        login = await client.call("Login", {"Username": "whoever", "Secret": "whatever"})
        assert login["Message"] == "Authentication accepted"
        assert login["ActionID"] == "t-1"
        _, peers, complete = await client.listing("SIPpeers")
        assert [p["ObjectName"] for p in peers] == ["alice", "bob"]
        assert [p["ActionID"] for p in peers] == ["t-2", "t-2"] and complete["ListItems"] == "2"
        assert server.received[0]["Username"] == "whoever"


# -- client input -------------------------------------------------------------------------------
ACTIONS = (
    b"Action: Login\r\nActionID: 1\r\nUsername: admin\r\nSecret: secret\r\n\r\n"
    b"Action: Ping\nActionID: 2\n\n"  # bare LF line ends are accepted
    b"Action: Getvar\r\nActionID: 3\r\nVariable: NAME\r\n\r\n"
    b"Action: UserEvent\r\nActionID: 4\r\nUserEvent: Caf\xc3\xa9\r\nWho: Zo\xc3\xab\r\n\r\n"
    b"Action: Logoff\r\nActionID: 5\r\n\r\n"
)


def _chunkings() -> list[list[bytes]]:
    bytewise = [ACTIONS[i : i + 1] for i in range(len(ACTIONS))]
    out = [[ACTIONS], bytewise]
    for seed in range(3):
        rng = random.Random(seed)
        chunks, pos = [], 0
        while pos < len(ACTIONS):
            size = rng.randint(1, 23)
            chunks.append(ACTIONS[pos : pos + size])
            pos += size
        out.append(chunks)
    return out


async def test_any_chunking_of_client_input() -> None:
    async with serving() as (server, connect):
        server.pbx.global_vars["NAME"] = "Zoë"
        results = []
        for chunks in _chunkings():
            client = await connect(login=False)
            for chunk in chunks:
                await client.send(chunk)
            messages = await client.rest()
            results.append(
                [
                    (m.name, m.get("ActionID"), m.get("Value"), m.get("UserEvent"))
                    for m in messages
                    if m.name not in ("SuccessfulAuth",)
                ]
            )
        assert all(result == results[0] for result in results)
        assert ("UserEvent", "4", None, "Café") in results[0]
        assert ("Success", "3", "Zoë", None) in results[0]
        assert results[0][-1] == ("Goodbye", "5", None, None)


async def test_other_encodings() -> None:
    async with serving(encoding="latin-1") as (server, connect):
        client = await connect()
        server.push_event("Newchannel", {"CallerIDName": "José Müller"})
        await client.event("Newchannel")
        assert b"CallerIDName: Jos\xe9 M\xfcller\r\n" in client.raw


async def test_serve_stream_on_memory_streams() -> None:
    server = FakeAMIServer(users={"admin": "secret"})
    client_end, server_end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_stream, server_end)
        client = Client(client_end)
        await client.login()
        await client.action("Originate", {"Channel": "PJSIP/1", "Application": "E", "Async": "1"})
        assert (await client.event("OriginateResponse"))["Response"] == "Success"
        await client.call("Logoff")
        assert await client.rest() == []
    assert server.sessions == []


async def test_listen_tcp_cleans_up_and_propagates_errors() -> None:
    server = FakeAMIServer()
    with pytest.raises(KeyError):
        async with server.listen_tcp() as (host, port):
            client = Client(await trio.open_tcp_stream(host, port))
            await client.login()
            assert len(server.sessions) == 1
            raise KeyError("boom")
    assert server.sessions == []
    try:
        assert [m.name for m in await client.rest()] == ["FullyBooted", "SuccessfulAuth"]
    finally:
        await client.stream.aclose()
    await server.wait_for_sessions(0)


async def test_listen_tcp_under_outer_cancellation() -> None:
    server = FakeAMIServer()
    with trio.move_on_after(0.05) as scope:
        async with server.listen_tcp() as (host, port):
            stream = await trio.open_tcp_stream(host, port)
            await trio.sleep(10)
    await stream.aclose()
    assert scope.cancelled_caught
    assert server.sessions == []


async def test_wait_helpers() -> None:
    async with serving() as (server, connect):
        async with trio.open_nursery() as nursery:

            async def later() -> None:
                client = await connect()
                await client.action("Ping")

            nursery.start_soon(later)
            await server.wait_for_sessions(1)
            ping = await server.wait_for_action("Ping")
            assert ping["ActionID"] == "t-2"


# -- the simulator ------------------------------------------------------------------------------
def check_consistency(events: Sequence[Message]) -> None:
    """Every Newchannel gets one Hangup, after it; dials, bridges balance out."""
    live: set[str] = set()
    created: Counter[str] = Counter()
    ended: Counter[str] = Counter()
    dials: Counter[str] = Counter()
    bridges: Counter[str] = Counter()
    members: Counter[str] = Counter()
    for event in events:
        name = event.name
        if name == "Newchannel":
            channel = event["Channel"]
            assert channel not in live
            live.add(channel)
            created[channel] += 1
            assert re.fullmatch(r"(PJSIP/\w+-[0-9a-f]{8}|Local/\S+-[0-9a-f]{8};[12])", channel)
            assert re.fullmatch(r"\d+\.\d+", event["Uniqueid"])
            assert re.fullmatch(r"\d+\.\d+", event["Linkedid"])
        elif name == "Hangup":
            channel = event["Channel"]
            assert channel in live, f"Hangup before Newchannel: {channel}"
            live.remove(channel)
            ended[channel] += 1
            assert event["Cause-txt"]
        elif name in ("Newstate", "Newexten", "VarSet", "HangupRequest", "SoftHangupRequest"):
            assert event["Channel"] in live, event
        elif name == "DialBegin":
            dials[event["DestChannel"]] += 1
        elif name == "DialEnd":
            dials[event["DestChannel"]] -= 1
        elif name == "BridgeCreate":
            bridges[event["BridgeUniqueid"]] += 1
        elif name == "BridgeDestroy":
            bridges[event["BridgeUniqueid"]] -= 1
        elif name == "BridgeEnter":
            members[event["Channel"]] += 1
        elif name == "BridgeLeave":
            members[event["Channel"]] -= 1
    assert not live
    assert created == ended
    assert all(v == 0 for v in dials.values())
    assert all(v == 0 for v in bridges.values())
    assert all(v == 0 for v in members.values())


async def test_simulated_traffic_is_consistent() -> None:
    simulator = PBXSimulator(seed=11, time_scale=0.01, ring_time=(1, 5), talk_time=(2, 20))
    async with serving(simulator=simulator) as (_, connect):
        client = await connect()
        other = await connect()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: simulator.run(calls_per_second=60, duration=0.6))
            checks = 0
            while checks < 5:
                await trio.sleep(0.1)
                # CoreShowChannels lists exactly the channels the events so far left alive
                action_id = await client.action("CoreShowChannels")
                got = await client.until(lambda m: m.name == "CoreShowChannelsComplete")
                live = set()
                for message in client.seen[: len(client.seen) - len(got)] + got:
                    if message.name == "Newchannel":
                        live.add(message["Channel"])
                    elif message.name == "Hangup":
                        live.discard(message["Channel"])
                listed = {m["Channel"] for m in got if m.name == "CoreShowChannel"}
                assert listed == live
                assert got[-1]["ListItems"] == str(len(live))
                assert got[-1]["ActionID"] == action_id
                checks += 1
        await client.call("Ping")
        assert simulator.calls_started > 10
        assert simulator.calls_completed == simulator.calls_started
        assert simulator.channels == {}
        events = [m for m in client.seen if isinstance(m, Event) and m.get("ActionID") is None]
        check_consistency(events)
        names = Counter(m.name for m in events)
        for name in (
            "Newchannel",
            "Newstate",
            "DialBegin",
            "DialEnd",
            "BridgeCreate",
            "BridgeEnter",
            "BridgeLeave",
            "BridgeDestroy",
            "VarSet",
            "Newexten",
            "Hangup",
        ):
            assert names[name] > 0, name
        states = {m["ChannelStateDesc"] for m in events if m.name == "Newstate"}
        assert states == {"Ringing", "Up"}
        assert {m["ChannelStateDesc"] for m in events if m.name == "Newchannel"} == {"Ring", "Down"}
        assert any(not m["CallerIDName"].isascii() for m in events if m.name == "Newchannel")
        sample = next(m for m in events if m.name == "Newchannel")
        assert [k for k, _ in sample.headers] == [
            "Event", "Privilege", "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum",
            "CallerIDName", "ConnectedLineNum", "ConnectedLineName", "Language", "AccountCode",
            "Context", "Exten", "Priority", "Uniqueid", "Linkedid",
        ]  # fmt: skip
        hangup = next(m for m in events if m.name == "Hangup")
        assert [k for k, _ in hangup.headers][-2:] == ["Cause", "Cause-txt"]
        # the other session got the very same event stream
        await other.call("Ping")
        other_events = [m for m in other.seen if isinstance(m, Event) and m.get("ActionID") is None]
        assert [m.headers for m in other_events if m.name != "SuccessfulAuth"] == [
            m.headers for m in events if m.name != "SuccessfulAuth"
        ]


async def run_recorded(seed: int) -> list[tuple[tuple[str, str], ...]]:
    simulator = PBXSimulator(seed=seed, record=True)
    await simulator.run(calls_per_second=2, duration=30)
    return [event.headers for event in simulator.events]


async def test_simulator_is_deterministic(autojump_clock: trio.testing.MockClock) -> None:
    first = await run_recorded(7)
    assert len(first) > 100
    assert first == await run_recorded(7)
    assert first != await run_recorded(8)
    check_consistency([Event("\n".join(f"{k}: {v}" for k, v in h)) for h in first])


async def test_cancelled_simulation_hangs_up_everything(
    autojump_clock: trio.testing.MockClock,
) -> None:
    simulator = PBXSimulator(seed=2, record=True, outcomes={"ANSWER": 1.0}, talk_time=(50, 60))
    with trio.move_on_after(20):
        await simulator.run(calls_per_second=1)
    assert simulator.channels == {}
    assert simulator.calls_completed == simulator.calls_started > 5
    check_consistency(simulator.events)
    assert simulator.events[-1].name in ("Hangup", "BridgeDestroy", "DeviceStateChange")


async def test_place_call_outcomes(autojump_clock: trio.testing.MockClock) -> None:
    simulator = PBXSimulator(seed=4, record=True)
    for outcome in ("ANSWER", "NOANSWER", "BUSY", "CONGESTION", "CANCEL"):
        simulator.events.clear()
        await simulator.place_call("101", "102", outcome=outcome)
        check_consistency(simulator.events)
        [dial_end] = [e for e in simulator.events if e.name == "DialEnd"]
        assert dial_end["DialStatus"] == outcome
        assert dial_end["Channel"].startswith("PJSIP/101-")
        assert dial_end["DestChannel"].startswith("PJSIP/102-")
    simulator.events.clear()
    await simulator.place_call("+15551234567", "103", inbound=True, outcome="ANSWER")
    first = simulator.events[0]
    assert first["Channel"].startswith("PJSIP/trunk-")
    assert (first["CallerIDNum"], first["Context"], first["Exten"]) == (
        "+15551234567", "from-trunk", "103",
    )  # fmt: skip
    with pytest.raises(ValueError, match="unknown outcome"):
        await simulator.place_call(outcome="MAYBE")
