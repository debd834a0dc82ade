"""Replays of real Asterisk 22 and 13 sessions (``tests/data``) through ClientProtocol.

Each transcript is replayed in order: the server's reads are fed to the protocol and each
action the recorded client sent is sent again through the protocol, whose bytes must equal the
recorded ones. What each action must get is worked out independently, from the raw bytes the
server sent (``NAME.raw``): its response, the items and end of the list it opened, the outcome
of an async Originate, the output of a Command. Every other event must arrive as a broadcast
event and the session must end CLOSED.

Two recorded actions carry no ActionID (a Ping and a SIPpeers). The protocol always assigns
one, so it cannot produce them; they are written on the wire directly, and their answers must
come out as what they are to this protocol: a response with no ActionID (``UnexpectedMessage``)
and list events with no ActionID (broadcast).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import pytest
from helpers.protocol import DATA, scenario_name, transcripts
from helpers.splitting import Splitter, bytewise, random_chunks, whole

from trio_ami.sansio import (
    Action,
    ActionAborted,
    ActionCompleted,
    ActionResult,
    BannerReceived,
    ClientProtocol,
    ConnectionTerminated,
    Event,
    ListItem,
    LoginFailed,
    LoginSucceeded,
    Message,
    PacketParser,
    ProtocolItem,
    Response,
    State,
    UnexpectedMessage,
)
from trio_ami.testing import load_capture

SCENARIOS = [scenario_name(path) for path in transcripts()]
#: The secret each MD5 scenario logs in with; login_md5_fail's recorded key matches no secret.
MD5_SECRETS = {"login_md5": "amp111", "login_md5_fail": "not-the-secret"}
MODES: dict[str, Splitter | None] = {
    "recorded": None,  # the server's reads exactly as recorded
    "whole": whole,
    "bytewise": bytewise,
    "random": random_chunks(3, 64),
}


def test_every_capture_is_replayed() -> None:
    raws = sorted(path.relative_to(DATA).as_posix() for path in DATA.rglob("*.raw"))
    assert raws == sorted(f"{name}.raw" for name in SCENARIOS)
    assert len(SCENARIOS) == 21
    assert sum(name.startswith("asterisk13/") for name in SCENARIOS) == 8


# -- what the recording says each action must get -------------------------------------------------
@dataclass
class Expected:
    action: Message
    response: Response
    members: list[Event] = field(default_factory=list)
    complete: Event | None = None
    outcome: Event | None = None


@dataclass
class Oracle:
    """The server's packets sorted out by hand, from ``NAME.raw`` and ``NAME.sent``."""

    banner_version: str
    login: Response | None
    actions: dict[str, Expected]
    broadcast: list[Event]
    unanswerable: list[Response]  # responses with no ActionID


def parse_raw(data: bytes, *, banner: bool) -> tuple[PacketParser, list[Message]]:
    parser = PacketParser(expect_banner=banner)
    parser.receive_data(data)
    parser.receive_data(b"")
    return parser, parser.take_messages()


def is_async_originate(action: Message) -> bool:
    return action["Action"].lower() == "originate" and action.get("Async", "").lower() == "true"


