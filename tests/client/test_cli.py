"""The ``trio-ami`` command line: the demo in-process, the tools as a real process."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest
import trio

from trio_ami._cli import _parsers, format_event, main
from trio_ami.sansio import Event
from trio_ami.testing import FakeAMIServer


def test_demo_runs_the_client_against_the_simulated_pbx(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--duration", "0.5", "--calls-per-second", "20"]) == 0
    out = capsys.readouterr().out
    assert "logged in: AMI 11.0.0" in out
    assert "Ping -> Pong" in out
    assert "CoreShowChannels -> " in out
    assert "Command 'core show channels' ->" in out
    assert "Originate (wait) -> Success" in out
    assert "Newchannel" in out and "Hangup" in out
    assert ", 0 dropped" in out


def test_format_event_shows_the_telling_headers() -> None:
    event = Event.from_headers(
        {
            "Event": "Newchannel",
            "Channel": "PJSIP/100-00000001",
            "ChannelStateDesc": "Ring",
            "CallerIDNum": "100",
            "CallerIDName": "Zoë",
            "Exten": "200",
        }
    )
    line = format_event(event)
    assert "Newchannel" in line and "PJSIP/100-00000001" in line
    assert '"Zoë" <100>' in line and "Exten=200" in line


async def run_cli(*args: str, secret: str | None = "s3cret") -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    env.pop("AMI_SECRET", None)
    if secret is not None:
        env["AMI_SECRET"] = secret
    return await trio.run_process(
        [sys.executable, "-m", "trio_ami", *args],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=env,
    )


async def test_command_and_action_against_a_server() -> None:
    server = FakeAMIServer(users={"admin": "s3cret"})
    server.commands["show something"] = "line one\nline: two\n"
    async with server.listen_tcp() as (host, port):
        done = await run_cli("command", host, "-p", str(port), "-u", "admin", "show something")
        assert done.returncode == 0, done.stderr
        assert done.stdout.decode().splitlines() == ["line one", "line: two"]
        done = await run_cli(
            "action", host, "-p", str(port), "-u", "admin", "Getvar", "Variable=NOPE"
        )
        assert done.returncode == 0, done.stderr
        assert "Response: Success" in done.stdout.decode()
        done = await run_cli("action", host, "-p", str(port), "-u", "admin", "Bogus")
        assert done.returncode == 1
        done = await run_cli("command", host, "-p", str(port), "-u", "admin", "x", secret="bad")
        assert done.returncode == 1
        assert "AuthenticationError" in done.stderr.decode()
        done = await run_cli("command", host, "-p", str(port), "-u", "admin", "x", secret=None)
        assert done.returncode == 2


@asynccontextmanager
async def cli_process(*args: str, secret: str | None = "s3cret") -> AsyncIterator[trio.Process]:
    """The CLI as a real process whose stdout and stderr are pipes; killed at the end."""
    env = dict(os.environ)
    env.pop("AMI_SECRET", None)
    if secret is not None:
        env["AMI_SECRET"] = secret
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trio_ami", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    await stream.aclose()


async def read_all(stream: trio.abc.ReceiveStream | None) -> bytes:
    assert stream is not None
    data = b""
    with trio.fail_after(20):
        while chunk := await stream.receive_some():
            data += chunk
    return data


async def pump(server: FakeAMIServer, events: Sequence[tuple[str, dict[str, str]]]) -> None:
    """Push ``events`` over and over: the client may not have subscribed yet."""
    while True:
        for name, headers in events:
            server.push_event(name, headers)
        await trio.sleep(0.05)


async def read_until(
    process: trio.Process,
    marker: bytes,
    server: FakeAMIServer | None = None,
    events: Sequence[tuple[str, dict[str, str]]] = (),
) -> bytes:
    """Read stdout until ``marker`` shows up (or EOF), pushing ``events`` all the while."""
    assert process.stdout is not None
    data = b""
    async with trio.open_nursery() as nursery:
        if server is not None:
            nursery.start_soon(pump, server, events)
        with trio.fail_after(20):
            while marker not in data:
                chunk = await process.stdout.receive_some()
                if not chunk:
                    break
                data += chunk
        nursery.cancel_scope.cancel()
    return data


NEWCHANNEL = ("Newchannel", {"Channel": "PJSIP/100-00000001", "ChannelStateDesc": "Ring"})
HANGUP = ("Hangup", {"Channel": "PJSIP/100-00000001", "Cause": "16", "Cause-txt": "Normal"})


async def test_events_takes_names_after_the_options() -> None:
    server = FakeAMIServer(users={"admin": "s3cret"})
    async with server.listen_tcp() as (host, port):
        async with cli_process("events", host, "-p", str(port), "-u", "admin", "Hangup") as cli:
            out = await read_until(cli, b"\n", server, [NEWCHANNEL, HANGUP])
            cli.kill()
            err = await read_all(cli.stderr)
    assert b"Hangup" in out, err.decode()
    assert b"Newchannel" not in out


async def test_events_reconnect_after_a_restart_and_say_so() -> None:
    server = FakeAMIServer(users={"admin": "s3cret"})
    async with server.listen_tcp() as (host, port):
        async with cli_process("events", host, "-p", str(port), "-u", "admin", "Hangup") as cli:
            before = await read_until(cli, b"\n", server, [NEWCHANNEL, HANGUP])
            await server.restart(delay=0.3)
            after = await read_until(cli, b"link back", server, [HANGUP])
            after += await read_until(cli, b"Hangup", server, [HANGUP])
            cli.kill()
            err = await read_all(cli.stderr)
    lines = (before + after).decode().splitlines()
    lost = next(i for i, line in enumerate(lines) if "--- link lost: " in line)
    assert "Hangup" in lines[0], err.decode()
    assert lines[lost].endswith("--- link lost: the server closed the connection")
    assert re.search(r"--- link back after [0-9.]+ s$", lines[lost + 1]), lines
    assert "Hangup" in lines[lost + 2]
    assert all("Newchannel" not in line for line in lines)
    assert server.statistics().connections == 2


async def test_events_reconnect_when_the_keepalive_finds_the_link_dead() -> None:
    server = FakeAMIServer(users={"admin": "s3cret"})
    async with server.listen_tcp() as (host, port):
        login = (host, "-p", str(port), "-u", "admin")
        async with cli_process("events", "--raw", *login, "--keepalive", "0.2", "Hangup") as cli:
            await read_until(cli, b"\r\n\r\n", server, [HANGUP])
            server.black_hole()
            assert cli.stderr is not None
            err = b""
            with trio.fail_after(20):
                while b"--- link lost" not in err:
                    err += await cli.stderr.receive_some()
            server.lift_black_hole()
            with trio.fail_after(20):
                while b"--- link back" not in err:
                    err += await cli.stderr.receive_some()
            out = await read_until(cli, b"Hangup", server, [HANGUP])
            cli.kill()
    assert b"--- link lost: the connection broke: no answer to the keepalive Ping" in err
    packets = out.split(b"\r\n\r\n")
    assert packets[-1] == b"" and all(p.startswith(b"Event: Hangup\r\n") for p in packets[:-1])


async def test_events_end_when_the_login_is_refused_after_a_restart() -> None:
    # A refused login is not retried (retrying only locks the account): the tool ends.
    server = FakeAMIServer(users={"admin": "s3cret"})
    async with server.listen_tcp() as (host, port):
        login = (host, "-p", str(port), "-u", "admin")
        async with cli_process("events", *login) as cli:
            await read_until(cli, b"\n", server, [HANGUP])
            server.refuse_logins(1)
            await server.restart()
            with trio.fail_after(20):
                err = await read_all(cli.stderr)
                await cli.wait()
    assert cli.returncode == 1
    assert "AuthenticationError" in err.decode() and "s3cret" not in err.decode()
    assert server.statistics().logins_refused == 1


async def test_events_without_reconnecting_end_at_the_loss() -> None:
    server = FakeAMIServer(users={"admin": "s3cret"})
    async with server.listen_tcp() as (host, port):
        login = (host, "-p", str(port), "-u", "admin")
        async with cli_process("events", *login, "--no-reconnect") as cli:
            await read_until(cli, b"\n", server, [HANGUP])
            await server.restart()
            err = await read_all(cli.stderr)
            await cli.wait()
    assert cli.returncode == 1
    assert "ConnectionClosed" in err.decode() and "link" not in err.decode()


async def test_action_headers_are_checked_before_connecting() -> None:
    # Nothing listens on port 1: a complaint about the headers means they were checked first.
    done = await run_cli("action", "127.0.0.1", "-p", "1", "-u", "admin", "Getvar", "Variable")
    assert done.returncode == 2
    assert "Key=Value, not 'Variable'" in done.stderr.decode()


async def test_output_cut_short_by_a_closed_pipe_ends_quietly() -> None:
    # `trio-ami demo | head`: the reader goes away while the demo is still printing.
    async with cli_process("demo", "--duration", "10", "--calls-per-second", "50") as cli:
        assert cli.stdout is not None
        await read_until(cli, b"\n")
        await cli.stdout.aclose()
        err = await read_all(cli.stderr)
        await cli.wait()
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
    assert cli.returncode == 141


async def test_events_into_a_closed_pipe_ends_quietly() -> None:
    # `trio-ami events ... | head -1`
    server = FakeAMIServer(users={"admin": "s3cret"})
    async with server.listen_tcp() as (host, port):
        async with cli_process("events", host, "-p", str(port), "-u", "admin") as cli:
            assert cli.stdout is not None
            await read_until(cli, b"\n", server, [NEWCHANNEL])
            await cli.stdout.aclose()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pump, server, [NEWCHANNEL, HANGUP])
                err = await read_all(cli.stderr)
                await cli.wait()
                nursery.cancel_scope.cancel()
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
    assert cli.returncode == 141


@pytest.mark.parametrize("ami_version", ["11.0.0", "2.10.0"], ids=["asterisk22", "asterisk13"])
async def test_command_asterisk_refuses_shows_its_text(ami_version: str) -> None:
    # Asterisk >= 14 answers Response: Error with the text in Output: lines; Asterisk <= 13
    # answers Response: Follows whatever the command, with the text as its output.
    server = FakeAMIServer(users={"admin": "s3cret"}, ami_version=ami_version)
    server.commands["show something"] = "line one\nline: two\n"
    async with server.listen_tcp() as (host, port):
        login = (host, "-p", str(port), "-u", "admin")
        done = await run_cli("command", *login, "core show nonsense")
        assert done.returncode == 1
        assert done.stdout == b""
        err = done.stderr.decode()
        assert "No such command 'core show nonsense'" in err
        assert "Traceback" not in err
        done = await run_cli("command", *login, "show something")
        assert done.returncode == 0, done.stderr
        assert done.stdout.decode().splitlines() == ["line one", "line: two"]


async def test_events_raw_prints_each_packet_as_received() -> None:
    server = FakeAMIServer(users={"admin": "s3cret"})
    peer = ("PeerStatus", {"ChannelType": "PJSIP", "Peer": "PJSIP/100", "PeerStatus": "Reachable"})
    async with server.listen_tcp() as (host, port):
        login = (host, "-p", str(port), "-u", "admin")
        async with cli_process("events", "--raw", *login, "PeerStatus") as cli:
            out = await read_until(cli, b"\r\n\r\n", server, [NEWCHANNEL, peer])
            cli.kill()
            err = await read_all(cli.stderr)
    packet = out.split(b"\r\n\r\n")[0]
    assert packet.startswith(b"Event: PeerStatus\r\nPrivilege: system,all\r\n"), err.decode()
    assert packet.endswith(b"ChannelType: PJSIP\r\nPeer: PJSIP/100\r\nPeerStatus: Reachable")


def test_format_event_identifies_events_without_a_channel() -> None:
    def line(name: str, **headers: str) -> str:
        return format_event(Event.from_headers({"Event": name, **headers}))

    member = line(
        "QueueMemberStatus",
        Privilege="agent,all",
        Queue="support",
        MemberName="Alice",
        Interface="PJSIP/101",
        StateInterface="PJSIP/101",
        Membership="dynamic",
        Penalty="0",
        CallsTaken="3",
        Status="1",
        Paused="0",
        InCall="0",
    )
    assert "Queue=support" in member and "MemberName=Alice" in member
    assert "Interface=PJSIP/101" in member and "Status=1 (not in use)" in member
    assert "Paused=0" in member and "agent,all" not in member and "CallsTaken" not in member
    peer = line("PeerStatus", ChannelType="PJSIP", Peer="PJSIP/100", PeerStatus="Unreachable")
    assert "PJSIP/100" in peer and "PeerStatus=Unreachable" in peer
    device = line("DeviceStateChange", Device="PJSIP/100", State="INUSE")
    assert "PJSIP/100" in device and "State=INUSE" in device
    contact = line(
        "ContactStatus",
        URI="sip:100@192.0.2.10:5060",
        ContactStatus="Reachable",
        AOR="100",
        EndpointName="100",
        RoundtripUsec="1234",
    )
    assert "AOR=100" in contact and "ContactStatus=Reachable" in contact
    assert "URI=sip:100@192.0.2.10:5060" in contact
    legacy_member = line("QueueMemberStatus", Queue="sales", Location="SIP/200", Status="6")
    assert "Location=SIP/200" in legacy_member and "Status=6 (ringing)" in legacy_member
    registry = line(
        "Registry",
        ChannelType="PJSIP",
        Username="trunk",
        Domain="sip.example.com",
        Status="Rejected",
        Cause="403",
    )
    assert "Domain=sip.example.com" in registry and "Status=Rejected" in registry
    user = line(
        "UserEvent",
        Channel="PJSIP/100-00000001",
        Uniqueid="1.1",
        UserEvent="Survey",
        Score="5",
        Comment="fine",
    )
    assert "UserEvent=Survey" in user and "Score=5" in user and "Comment=fine" in user
    unknown = line("FancyModuleThing", Privilege="system,all", Widget="w1", Mood="good")
    assert "Widget=w1" in unknown and "Mood=good" in unknown and "system,all" not in unknown


def test_help_is_plain_text_and_documents_every_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    texts = []
    for argv in (
        ["--help"],
        ["demo", "--help"],
        ["events", "--help"],
        ["action", "--help"],
        ["command", "--help"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
        texts.append(capsys.readouterr().out)
    for text in texts:
        assert "``" not in text and "::" not in text
    assert "AMI_SECRET" in texts[0]
    for text in texts[2:]:
        assert "AMI_SECRET" in text and "prompt" in text
    top, subparsers = _parsers()
    for parser in [top, *subparsers.values()]:
        for action in parser._actions:  # noqa: SLF001 - argparse lists its arguments nowhere else
            assert action.help, f"{parser.prog}: {action.dest} has no help"


async def test_secret_is_prompted_for_when_not_given(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts: list[str] = []

    def getpass(prompt: str = "Password: ", stream: object = None) -> str:
        prompts.append(prompt)
        return "s3cret"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("getpass.getpass", getpass)
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.delenv("AMI_SECRET", raising=False)
    server = FakeAMIServer(users={"admin": "s3cret"})
    server.commands["show something"] = "line one\n"
    async with server.listen_tcp() as (host, port):
        argv = ["command", host, "-p", str(port), "-u", "admin", "show something"]
        status = await trio.to_thread.run_sync(main, argv)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert captured.out.splitlines() == ["line one"]
    assert len(prompts) == 1 and "admin" in prompts[0]


async def test_no_secret_and_no_terminal_fails_without_waiting() -> None:
    done = await run_cli("command", "127.0.0.1", "-u", "admin", "x", secret=None)
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "--secret" in err and "AMI_SECRET" in err and "terminal" in err


async def test_secret_never_shows_in_an_error() -> None:
    # The wrong layout makes argparse quote an argument; a secret the client refuses to send
    # makes the library quote it.
    done = await run_cli("-s", "hunter2", "command", "127.0.0.1", "-u", "admin", "x")
    assert done.returncode == 2
    assert b"hunter2" not in done.stderr and b"hunter2" not in done.stdout
    done = await run_cli("demo", "--secret=hunter2")
    assert done.returncode == 2
    assert b"hunter2" not in done.stderr
    server = FakeAMIServer(users={"admin": "s3cret"})
    async with server.listen_tcp() as (host, port):
        login = (host, "-p", str(port), "-u", "admin", "--auth", "plain")
        done = await run_cli("command", *login, "x", secret="hun\nter2")
        assert done.returncode == 1
        err = done.stderr.decode()
        assert "InvalidActionError" in err
        assert "hun" not in err and "ter2" not in err
        done = await run_cli("command", *login, "-s", "hun\nter2", "x", secret=None)
        assert done.returncode == 1
        assert "ter2" not in done.stderr.decode()
