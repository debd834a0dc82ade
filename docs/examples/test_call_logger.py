"""A call logger that survives restarts of Asterisk, and its test against the fake server.

Run it with ``pytest docs/examples/test_call_logger.py`` (pytest-trio in trio mode).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import attrs
import trio

from trio_ami.resilience import (
    LinkLost,
    LinkRestored,
    ReconnectingAMI,
    ReconnectPolicy,
    open_reconnecting_ami,
)
from trio_ami.testing import FakeAMIServer, SimChannel


# -- the code: what a call logger has ------------------------------------------------------------
@attrs.define
class CallLog:
    """The lines logged, and the channels known to be up."""

    lines: list[str] = attrs.Factory(list)
    live: set[str] = attrs.Factory(set)


async def log_calls(ami: ReconnectingAMI, log: CallLog) -> None:
    """Log every hangup, for as long as it runs. While the link is down, events are missed:
    once it is back, the channels still up say which calls ended unseen."""
    async with ami.subscribe("Newchannel", "Hangup") as events:
        async for item in events:
            if isinstance(item, LinkLost):
                log.lines.append(f"link lost: {item.reason}")
            elif isinstance(item, LinkRestored):
                up = {channel["Channel"] for channel in await ami.core_show_channels()}
                for channel in sorted(log.live - up):
                    log.lines.append(f"ended while the link was down: {channel}")
                log.live = up
                log.lines.append(f"link back after {item.down_for:.1f} s")
            elif item.name == "Newchannel":
                log.live.add(item["Channel"])
            else:
                log.live.discard(item["Channel"])
                log.lines.append(f"hangup: {item['Channel']} ({item['Cause-txt']})")


# -- its test -----------------------------------------------------------------------------------
def channel(name: str) -> SimChannel:
    return SimChannel(name=name, uniqueid=f"{name}.1", linkedid=f"{name}.1", endpoint="100")


async def until(condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` is true (a few milliseconds at a time)."""
    with trio.fail_after(5):
        while not condition():
            await trio.sleep(0.01)


async def test_the_logger_survives_a_restart_and_resynchronises() -> None:
    server = FakeAMIServer(users={"logger": "secret"})
    pbx = server.pbx
    policy = ReconnectPolicy(initial_delay=0.05)
    log = CallLog()
    async with server.listen_tcp() as (host, port):
        async with (
            open_reconnecting_ami(
                host, port, username="logger", secret="secret", policy=policy
            ) as ami,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(log_calls, ami, log)
            await ami.wait_connected()
            await trio.sleep(0.05)  # the subscription is open

            first = pbx.add_channel(channel("PJSIP/100-00000001"))
            pbx.hangup(first, 16)
            second = pbx.add_channel(channel("PJSIP/100-00000002"))
            await until(lambda: len(log.live) == 1)

            # Asterisk restarts; meanwhile the second call ends and a third starts, unseen.
            restart = partial(server.restart, delay=0.2)
            nursery.start_soon(restart)
            await until(lambda: not server.listening)
            pbx.hangup(second, 16)
            third = pbx.add_channel(channel("PJSIP/100-00000003"))
            await until(lambda: any(line.startswith("link back") for line in log.lines))

            pbx.hangup(third, 17)
            await until(lambda: "hangup: PJSIP/100-00000003 (User busy)" in log.lines)
            nursery.cancel_scope.cancel()

    assert log.lines[0] == "hangup: PJSIP/100-00000001 (Normal Clearing)"
    assert log.lines[1].startswith("link lost: ")
    assert log.lines[2] == "ended while the link was down: PJSIP/100-00000002"
    assert log.lines[3].startswith("link back after ")
    assert log.lines[4:] == ["hangup: PJSIP/100-00000003 (User busy)"]
    assert ami.statistics().reconnects == 1