def build_oracle(name: str) -> Oracle:
    parser, received = parse_raw((DATA / f"{name}.raw").read_bytes(), banner=True)
    _, sent = parse_raw((DATA / f"{name}.sent").read_bytes(), banner=False)
    assert parser.banner is not None
    by_id = {action["ActionID"]: action for action in sent if "ActionID" in action}
    taken: set[int] = set()  # positions of the packets that belong to an action
    actions: dict[str, Expected] = {}
    login: Response | None = None
    unanswerable = []
    for position, message in enumerate(received):
        if not isinstance(message, Response):
            continue
        action_id = message.get("ActionID")
        if action_id is None:
            unanswerable.append(message)
            continue
        action = by_id[action_id]
        if action["Action"] in ("Challenge", "Login"):
            login = message if action["Action"] == "Login" else login
            continue
        assert action_id not in actions, "one response per action in these sessions"
        expected = actions[action_id] = Expected(action, message)
        if message.get("EventList", "").lower() == "start":
            for later, packet in enumerate(received[position + 1 :], start=position + 1):
                if isinstance(packet, Event) and packet.get("ActionID") == action_id:
                    taken.add(later)
                    if packet.get("EventList", "").lower() == "complete":
                        expected.complete = packet
                        break
                    expected.members.append(packet)
            assert expected.complete is not None
        if is_async_originate(action):
            for at, packet in enumerate(received):
                if (
                    isinstance(packet, Event)
                    and packet.name == "OriginateResponse"
                    and packet.get("ActionID") == action_id
                ):
                    expected.outcome = packet
                    taken.add(at)
            assert expected.outcome is not None
    broadcast = [
        message
        for position, message in enumerate(received)
        if isinstance(message, Event) and position not in taken
    ]
    return Oracle(parser.banner.version, login, actions, broadcast, unanswerable)


def recorded_output(name: str, action_id: str) -> list[str]:
    """A Command's output lines, cut out of the raw bytes with no parser involved."""
    raw = (DATA / f"{name}.raw").read_bytes()
    legacy = re.search(
        rb"Response: Follows\r\nPrivilege: Command\r\nActionID: "
        + re.escape(action_id.encode())
        + rb"\r\n(.*?)--END COMMAND--\r\n\r\n",
        raw,
        re.DOTALL,
    )
    if legacy is not None:
        lines = legacy.group(1).decode().split("\n")
        assert lines.pop() == ""  # every line ends with \n
        return lines
    start = raw.index(b"\r\nActionID: " + action_id.encode() + b"\r\n")
    end = raw.index(b"\r\n\r\n", start)
    return [
        line.removeprefix(b"Output: ").decode()
        for line in raw[start:end].split(b"\r\n")
        if line.startswith(b"Output: ")
    ]


# -- the replay -----------------------------------------------------------------------------------
@dataclass
class Replay:
    proto: ClientProtocol
    items: list[ProtocolItem] = field(default_factory=list)
    sent_ids: list[str] = field(default_factory=list)  # ActionIDs of what was reproduced


def as_action(message: Message) -> Action:
    """The recorded action without its ActionID: the protocol must generate the same one."""
    headers = [(k, v) for k, v in message.headers if k not in ("Action", "ActionID")]
    return Action(message["Action"], headers)


def replay(name: str, mode: str, *, stream: bool = False) -> Replay:
    records = load_capture(DATA / name).transcript
    proto = ClientProtocol(action_id_prefix=name.rpartition("/")[2])
    run = Replay(proto)
    queued = bytearray()  # what the protocol asked to send on its own (data_to_send)
    split = MODES[mode]

    def receive(pieces: list[bytes]) -> None:
        for piece in pieces:
            proto.receive_data(piece)
            run.items.extend(proto.take_items())
            queued.extend(proto.data_to_send())

    pending_reads: list[bytes] = []

    def flush() -> None:
        if split is not None and pending_reads:
            receive(split(b"".join(pending_reads)))
        pending_reads.clear()

    for direction, data in records:
        if direction == "<<":
            if not data:  # the server closed the connection
                flush()
                receive([b""])
            elif split is None:
                receive([data])
            else:
                pending_reads.append(data)
            continue
        flush()
        [action] = parse_raw(data, banner=False)[1]
        name_folded = action["Action"].lower()
        if name_folded == "challenge":
            secret = MD5_SECRETS[name.rpartition("/")[2]]
            out = proto.login(action.get("Username", "admin"), secret, auth="md5")
        elif name_folded == "login" and action.get("AuthType", "").lower() == "md5":
            # The protocol wrote this one itself, answering the challenge.
            assert queued, "the Login answering the challenge was not queued"
            out, expected = bytes(queued), md5_login_as_recorded(name, data)
            queued.clear()
            assert out == expected
            run.sent_ids.append(action["ActionID"])
            continue
        elif name_folded == "login":
            out = proto.login(action["Username"], action["Secret"], auth="plain")
        elif name_folded == "logoff":
            out = proto.logoff()
        elif "ActionID" not in action:
            continue  # cannot be sent through the protocol: see the module docstring
        else:
            outcome_event = "OriginateResponse" if is_async_originate(action) else None
            action_id, out = proto.send_action(
                as_action(action), outcome_event=outcome_event, stream=stream
            )
            assert action_id == action["ActionID"]
        assert out == data
        run.sent_ids.append(action["ActionID"])
    flush()
    assert not queued
    return run


