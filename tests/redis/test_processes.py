"""The scale-out as separate processes: ``trio-ami collect`` and two ``trio-ami work``, and the
demo."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
import trio

from trio_ami._cli import main
from trio_ami.redis import EmbeddedRedis, Keys, Worker, open_redis
from trio_ami.redis._cli import add_commands, run_command

from .scaleout import COLLECTED, ami_server, call_events, fake_pbx, start_collectors, wait_until


class Lines:
    """The lines a process prints, gathered as they come."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def gather(self, stream: trio.abc.ReceiveStream) -> None:
        pending = b""
        async for chunk in stream:
            pending += chunk
            *done, pending = pending.split(b"\n")
            self.lines += [line.decode() for line in done]


async def test_worker_processes_share_a_collector_processs_events_once_each(
    redis_server: EmbeddedRedis, keys: Keys
) -> None:
    command = [sys.executable, "-m", "trio_ami"]
    common = ["--redis", redis_server.url, "--prefix", keys.prefix]
    environment = {**os.environ, "AMI_SECRET": "secret"}
    outputs = [Lines(), Lines()]
    async with fake_pbx() as (pbx, port), trio.open_nursery() as nursery:
        processes: list[Any] = []
        collector = await trio.lowlevel.open_process(
            [*command, "collect", *common, "--server", f"pbx1=127.0.0.1:{port}", "-u", "admin"]
            + [f"--event={name}" for name in COLLECTED],
            env=environment,
        )
        processes.append(collector)
        for number, output in enumerate(outputs):
            worker = await trio.lowlevel.open_process(
                [
                    *command,
                    "work",
                    *common,
                    "--server",
                    "pbx1",
                    "--json",
                    "--consumer",
                    f"p{number}",
                ],
                stdout=subprocess.PIPE,
            )
            processes.append(worker)
            assert worker.stdout is not None
            nursery.start_soon(output.gather, worker.stdout)
        try:
            await pbx.wait_for_sessions(1)
            sent = []
            for call in range(6):
                for name, headers in call_events(call):
                    pbx.push_event(name, headers)
                    sent.append(headers["Seq"])

            def handled() -> Counter[str]:
                seqs: Counter[str] = Counter()
                for output in outputs:
                    for line in output.lines:
                        headers = dict(json.loads(line)["headers"])
                        seqs[headers["Seq"]] += 1
                return seqs

            await wait_until(lambda: len(handled()) == len(sent), timeout=30)
            await trio.sleep(0.3)
        finally:
            for process in processes:
                process.send_signal(signal.SIGINT)
            with trio.fail_after(10):
                for process in processes:
                    await process.wait()
            nursery.cancel_scope.cancel()
    assert sorted(handled()) == sorted(sent)
    assert set(handled().values()) == {1}
    records = [json.loads(line) for output in outputs for line in output.lines]
    assert {record["server"] for record in records} == {"pbx1"}
    assert {record["consumer"] for record in records} <= {"p0", "p1"}
    assert [process.returncode for process in processes] == [130, 130, 130]


def test_the_demo_shows_which_worker_handled_what(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["demo", "--workers", "2", "--duration", "0.6", "--calls-per-second", "10"])
    out = capsys.readouterr().out
    assert status == 0
    assert "2 collectors hold pbx1; 2 workers share its events" in out
    assert "Ping through a collector -> Pong" in out
    assert "worker-1  pbx1" in out or "worker-2  pbx1" in out
    assert ", 0 of them twice;" in out


def test_the_commands_say_what_they_need(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["collect", "--server", "pbx1", "-u", "admin", "-s", "x"])
    assert "NAME=HOST" in capsys.readouterr().err
    assert main(["work", "--server", "pbx1", "--redis", "redis://127.0.0.1:1"]) == 1
    assert "RedisUnavailable" in capsys.readouterr().err


def _command_line(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="what")
    add_commands(commands, commands.add_parser("demo"))
    return parser.parse_args(argv)


