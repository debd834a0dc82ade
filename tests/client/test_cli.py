"""The ``trio-ami`` command line: the demo in-process, the tools as a real process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import trio

from trio_ami._cli import format_event, main
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