def md5_login_as_recorded(name: str, recorded: bytes) -> bytes:
    """The recorded MD5 Login, with the key the protocol must compute for the challenge."""
    raw = (DATA / f"{name}.raw").read_bytes()
    challenge = re.search(rb"\r\nChallenge: (\d+)\r\n", raw)
    assert challenge is not None
    secret = MD5_SECRETS[name.rpartition("/")[2]].encode()
    key = hashlib.md5(challenge.group(1) + secret).hexdigest().encode()
    return re.sub(rb"Key: [0-9a-f]{32}", b"Key: " + key, recorded)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", SCENARIOS)
def test_replay(name: str, mode: str) -> None:
    oracle = build_oracle(name)
    run = replay(name, mode)
    items = run.items
    proto = run.proto

    # Every recorded action that carries an ActionID was reproduced byte for byte.
    recorded = parse_raw((DATA / f"{name}.sent").read_bytes(), banner=False)[1]
    assert run.sent_ids == [m["ActionID"] for m in recorded if "ActionID" in m]

    assert isinstance(items[0], BannerReceived)
    assert items[0].banner.version == oracle.banner_version
    assert isinstance(items[-1], ConnectionTerminated)
    assert items[-1].error is None
    assert proto.state is State.CLOSED
    assert proto.pending_action_ids == []
    assert not [item for item in items if isinstance(item, (ActionAborted, ListItem))]

    # Login: accepted or refused as the server said.
    logins = [item for item in items if isinstance(item, (LoginSucceeded, LoginFailed))]
    if oracle.login is None:
        assert logins == []
    else:
        [login] = logins
        assert login.response == oracle.login
        assert isinstance(login, LoginSucceeded) is (oracle.login.name == "Success")

    # Each action: exactly one result, made of exactly its packets.
    results: dict[str, ActionResult] = {}
    for item in items:
        if isinstance(item, ActionCompleted):
            assert item.action_id not in results
            results[item.action_id] = item.result
    assert sorted(results) == sorted(oracle.actions)
    for action_id, expected in oracle.actions.items():
        result = results[action_id]
        check_result(name, result, expected)

    # Everything else: broadcast events, in order, and responses that name no action.
    assert [item for item in items if isinstance(item, Event)] == oracle.broadcast
    unexpected = [item for item in items if isinstance(item, UnexpectedMessage)]
    assert [item.message for item in unexpected] == oracle.unanswerable
    assert all(item.reason == "response with no ActionID" for item in unexpected)

    stats = proto.statistics()
    assert stats.bytes_received == (DATA / f"{name}.raw").stat().st_size
    assert stats.bytes_sent == sum(
        len(data)
        for direction, data in load_capture(DATA / name).transcript
        if direction == ">>" and b"ActionID" in data
    )
    assert stats.events_delivered == len(oracle.broadcast)
    assert stats.list_items_received == sum(len(e.members) for e in oracle.actions.values())
    assert stats.late_packets_dropped == 0


