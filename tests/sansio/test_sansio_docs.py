"""docs/sansio.md and its examples: the state diagram matches TRANSITIONS, and the blocking and
asyncio clients in docs/examples work against a small scripted AMI server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
import typing
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from helpers.protocol import ROOT, state_diagram

from trio_ami.sansio import (
    ActionFailed,
    AuthenticationError,
    ConnectionClosed,
    LocalProtocolError,
    Message,
    PacketParser,
    ProtocolItem,
    State,
    md5_key,
    requests,
)

DOC = ROOT / "docs" / "sansio.md"
EXAMPLES = ROOT / "docs" / "examples"
CHALLENGE = "584910273"
UPTIME = ["System uptime: 1 hour, 2 minutes, 3 seconds", "Last reload: 5 minutes, 3 seconds"]


# -- the document ---------------------------------------------------------------------------------
def test_state_diagram_in_the_docs_is_drawn_from_transitions() -> None:
    blocks = re.findall(r"```mermaid\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) == 1, "docs/sansio.md holds one Mermaid diagram"
    assert blocks[0] == state_diagram(), (
        "docs/sansio.md is out of date: paste the output of "
        "`PYTHONPATH=tests python -m helpers.protocol` into its mermaid block"
    )


def test_the_docs_explain_every_item_and_state() -> None:
    text = DOC.read_text()
    for kind in typing.get_args(ProtocolItem):
        assert f"`{kind.__name__}`" in text, kind
    for state in State:
        assert state.name in text
    for method in ("receive_data", "take_items", "next_item", "data_to_send", "send_action"):
        assert f"{method}(" in text
    assert "forget(" in text


def test_the_diagram_renders_every_transition() -> None:
    from trio_ami.sansio import TRANSITIONS

    diagram = state_diagram()
    for (source, inp), target in TRANSITIONS.items():
        line = next(
            line
            for line in diagram.splitlines()
            if line.startswith(f"    {source.name} --> {target.name} :")
        )
        assert inp.value in line.partition(" : ")[2].split(", ")


# -- a scripted server ----------------------------------------------------------------------------
def packet(*headers: tuple[str, str]) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode() for k, v in headers) + b"\r\n"


class ScriptedAMI(socketserver.BaseRequestHandler):
    """Greets, then answers each action from a script, writing its replies in small pieces."""

    server: LoopbackAMI

    def handle(self) -> None:
        sock = self.request
        sock.settimeout(10)
        version = "2.10.6" if self.server.legacy else "11.0.0"
        self.write(f"Asterisk Call Manager/{version}\r\n".encode())
        parser = PacketParser(expect_banner=False)
        try:
            while data := sock.recv(4096):
                parser.receive_data(data)
                for action in parser.take_messages():
                    self.server.actions.append(action)
                    if not self.answer(action):
                        return
        except OSError:
            return

    def write(self, data: bytes) -> None:
        for start in range(0, len(data), 5):
            self.request.sendall(data[start : start + 5])

    def answer(self, action: Message) -> bool:
        """Reply to ``action``; False to close the connection."""
        name = action["Action"].lower()
        head = [("ActionID", action["ActionID"])] if "ActionID" in action else []
        if name == "challenge":
            self.write(packet(("Response", "Success"), *head, ("Challenge", CHALLENGE)))
        elif name == "login":
            key = md5_key(CHALLENGE, self.server.secret)
            if action.get("Key") != key:
                self.write(
                    packet(("Response", "Error"), *head, ("Message", "Authentication failed"))
                )
                return False
            self.write(
                packet(("Response", "Success"), *head, ("Message", "Authentication accepted"))
                + packet(
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Status", "Fully Booted"),
                )
            )
        elif name in ("ping", "slowping"):
            if name == "slowping":
                time.sleep(0.3)
            self.write(
                packet(
                    ("Response", "Success"), *head, ("Ping", "Pong"), ("Timestamp", "1795672356.27")
                )
            )
        elif name == "coreshowchannels":
            self.write(
                packet(
                    ("Response", "Success"),
                    *head,
                    ("EventList", "start"),
                    ("Message", "Channels will follow"),
                )
                + packet(
                    ("Event", "CoreShowChannel"),
                    *head,
                    ("Channel", "PJSIP/alice-00000001"),
                    ("ChannelStateDesc", "Up"),
                )
                + packet(("Event", "Newchannel"), ("Channel", "PJSIP/carol-00000003"))
                + packet(
                    ("Event", "CoreShowChannel"),
                    *head,
                    ("Channel", "PJSIP/bob-00000002"),
                    ("ChannelStateDesc", "Ringing"),
                )
                + packet(
                    ("Event", "CoreShowChannelsComplete"),
                    *head,
                    ("EventList", "Complete"),
                    ("ListItems", "2"),
                )
            )
        elif name == "command":
            if self.server.legacy:
                body = "".join(line + "\n" for line in UPTIME)
                self.write(
                    b"Response: Follows\r\nPrivilege: Command\r\n"
                    + "".join(f"{k}: {v}\r\n" for k, v in head).encode()
                    + body.encode()
                    + b"--END COMMAND--\r\n\r\n"
                )
            else:
                lines = [("Output", line) for line in UPTIME]
                self.write(
                    packet(
                        ("Response", "Success"),
                        *head,
                        ("Message", "Command output follows"),
                        *lines,
                    )
                )
        elif name == "getconfig":
            self.write(
                packet(
                    ("Response", "Success"),
                    *head,
                    ("Category-000000", "general"),
                    ("Line-000000-000000", "context=default"),
                    ("Line-000000-000001", "allowguest=no"),
                )
            )
        elif name == "originate" and action.get("Async") == "true":
            self.write(
                packet(("Response", "Success"), *head, ("Message", "Originate successfully queued"))
                + packet(
                    ("Event", "OriginateResponse"),
                    ("Privilege", "call,all"),
                    *head,
                    ("Response", "Success"),
                    ("Channel", "PJSIP/100-00000004"),
                    ("Reason", "4"),
                    ("Uniqueid", "1795672356.5"),
                )
            )
        elif name == "logoff":
            self.write(
                packet(("Response", "Goodbye"), *head, ("Message", "Thanks for all the fish."))
            )
            return False
        elif name == "dropconnection":
            return False
        else:
            self.write(packet(("Response", "Error"), *head, ("Message", "Invalid/unknown command")))
        return True


class LoopbackAMI(socketserver.ThreadingTCPServer):
    block_on_close = True  # server_close() waits for the connections to finish

    def __init__(self, *, legacy: bool, secret: str = "amp111") -> None:
        super().__init__(("127.0.0.1", 0), ScriptedAMI)
        self.legacy = legacy
        self.secret = secret
        self.actions: list[Message] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@contextlib.contextmanager
def serving(*, legacy: bool) -> Iterator[LoopbackAMI]:
    srv = LoopbackAMI(legacy=legacy)
    thread = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


@pytest.fixture(params=["modern", "legacy"])
def server(request: pytest.FixtureRequest) -> Iterator[LoopbackAMI]:
    """The scripted server, answering Command in the modern and in the legacy format."""
    with serving(legacy=request.param == "legacy") as srv:
        yield srv


@pytest.fixture
def modern_server() -> Iterator[LoopbackAMI]:
    with serving(legacy=False) as srv:
        yield srv


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def demo_lines(version: str, events: int) -> list[str]:
    return [
        f"connected: AMI {version}",
        "logged in",
        "Ping: Pong",
        "channels: 2 (server counted 2)",
        "  PJSIP/alice-00000001 Up",
        "  PJSIP/bob-00000002 Ringing",
        *[f"| {line}" for line in UPTIME],
        "sip.conf [general]: context=default, allowguest=no",
        "call: Success, Uniqueid 1795672356.5",
        f"logged off after {events} events",
    ]


def check_session(server: LoopbackAMI) -> None:
    names = [action["Action"] for action in server.actions]
    assert names == [
        "Challenge", "Login", "Ping", "CoreShowChannels", "Command", "GetConfig", "Originate",
        "Logoff",
    ]  # fmt: skip
    login = server.actions[1]
    assert login["AuthType"] == "md5"
    assert login["Username"] == "admin"
    assert login["Events"] == "on"
    assert "Secret" not in login
    ids = [action["ActionID"] for action in server.actions]
    assert len(set(ids)) == len(ids)


# -- the blocking example -------------------------------------------------------------------------
def test_blocking_example_as_a_script(server: LoopbackAMI) -> None:
    done = run_script("blocking_client", "127.0.0.1", str(server.port), "admin", "amp111")
    assert done.returncode == 0, done.stderr
    version = "2.10.6" if server.legacy else "11.0.0"
    assert done.stdout.splitlines() == demo_lines(version, events=2)  # FullyBooted, Newchannel
    check_session(server)


def test_blocking_example_refused_login(modern_server: LoopbackAMI) -> None:
    port = str(modern_server.port)
    done = run_script("blocking_client", "127.0.0.1", port, "admin", "wrong")
    assert done.returncode != 0
    assert "AuthenticationError: Authentication failed" in done.stderr


def test_blocking_example_usage() -> None:
    done = run_script("blocking_client", "127.0.0.1")
    assert done.returncode == 2
    assert "usage" in done.stderr


def test_blocking_client_in_process(server: LoopbackAMI) -> None:
    example = load_example("blocking_client")
    ami = example.BlockingAMI("127.0.0.1", server.port)
    try:
        ami.login("admin", "amp111")
        assert ami.proto.fully_booted
        assert ami.action("NoSuchAction").message == "Invalid/unknown command"
        assert ami.request(requests.command("core show uptime")) == UPTIME
        with pytest.raises(ActionFailed, match="Invalid/unknown command"):
            ami.request(requests.redirect("PJSIP/1", "internal", "100"))  # not scripted
        failed = ami.request(requests.redirect("PJSIP/1", "internal", "100"), check=False)
        assert failed.name == "Error"
        with pytest.raises(ConnectionClosed):
            ami.action("DropConnection")
        assert ami.proto.state is State.CLOSED
        with pytest.raises(LocalProtocolError):  # nothing can be sent any more
            ami.logoff()
    finally:
        ami.close()


def test_blocking_client_refused_login_in_process(server: LoopbackAMI) -> None:
    example = load_example("blocking_client")
    ami = example.BlockingAMI("127.0.0.1", server.port)
    try:
        with pytest.raises(AuthenticationError):
            ami.login("admin", "not-the-secret")
        assert ami.proto.state is State.CLOSED
    finally:
        ami.close()


# -- the asyncio example --------------------------------------------------------------------------
def test_asyncio_example(server: LoopbackAMI, capsys: pytest.CaptureFixture[str]) -> None:
    example = load_example("asyncio_client")
    asyncio.run(example.main("127.0.0.1", server.port, "admin", "amp111"))
    lines = capsys.readouterr().out.splitlines()
    version = "2.10.6" if server.legacy else "11.0.0"
    assert lines == [*demo_lines(version, 2)[2:-1], "events: FullyBooted, Newchannel"]
    names = [action["Action"] for action in server.actions]
    # The Command and the list were sent together; their order on the wire is the tasks'.
    assert names[:3] == ["Challenge", "Login", "Ping"]
    assert sorted(names[3:5]) == ["Command", "CoreShowChannels"]
    assert names[5:] == ["GetConfig", "Originate", "Logoff"]


def test_asyncio_example_as_a_script(modern_server: LoopbackAMI) -> None:
    port = str(modern_server.port)
    done = run_script("asyncio_client", "127.0.0.1", port, "admin", "amp111")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "events: FullyBooted, Newchannel"


def test_asyncio_client_refused_login(server: LoopbackAMI) -> None:
    example = load_example("asyncio_client")

    async def scenario() -> None:
        with pytest.raises(AuthenticationError, match="Authentication failed"):
            await example.AsyncioAMI.connect("127.0.0.1", server.port, "admin", "wrong")

    asyncio.run(scenario())


def test_asyncio_client_timeout_forgets_the_action(server: LoopbackAMI) -> None:
    example = load_example("asyncio_client")

    async def scenario() -> Any:
        ami = await example.AsyncioAMI.connect("127.0.0.1", server.port, "admin", "amp111")
        try:
            with pytest.raises(asyncio.TimeoutError):
                await ami.action("SlowPing", timeout=0.05)
            # The late answer arrives while this Ping waits behind it: dropped, not misrouted.
            pong = await ami.action("Ping")
            assert pong.response["Ping"] == "Pong"
            assert pong.action.name == "Ping"
            return ami.proto.statistics()
        finally:
            await ami.aclose()

    stats = asyncio.run(scenario())
    assert stats.late_packets_dropped == 1
    assert stats.unexpected_messages == 0


def test_asyncio_client_connection_lost(server: LoopbackAMI) -> None:
    example = load_example("asyncio_client")

    async def scenario() -> None:
        ami = await example.AsyncioAMI.connect("127.0.0.1", server.port, "admin", "amp111")
        try:
            with pytest.raises(ConnectionClosed):
                await ami.action("DropConnection")
            await asyncio.wait_for(ami.ended.wait(), 5)
            assert ami.proto.state is State.CLOSED
            events = []
            while (event := ami.events.get_nowait()) is not None:
                events.append(event.name)
            assert events == ["FullyBooted"]
        finally:
            await ami.aclose()

    asyncio.run(scenario())


def test_the_scripted_server_checks_the_key(modern_server: LoopbackAMI) -> None:
    with socket.create_connection(("127.0.0.1", modern_server.port), timeout=5) as sock:
        sock.sendall(packet(("Action", "Login"), ("ActionID", "1"), ("Key", "0" * 32)))
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    assert data.startswith(b"Asterisk Call Manager/11.0.0\r\n")
    assert b"Authentication failed" in data