async def test_collect_and_work_in_one_process(
    redis_server: EmbeddedRedis, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--redis", redis_server.url, "--prefix", keys.prefix]
    async with fake_pbx() as (pbx, port), trio.open_nursery() as nursery:
        server = f"pbx1=127.0.0.1:{port}"
        options = ["-u", "admin", "-s", "secret", "--event", "Hangup", "--dedup-window", "1"]
        collect = _command_line(["collect", *common, "--server", server, *options])
        nursery.start_soon(run_command, collect)
        await pbx.wait_for_sessions(1)
        pbx.push_event("Hangup", {"Channel": "PJSIP/1-1", "Seq": "1"})
        pbx.push_event("Newchannel", {"Channel": "PJSIP/1-2", "Seq": "2"})  # not collected
        pbx.push_event("Hangup", {"Channel": "PJSIP/1-3", "Seq": "3"})
        nursery.start_soon(run_command, _command_line(["work", *common, "--server", "pbx1"]))
        with trio.fail_after(10):
            out = ""
            while out.count("Hangup") < 2:
                await trio.sleep(0.05)
                out += capsys.readouterr().out
        nursery.cancel_scope.cancel()
    assert "pbx1" in out and "PJSIP/1-1" in out and "PJSIP/1-3" in out
    assert "PJSIP/1-2" not in out


@pytest.mark.parametrize("server", ["pbx1", "=host", "pbx1=", "pbx1=host:port"])
def test_a_server_is_name_equals_host(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _command_line(["collect", "--server", server, "-u", "admin"])
    assert "NAME=HOST" in capsys.readouterr().err


async def _blocked_in_a_read(client: Any) -> bool:
    """Whether a client of Redis waits in XREADGROUP (the stopped worker process)."""
    clients = await client.client_list()
    return any(
        c.get("name") == "trio-ami-worker:doomed"
        and c.get("cmd") == "xreadgroup"
        and "b" in str(c.get("flags"))
        for c in clients
    )


async def test_a_killed_worker_processs_events_are_handled_by_another(
    redis_server: EmbeddedRedis, keys: Keys
) -> None:
    command = [sys.executable, "-m", "trio_ami"]
    common = ["--redis", redis_server.url, "--prefix", keys.prefix]
    work = [*command, "work", *common, "--server", "pbx1", "--json", "--claim-idle", "0.5"]
    survivor = Lines()
    async with (
        fake_pbx() as (pbx, port),
        open_redis(redis_server.url) as client,
        trio.open_nursery() as nursery,
    ):
        [collector] = await start_collectors(
            nursery, redis_server.url, [ami_server("pbx1", port)], keys, count=1
        )
        doomed = await trio.lowlevel.open_process([*work, "--consumer", "doomed"])
        try:
            # Stopped while it waits in a read: Redis hands it the events all the same.
            with trio.fail_after(30):
                while True:
                    await trio.sleep(0.05)
                    if await _blocked_in_a_read(client):
                        doomed.send_signal(signal.SIGSTOP)
                        await trio.sleep(0.05)
                        if await _blocked_in_a_read(client):
                            break
                        doomed.send_signal(signal.SIGCONT)
            sent = []
            for name, headers in call_events(0):
                pbx.push_event(name, headers)
                sent.append(headers["Seq"])
            await wait_until(lambda: collector.statistics().servers["pbx1"].appended == len(sent))
            with trio.fail_after(10):  # all handed to the stopped worker, none acknowledged
                while (await Worker(client, ["pbx1"], keys=keys).pending())["pbx1"] < len(sent):
                    await trio.sleep(0.02)
        finally:
            doomed.kill()
            await doomed.wait()
        other = await trio.lowlevel.open_process(
            [*work, "--consumer", "survivor"], stdout=subprocess.PIPE
        )
        assert other.stdout is not None
        nursery.start_soon(survivor.gather, other.stdout)
        try:
            await wait_until(lambda: len(survivor.lines) >= len(sent), timeout=30)
        finally:
            other.send_signal(signal.SIGINT)
            await other.wait()
        nursery.cancel_scope.cancel()
    records = [json.loads(line) for line in survivor.lines]
    assert sorted(dict(r["headers"])["Seq"] for r in records) == sorted(sent)
    assert all(record["reclaimed"] for record in records)