def check_result(name: str, result: ActionResult, expected: Expected) -> None:
    assert result.action.name == expected.action["Action"]
    assert result.response == expected.response
    assert list(result.events) == expected.members
    assert result.complete == expected.complete
    assert result.items_received == len(expected.members)
    if expected.complete is not None:
        assert result.expected_items == int(expected.complete["ListItems"])
        assert result.expected_items == len(expected.members)
    assert result.items_match
    assert result.outcome == expected.outcome
    failed = expected.response.name == "Error" or (
        expected.outcome is not None and expected.outcome["Response"] != "Success"
    )
    assert result.success is not failed
    if expected.action["Action"] == "Command":
        lines = recorded_output(name, result.action_id)
        assert result.output == lines
        assert result.response.is_legacy_command is name.startswith("asterisk13/")
    else:
        assert result.output == []


@pytest.mark.parametrize(
    "name",
    [n for n in SCENARIOS if "coreshowchannels" in n or "sippeers" in n],
)
def test_replay_streaming_lists(name: str) -> None:
    oracle = build_oracle(name)
    run = replay(name, "recorded", stream=True)
    for action_id, expected in oracle.actions.items():
        streamed = [
            item.event
            for item in run.items
            if isinstance(item, ListItem) and item.action_id == action_id
        ]
        assert streamed == expected.members
    for item in run.items:
        if isinstance(item, ActionCompleted):
            assert item.result.events == ()
            assert item.result.items_received == len(oracle.actions[item.action_id].members)
            assert item.result.items_match
    assert run.proto.state is State.CLOSED


# -- what the recordings teach, checked on the replays -------------------------------------------
def results_of(name: str) -> dict[str, ActionResult]:
    run = replay(name, "recorded")
    return {item.action_id: item.result for item in run.items if isinstance(item, ActionCompleted)}


def test_command_output_is_the_same_on_asterisk_22_and_13() -> None:
    modern = results_of("command_output")
    legacy = results_of("asterisk13/command_output")
    for n in (4, 5):  # core show uptime (numbers differ), manager show user reader
        assert len(modern[f"command_output-{n}"].output) == len(
            legacy[f"command_output-{n}"].output
        )
    assert modern["command_output-5"].output == legacy["command_output-5"].output
    assert modern["command_output-5"].output[0] == ""  # the output starts with an empty line
    # An unknown command: Error with Output lines on 22, Follows on 13; the same line either way.
    assert not modern["command_output-6"].success
    assert legacy["command_output-6"].success
    assert modern["command_output-6"].output == legacy["command_output-6"].output
    assert legacy["command_output-8"].output == []  # logger reload prints nothing


def test_originate_outcomes_in_the_recordings() -> None:
    for prefix in ("", "asterisk13/"):
        results = results_of(f"{prefix}originate_events")
        outcomes = {
            action_id: result.outcome["Response"] if result.outcome else None
            for action_id, result in results.items()
        }
        assert outcomes == {
            "originate_events-2": "Success",
            "originate_events-3": "Success",
            "originate_events-4": "Success",
            "originate_events-5": "Success",
            "originate_events-6": "Failure",  # Local/999 does not exist
            "originate_events-7": None,  # not Async: the response is the result
            "originate_events-8": None,  # Logoff
        }
        assert not results["originate_events-6"].success
        assert results["originate_events-7"].success


def test_login_failures_in_the_recordings() -> None:
    for name in ("login_fail", "login_md5_fail"):
        run = replay(name, "recorded")
        failed = [item for item in run.items if isinstance(item, LoginFailed)]
        assert [item.message for item in failed] == ["Authentication failed"]
        assert run.proto.state is State.CLOSED


def test_md5_key_matches_what_the_server_accepted() -> None:
    # login_md5's recorded key was accepted by Asterisk: the protocol computes the same one.
    for name in ("login_md5", "asterisk13/login_md5"):
        recorded = [d for way, d in load_capture(DATA / name).transcript if way == ">>"]
        login = next(d for d in recorded if d.startswith(b"Action: Login"))
        assert md5_login_as_recorded(name, login) == login
