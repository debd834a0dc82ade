"""Helpers for the ClientProtocol tests: packet builders, a scripted peer, transcripts of real
sessions and the state diagram drawn from ``TRANSITIONS``.

Run it as a script to print the Mermaid state diagram that ``docs/sansio.md`` embeds::

    PYTHONPATH=tests python -m helpers.protocol
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from helpers.splitting import Splitter, whole
from trio_ami.sansio import (
    TRANSITIONS,
    Action,
    ActionCompleted,
    ActionResult,
    ClientProtocol,
    Event,
    HeaderValue,
    Input,
    Message,
    PacketParser,
    ProtocolItem,
    Response,
    State,
)

DATA = Path(__file__).resolve().parent.parent / "data"
ROOT = Path(__file__).resolve().parent.parent.parent
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
LEGACY_BANNER = b"Asterisk Call Manager/2.10.6\r\n"

Header = tuple[str, str]


# -- packets --------------------------------------------------------------------------------------
def packet(*headers: Header) -> bytes:
    """One packet as Asterisk writes it: ``Key: Value`` lines and a blank line."""
    return b"".join(f"{key}: {value}\r\n".encode() for key, value in headers) + b"\r\n"


def response(status: str, action_id: str | None = None, *headers: Header) -> bytes:
    """``Response: <status>``, the ``ActionID`` (when given), then ``headers``."""
    first: list[Header] = [("Response", status)]
    if action_id is not None:
        first.append(("ActionID", action_id))
    return packet(*first, *headers)


def event(name: str, action_id: str | None = None, *headers: Header) -> bytes:
    """``Event: <name>``, the ``ActionID`` (when given), then ``headers``."""
    first: list[Header] = [("Event", name)]
    if action_id is not None:
        first.append(("ActionID", action_id))
    return packet(*first, *headers)


def legacy_command(action_id: str | None, output: bytes) -> bytes:
    """A legacy (Asterisk <= 13) ``Command`` answer: raw output lines ending with ``\\n``."""
    head = b"Response: Follows\r\nPrivilege: Command\r\n"
    if action_id is not None:
        head += f"ActionID: {action_id}\r\n".encode()
    return head + output + b"--END COMMAND--\r\n\r\n"


# -- a scripted peer ------------------------------------------------------------------------------
class Peer:
    """A ``ClientProtocol`` and the server side of its wire, with no socket.

    ``feed`` delivers server bytes cut by ``split`` and returns the items they produced;
    everything the client writes (returned by its send methods or queued in ``data_to_send``)
    goes through ``write`` and is parsed back into actions, as a server would read them.
    """

    def __init__(self, split: Splitter = whole, proto: ClientProtocol | None = None) -> None:
        self.proto = proto if proto is not None else ClientProtocol(action_id_prefix="t")
        self.split = split
        self.wire = PacketParser(expect_banner=False)
        self.written = bytearray()
        self.login_id: str | None = None

    # server -> client
    def feed(self, *data: bytes) -> list[ProtocolItem]:
        items: list[ProtocolItem] = []
        for piece in self.split(b"".join(data)):
            self.proto.receive_data(piece)
            items += self.proto.take_items()
        self.write(self.proto.data_to_send())
        return items

    def eof(self) -> list[ProtocolItem]:
        self.proto.receive_data(b"")
        return self.proto.take_items()

    # client -> server
    def write(self, data: bytes) -> None:
        if data:
            self.written += data
            self.wire.receive_data(data)

    def sent(self) -> list[Message]:
        """The packets the client wrote since the last call."""
        return self.wire.take_messages()

    def send(
        self,
        action: Action,
        *,
        complete_on: str | None = None,
        outcome_event: str | None = None,
        stream: bool = False,
        max_items: int | None = None,
    ) -> str:
        action_id, data = self.proto.send_action(
            action,
            complete_on=complete_on,
            outcome_event=outcome_event,
            stream=stream,
            max_items=max_items,
        )
        self.write(data)
        return action_id

    def logoff(self) -> str:
        self.write(self.proto.logoff())
        return self.last_action_id()

    def login(
        self,
        username: str = "admin",
        secret: str = "amp111",
        *,
        auth: str = "md5",
        events: bool | str | list[str] | None = None,
    ) -> str:
        self.write(self.proto.login(username, secret, auth=auth, events=events))
        self.login_id = self.last_action_id()
        return self.login_id

    def last_action_id(self) -> str:
        sent = self.sent()
        assert sent, "nothing was written"
        action_id = sent[-1].get("ActionID")
        assert action_id is not None
        return action_id

    # whole steps
    def greet(self, banner: bytes = BANNER) -> list[ProtocolItem]:
        return self.feed(banner)

    def ready(self, events: bool | str | list[str] | None = None) -> list[ProtocolItem]:
        """Greet and log in with a plain Login; returns the items of the login answer."""
        self.greet()
        action_id = self.login(auth="plain", events=events)
        return self.feed(response("Success", action_id, ("Message", "Authentication accepted")))


# -- recorded sessions ----------------------------------------------------------------------------
def transcripts() -> list[Path]:
    return sorted(DATA.rglob("*.transcript.txt"))


def scenario_name(path: Path) -> str:
    """``"ping"`` or ``"asterisk13/ping"``."""
    relative = path.relative_to(DATA).as_posix()
    return relative.removesuffix(".transcript.txt")


# -- the state diagram ----------------------------------------------------------------------------
def state_diagram() -> str:
    """A Mermaid ``stateDiagram-v2`` with every transition of ``TRANSITIONS``.

    One arrow per (from, to) pair, labelled with its inputs in the order ``Input`` declares them.
    """
    state_order = {state: n for n, state in enumerate(State)}
    input_order = {inp: n for n, inp in enumerate(Input)}
    edges: dict[tuple[State, State], list[Input]] = {}
    for (source, inp), target in TRANSITIONS.items():
        edges.setdefault((source, target), []).append(inp)
    lines = ["stateDiagram-v2"]
    lines += [f"    {state.name} : {state.value}" for state in State]
    lines.append(f"    [*] --> {State.AWAITING_BANNER.name}")
    for source, target in sorted(edges, key=lambda e: (state_order[e[0]], state_order[e[1]])):
        inputs = sorted(edges[source, target], key=input_order.__getitem__)
        label = ", ".join(inp.value for inp in inputs)
        lines.append(f"    {source.name} --> {target.name} : {label}")
    lines += [f"    {state.name} --> [*]" for state in (State.CLOSED, State.ERROR)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(state_diagram(), end="")


# -- shortcuts of the protocol tests, and a recipe to reach each state ----------------------
def ready_peer(split: Splitter = whole, proto: ClientProtocol | None = None) -> Peer:
    peer = Peer(split, proto)
    peer.ready()
    return peer


def completed(items: list[ProtocolItem]) -> list[ActionResult]:
    return [item.result for item in items if isinstance(item, ActionCompleted)]


def only_result(items: list[ProtocolItem]) -> ActionResult:
    results = completed(items)
    assert len(results) == 1, items
    return results[0]


def msg(data: bytes) -> Message:
    """The message ``data`` (one packet) parses to, for comparisons."""
    text = data.decode().replace("\r\n", "\n").rstrip("\n")
    return as_event(data) if text.startswith("Event: ") else as_response(data)


def as_event(data: bytes) -> Event:
    return Event(data.decode().replace("\r\n", "\n").rstrip("\n"))


def as_response(data: bytes) -> Response:
    return Response(data.decode().replace("\r\n", "\n").rstrip("\n"))


def state_of(peer: Peer) -> State:
    """The protocol's state, read through a call so that type checkers do not narrow it."""
    return peer.proto.state


