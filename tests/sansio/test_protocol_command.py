"""Command in both formats, statistics, interleavings, and the core's imports.

Every scenario is fed whole, one byte at a time and in random chunks (the ``split`` fixture)
where it takes one.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from dataclasses import dataclass, field

import pytest
from helpers.protocol import (
    BANNER,
    CHANNELS,
    ORIGINATE,
    Peer,
    completed,
    event,
    items_for,
    legacy_command,
    msg,
    only_result,
    outcome,
    packet,
    ready_peer,
    response,
    state_of,
)
from helpers.splitting import Splitter, split_at, whole
from hypothesis import given, settings, strategies as st

from trio_ami.sansio import (
    Action,
    ActionAborted,
    ActionCompleted,
    ClientProtocol,
    ConnectionTerminated,
    Event,
    ListItem,
    ProtocolItem,
    ProtocolStatistics,
    State,
    UnexpectedMessage,
)

# -- Command --------------------------------------------------------------------------------------
LINES = [
    "",
    "          username: reader",
    "            secret: <Set>",
    "Response: Success",
    "",
    "",
    "Key: looks like a header",
    "--END COMMAND-- is not the end here",
    "trailing spaces   ",
]


def modern_command(action_id: str, lines: list[str], status: str = "Success") -> bytes:
    return response(
        status,
        action_id,
        ("Message", "Command output follows"),
        *[("Output", line) for line in lines],
    )


def legacy_bytes(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


@pytest.mark.parametrize(
    "lines",
    [
        LINES,
        [],
        ["Asterisk 13.38.3 built by root @ vm on a x86_64 running Linux on 2026-11-26 05:58:47"],
        ["", ""],
        ["Name/username             Host", "alice                     (Unspecified)"],
    ],
    ids=["tricky", "empty", "one", "blank-lines", "table"],
)
def test_command_output_is_the_same_in_both_formats(lines: list[str], split: Splitter) -> None:
    modern = ready_peer(split)
    action = Action("Command", {"Command": "manager show user reader"})
    modern_id = modern.send(action)
    modern_result = only_result(modern.feed(modern_command(modern_id, lines)))
    legacy = Peer(split)
    legacy.greet(b"Asterisk Call Manager/2.10.6\r\n")
    legacy.login(auth="plain")
    legacy.feed(response("Success", "t-1"))
    legacy_id = legacy.send(action)
    legacy_result = only_result(legacy.feed(legacy_command(legacy_id, legacy_bytes(lines))))
    assert modern_result.output == legacy_result.output == lines
    assert modern_result.success
    assert legacy_result.success
    assert legacy_result.response.is_legacy_command
    assert not modern_result.response.is_legacy_command


def test_legacy_command_exchange(split: Splitter) -> None:
    # Asterisk 13: Response: Follows, raw text with bare \n, --END COMMAND--, then more packets.
    peer = Peer(split)
    peer.greet(b"Asterisk Call Manager/2.10.6\r\n")
    peer.login(auth="plain")
    peer.feed(response("Success", "t-1"), event("FullyBooted", None, ("Status", "Fully Booted")))
    version = peer.send(Action("Command", {"Command": "core show version"}))
    empty = peer.send(Action("Command", {"Command": "logger reload"}))
    unknown = peer.send(Action("Command", {"Command": "this is not a command"}))
    ping = peer.send(Action("Ping"))
    [sent_version, *_] = peer.sent()
    assert sent_version.headers == (
        ("Action", "Command"),
        ("ActionID", "t-2"),
        ("Command", "core show version"),
    )
    wire = (
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: t-2\r\n"
        b"Asterisk 13.38.3 built by root @ vm\n"
        b"--END COMMAND--\r\n\r\n"
        b"Event: Reload\r\nModule: logger\r\n\r\n"
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: t-3\r\n--END COMMAND--\r\n\r\n"
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: t-4\r\n"
        b"No such command 'this is not a command' (type 'core show help this is' for other"
        b" possible commands)\n"
        b"--END COMMAND--\r\n\r\n"
        b"Response: Success\r\nActionID: t-5\r\nPing: Pong\r\n\r\n"
    )
    items = peer.feed(wire)
    assert isinstance(items[1], Event)
    assert items[1].name == "Reload"
    results = {result.action_id: result for result in completed(items)}
    assert list(results) == [version, empty, unknown, ping]
    assert results[version].output == ["Asterisk 13.38.3 built by root @ vm"]
    assert results[version].response.name == "Follows"
    assert results[version].response["Privilege"] == "Command"
    assert results[empty].output == []
    assert results[unknown].output[0].startswith("No such command")
    assert all(result.success for result in results.values())  # Follows is not an error
    assert results[ping].output == []


def test_command_error_carries_its_output(split: Splitter) -> None:
    # Modern Asterisk answers an unknown command with Response: Error and Output lines.
    peer = ready_peer(split)
    action_id = peer.send(Action("Command", {"Command": "this is not a command"}))
    line = (
        "No such command 'this is not a command' (type 'core show help this is' for other"
        " possible commands)"
    )
    result = only_result(peer.feed(modern_command(action_id, [line], status="Error")))
    assert not result.success
    assert result.output == [line]
    assert result.message == "Command output follows"


# -- statistics -----------------------------------------------------------------------------------
def test_statistics(split: Splitter) -> None:
    peer = Peer(split)
    peer.greet()
    login = peer.proto.login("admin", "amp111", auth="plain")
    peer.write(login)
    replies = [response("Success", "t-1"), event("FullyBooted")]
    peer.feed(*replies)
    listing = peer.send(Action("CoreShowChannels"))
    ping = peer.send(Action("Ping"))
    originate = peer.send(ORIGINATE, outcome_event="OriginateResponse")
    stats = peer.proto.statistics()
    assert stats.state is State.READY
    assert stats.pending_actions == 3
    assert stats.actions_sent == 4
    assert stats.bytes_sent == len(peer.written)
    more = [
        response("Success", listing, ("EventList", "start")),
        *items_for(listing, *CHANNELS),
        event("CoreShowChannelsComplete", listing, ("EventList", "Complete"), ("ListItems", "2")),
        response("Success", "nobody-1"),
        packet(("Foo", "bar")),
        event("Newchannel"),
        response("Success", originate),
        outcome(originate),
    ]
    peer.feed(*more)
    peer.proto.forget(ping)
    peer.feed(response("Success", ping))
    assert peer.proto.statistics() == ProtocolStatistics(
        state=State.READY,
        pending_actions=0,
        actions_sent=4,
        responses_received=5,  # login, list, the unknown one, originate, the late ping
        events_received=6,  # FullyBooted, 2 items, Complete, Newchannel, OriginateResponse
        events_delivered=2,  # FullyBooted, Newchannel
        list_items_received=2,
        unexpected_messages=2,
        late_packets_dropped=1,
        bytes_received=len(BANNER) + sum(map(len, replies + more)) + len(response("Success", ping)),
        bytes_sent=len(peer.written),
    )


# -- properties: interleavings --------------------------------------------------------------------
@dataclass
class Planned:
    """One action of a generated session and the packets that answer it."""

    action_id: str
    kind: str  # single, error, list, stream, originate
    response: bytes
    members: list[bytes] = field(default_factory=list)
    complete: bytes | None = None
    outcome: bytes | None = None
    success: bool = True


@dataclass
class Session:
    actions: list[Planned]
    wire: list[tuple[str, bytes]]  # (owning ActionID, or "" for a broadcast event; packet)
    sizes: list[int]  # how the wire is cut into reads


@st.composite
def sessions(draw: st.DrawFn) -> Session:
    """Several concurrent actions, the packets that answer them, interleaved with other events."""
    kinds = st.sampled_from(["single", "error", "list", "stream", "originate"])
    actions: list[Planned] = []
    queues: list[list[tuple[str, bytes]]] = []
    for n, kind in enumerate(draw(st.lists(kinds, min_size=1, max_size=6)), start=2):
        action_id = f"h-{n}"
        if kind in ("single", "error"):
            status = "Success" if kind == "single" else "Error"
            plan = Planned(action_id, kind, response(status, action_id, ("Message", f"reply {n}")))
            plan.success = kind == "single"
            packets = [plan.response]
        elif kind in ("list", "stream"):
            count = draw(st.integers(0, 4))
            start = draw(st.sampled_from(["start", "Start"]))
            plan = Planned(action_id, kind, response("Success", action_id, ("EventList", start)))
            plan.members = [event("Entry", action_id, ("N", str(i))) for i in range(count)]
            plan.complete = event(
                "ListDone", action_id, ("EventList", "Complete"), ("ListItems", str(count))
            )
            packets = [plan.response, *plan.members, plan.complete]
        else:
            queued = response("Success", action_id, ("Message", "Originate successfully queued"))
            plan = Planned(action_id, kind, queued)
            result = draw(st.sampled_from(["Success", "Failure"]))
            plan.outcome = outcome(action_id, result)
            plan.success = result == "Success"
            # The outcome may overtake the response.
            packets = [plan.outcome, queued] if draw(st.booleans()) else [queued, plan.outcome]
        actions.append(plan)
        queues.append([(action_id, packet) for packet in packets])
    # Unrelated events: no ActionID, a stranger's ActionID, or the ActionID of a single action.
    singles = [plan.action_id for plan in actions if plan.kind in ("single", "error")]
    owners = st.sampled_from([None, "stranger-1", *singles])
    count = draw(st.integers(0, 8))
    queues.append([("", event("Noise", draw(owners), ("Seq", str(i)))) for i in range(count)])
    wire: list[tuple[str, bytes]] = []
    while any(queues):
        queue = draw(st.sampled_from([q for q in queues if q]))
        wire.append(queue.pop(0))
    return Session(actions, wire, draw(st.lists(st.integers(1, 97), max_size=60)))


@settings(max_examples=150, deadline=None)
@given(sessions())
def test_interleaved_actions_get_exactly_their_own_packets(session: Session) -> None:
    peer = Peer(whole, ClientProtocol(action_id_prefix="h"))
    peer.ready()
    for plan in session.actions:
        if plan.kind == "originate":
            sent = peer.send(ORIGINATE, outcome_event="OriginateResponse")
        elif plan.kind in ("list", "stream"):
            sent = peer.send(Action("ShowEntries"), stream=plan.kind == "stream")
        else:
            sent = peer.send(Action("Ping"))
        assert sent == plan.action_id
    data = b"".join(packet for _, packet in session.wire)
    cuts = list(itertools.accumulate(session.sizes))
    items: list[ProtocolItem] = []
    for piece in split_at(data, cuts):
        peer.proto.receive_data(piece)
        items += peer.proto.take_items()

    results = {r.action_id: r for r in completed(items)}
    assert sorted(results) == sorted(plan.action_id for plan in session.actions)
    for plan in session.actions:
        result = results[plan.action_id]
        assert result.response == msg(plan.response)
        assert result.success is plan.success
        members = [msg(m) for m in plan.members]
        streamed = [
            i.event for i in items if isinstance(i, ListItem) and i.action_id == plan.action_id
        ]
        assert streamed == (members if plan.kind == "stream" else [])
        assert list(result.events) == (members if plan.kind == "list" else [])
        assert result.items_received == len(members)
        assert result.items_match
        assert result.complete == (msg(plan.complete) if plan.complete else None)
        assert result.outcome == (msg(plan.outcome) if plan.outcome else None)
    broadcast = [item for item in items if isinstance(item, Event)]
    assert broadcast == [msg(packet) for owner, packet in session.wire if owner == ""]
    assert not [item for item in items if isinstance(item, (UnexpectedMessage, ActionAborted))]
    assert peer.proto.pending_action_ids == []
    assert state_of(peer) is State.READY


TAIL = (
    response("Success", "t-2", ("EventList", "start"))
    + event("CoreShowChannel", "t-2", ("Channel", "a"))
    + event("Hangup", None, ("Channel", "b"))
    + event("CoreShowChannelsComplete", "t-2", ("EventList", "Complete"), ("ListItems", "1"))
    + legacy_command("t-3", b"line one\n\nline: three\n")
    + response("Success", "t-4", ("Message", "Command output follows"), ("Output", "x"))
    + response("Goodbye", "t-5")
)


def run_tail(pieces: list[bytes]) -> list[ProtocolItem]:
    peer = ready_peer()
    peer.send(Action("CoreShowChannels"))
    peer.send(Action("Command", {"Command": "x"}))
    peer.send(Action("Command", {"Command": "y"}))
    peer.logoff()
    items: list[ProtocolItem] = []
    for piece in pieces:
        peer.proto.receive_data(piece)
        items += peer.proto.take_items()
    return items


@settings(max_examples=80, deadline=None)
@given(st.sets(st.integers(1, len(TAIL) - 1), max_size=40))
def test_any_chunking_gives_the_same_items(cuts: set[int]) -> None:
    reference = run_tail([TAIL])
    assert [type(item) for item in reference] == [
        Event,
        ActionCompleted,
        ActionCompleted,
        ActionCompleted,
        ActionCompleted,
        ConnectionTerminated,
    ]
    assert run_tail(split_at(TAIL, list(cuts))) == reference


# -- the core imports no I/O library --------------------------------------------------------------
def test_the_core_modules_import_no_io_library() -> None:
    # test_import.py imports trio_ami.sansio, which runs the package's __init__ first. This
    # loads the core alone (the parent package stubbed), so it tells the core's own imports
    # apart from the package's, and records which file imported each I/O module.
    code = r"""
import json, sys, traceback, types
import importlib.util
spec = importlib.util.find_spec("trio_ami")
package = types.ModuleType("trio_ami")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["trio_ami"] = package
importers = {}
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in WATCHED and name not in importers:
            frames = [f.filename for f in traceback.extract_stack()]
            frames = [f for f in frames if "importlib" not in f and f != "<string>"]
            importers[name] = frames[-1] if frames else "<main>"
        return None
WATCHED = ("trio", "asyncio", "socket", "selectors", "ssl", "select", "threading")
sys.meta_path.insert(0, Watch())
import trio_ami.sansio
assert "trio_ami.sansio._protocol" in sys.modules
print(json.dumps({m: importers.get(m, "?") for m in sys.modules if m.partition(".")[0] in WATCHED}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded: dict[str, str] = json.loads(done.stdout)
    # attrs, a dependency, imports threading for its own bookkeeping (attr/_compat.py); nothing
    # else may load an I/O or threading module.
    assert {name: f for name, f in loaded.items() if "/attr/" not in f.replace("\\", "/")} == {}
