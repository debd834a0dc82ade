"""Recordings of real Asterisk servers: loading them, and the fake server against them (its
answers to the recorded actions match the real ones header by header, and it replays a
recording as it was sent)."""

from __future__ import annotations

import pytest
from helpers.fake_server import DATA, serving

from trio_ami.sansio import Event, Message, PacketParser, Response
from trio_ami.testing import FakeAMIServer, ReplayScript, load_capture

CAPTURES = sorted(path.name.removesuffix(".raw") for path in DATA.glob("*.raw"))
CAPTURES += sorted(
    "asterisk13/" + p.name.removesuffix(".raw") for p in DATA.glob("asterisk13/*.raw")
)


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


# -- loading --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CAPTURES)
def test_a_capture_holds_every_byte_once(name: str) -> None:
    capture = load_capture(DATA / name)
    assert b"".join(capture.actions) == capture.sent
    assert b"".join(capture.reads) == capture.raw
    assert capture.banner.startswith(b"Asterisk Call Manager/")
    packets = capture.packets()
    # Framed by the core's parser, each piece exactly as sent, stray empty lines included.
    assert capture.banner + b"".join(packets) == capture.raw
    parser = PacketParser()
    parser.receive_data(capture.raw)
    assert len(parser.take_messages()) == len(packets)
    groups = ReplayScript.from_raw(capture.raw, paced=True).groups
    assert b"".join(groups) == b"".join(packets)
    assert all(group.lstrip(b"\r\n").startswith(b"Response:") for group in groups[1:])


def test_a_capture_loads_from_any_of_its_files() -> None:
    loaded = {load_capture(DATA / f"ping{suffix}") for suffix in ("", ".raw", ".transcript.txt")}
    assert len(loaded) == 1
    [capture] = loaded
    assert capture.closed and len(capture.actions) == 4
    with pytest.raises(FileNotFoundError):
        load_capture(DATA / "no-such-recording")