# -- reaching each state, and applying each input --------------------------------------------------
class StatePeer(Peer):
    """A peer that remembers the Ping and Logoff it left pending on the way to a state."""

    ping_id: str | None = None
    logoff_id: str | None = None


# Every recipe leaves a Ping pending where the state allows one, so that RESPONSE can be driven.
def _connected(peer: StatePeer) -> None:
    peer.greet()
    peer.ping_id = peer.send(Action("Ping"))


def _challenge_sent(peer: StatePeer) -> None:
    _connected(peer)
    peer.login(auth="md5")


def _login_sent(peer: StatePeer) -> None:
    _connected(peer)
    peer.login(auth="plain")


def _ready(peer: StatePeer) -> None:
    peer.ready()
    peer.ping_id = peer.send(Action("Ping"))


def _logging_off(peer: StatePeer) -> None:
    _ready(peer)
    peer.logoff_id = peer.logoff()


def _logging_off_before_login(peer: StatePeer) -> None:
    _connected(peer)
    peer.logoff_id = peer.logoff()


def _closed(peer: StatePeer) -> None:
    peer.ready()
    peer.feed(response("Goodbye", peer.logoff(), ("Message", "Thanks for all the fish.")))


def _error(peer: StatePeer) -> None:
    peer.greet()
    peer.feed(event("FullyBooted"))  # an event before login


REACH: dict[State, Callable[[StatePeer], None]] = {
    State.AWAITING_BANNER: lambda peer: None,
    State.CONNECTED: _connected,
    State.CHALLENGE_SENT: _challenge_sent,
    State.LOGIN_SENT: _login_sent,
    State.READY: _ready,
    State.LOGGING_OFF: _logging_off,
    State.LOGGING_OFF_BEFORE_LOGIN: _logging_off_before_login,
    State.CLOSED: _closed,
    State.ERROR: _error,
}


def reach(state: State, split: Splitter = whole) -> StatePeer:
    # A small line limit lets any state be broken by one long line.
    peer = StatePeer(split, ClientProtocol(action_id_prefix="t", max_line_length=200))
    REACH[state](peer)
    assert state_of(peer) is state
    peer.proto.take_items()
    return peer


def _goodbye(peer: StatePeer) -> list[ProtocolItem]:
    if state_of(peer) in (State.LOGGING_OFF, State.LOGGING_OFF_BEFORE_LOGIN):
        return peer.feed(response("Goodbye", peer.logoff_id))
    return peer.feed(response("Goodbye", None, ("Message", "Thanks for all the fish.")))


APPLY: dict[Input, Callable[[StatePeer], object]] = {
    Input.SEND_CHALLENGE: lambda peer: peer.login(auth="md5"),
    Input.SEND_LOGIN: lambda peer: peer.login(auth="plain"),
    Input.SEND_ACTION: lambda peer: peer.send(Action("Ping")),
    Input.SEND_LOGOFF: lambda peer: peer.logoff(),
    Input.BANNER: lambda peer: peer.feed(BANNER),
    Input.CHALLENGE_ANSWERED: lambda peer: peer.feed(
        response("Success", peer.login_id, ("Challenge", "840415273"))
    ),
    Input.LOGIN_ACCEPTED: lambda peer: peer.feed(response("Success", peer.login_id)),
    Input.LOGIN_REFUSED: lambda peer: peer.feed(
        response("Error", peer.login_id, ("Message", "Authentication failed"))
    ),
    Input.RESPONSE: lambda peer: peer.feed(response("Success", peer.ping_id, ("Ping", "Pong"))),
    Input.EVENT: lambda peer: peer.feed(event("PeerStatus", None, ("Peer", "PJSIP/100"))),
    Input.GOODBYE: _goodbye,
    Input.LOGOFF_REFUSED: lambda peer: peer.feed(
        response("Error", peer.logoff_id, ("Message", "Permission denied"))
    ),
    Input.END_OF_STREAM: lambda peer: peer.eof(),
    Input.BROKEN_STREAM: lambda peer: peer.feed(b"x" * 300),
    Input.CLOSE: lambda peer: peer.proto.close(),
    Input.TRANSPORT_FAILED: lambda peer: peer.proto.connection_lost(OSError("reset by peer")),
}


CHANNELS = [
    event("CoreShowChannel", "{id}", ("Channel", "Local/300@test-00000002;1")),
    event("CoreShowChannel", "{id}", ("Channel", "Local/300@test-00000002;2")),
]


def items_for(action_id: str, *templates: bytes) -> list[bytes]:
    return [template.replace(b"{id}", action_id.encode()) for template in templates]


ORIGINATE_HEADERS: dict[str, HeaderValue] = {
    "Channel": "Local/100@test",
    "Application": "Wait",
    "Data": "2",
    "Async": True,
}
ORIGINATE = Action("Originate", ORIGINATE_HEADERS)


def outcome(action_id: str, result: str = "Success", *headers: tuple[str, str]) -> bytes:
    return event(
        "OriginateResponse",
        action_id,
        ("Response", result),
        ("Channel", "Local/100@test-00000004;1"),
        *headers,
    )


def snapshot(proto: ClientProtocol) -> tuple[object, ...]:
    return (
        proto.state,
        proto.statistics(),
        proto.pending_action_ids,
        proto.banner,
        proto.fully_booted,
        proto.take_items(),
        proto.data_to_send(),
    )
