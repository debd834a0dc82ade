"""Testing your own AMI code with trio_ami.testing: a click-to-call service and its tests.

Run it with ``pytest docs/examples/test_click_to_call.py`` (pytest-trio in trio mode).
"""

from __future__ import annotations

import trio

import trio_ami
from trio_ami.testing import FakeAMIServer


# -- the code under test: what an application would have ----------------------------------------
async def click_to_call(ami: trio_ami.AMIConnection, agent: str, customer: str) -> str:
    """Ring the agent's phone, then dial the customer; the call's Uniqueid, or an error."""
    result = await ami.originate(
        f"PJSIP/{agent}",
        context="from-internal",
        exten=customer,
        priority=1,
        caller_id=f"Click to call <{customer}>",
        variables={"CLICK_TO_CALL": "1"},
        ring_timeout=20,
        wait=True,
    )
    assert result.outcome is not None
    return result.outcome["Uniqueid"]


async def count_hangups(ami: trio_ami.AMIConnection, stop_after: int) -> list[str]:
    """The causes of the next ``stop_after`` hangups."""
    causes = []
    async with ami.subscribe("Hangup") as hangups:
        async for event in hangups:
            causes.append(event.get("Cause-txt", ""))
            if len(causes) == stop_after:
                break
    return causes


# -- its tests ----------------------------------------------------------------------------------
async def test_click_to_call_places_the_call() -> None:
    server = FakeAMIServer(users={"crm": "secret"})
    async with server.listen_tcp() as (host, port):
        async with trio_ami.open_ami(host, port, username="crm", secret="secret") as ami:
            uniqueid = await click_to_call(ami, "201", "5551234")
    assert uniqueid
    [originate] = [a for a in server.received if a["Action"] == "Originate"]
    assert originate["Channel"] == "PJSIP/201"
    assert originate["Exten"] == "5551234"
    assert originate["Timeout"] == "20000"
    assert originate.get_all("Variable") == ["CLICK_TO_CALL=1"]


async def test_click_to_call_reports_a_busy_customer() -> None:
    server = FakeAMIServer(users={"crm": "secret"})
    server.originate_outcome = lambda action: "Busy"
    async with server.listen_tcp() as (host, port):
        async with trio_ami.open_ami(host, port, username="crm", secret="secret") as ami:
            try:
                await click_to_call(ami, "201", "5551234")
            except trio_ami.ActionFailed as exc:
                assert "busy" in str(exc)
            else:
                raise AssertionError("a busy customer must fail the call")


async def test_hangups_are_counted() -> None:
    server = FakeAMIServer(users={"crm": "secret"})
    async with server.listen_tcp() as (host, port):
        async with trio_ami.open_ami(host, port, username="crm", secret="secret") as ami:
            async with trio.open_nursery() as nursery:
                results: list[list[str]] = []

                async def watch() -> None:
                    results.append(await count_hangups(ami, 2))

                nursery.start_soon(watch)
                await trio.sleep(0.05)  # let the subscription start
                server.push_event(
                    "Hangup",
                    {
                        "Channel": "PJSIP/201-00000001",
                        "Cause": "16",
                        "Cause-txt": "Normal Clearing",
                    },
                )
                server.push_event("Newchannel", {"Channel": "PJSIP/202-00000002"})
                server.push_event(
                    "Hangup",
                    {"Channel": "PJSIP/202-00000002", "Cause": "17", "Cause-txt": "User busy"},
                )
    assert results == [["Normal Clearing", "User busy"]]


async def test_the_application_survives_a_dropped_connection() -> None:
    server = FakeAMIServer(users={"crm": "secret"})
    server.stall("Originate")  # the PBX never answers...
    async with server.listen_tcp() as (host, port):
        async with trio_ami.open_ami(host, port, username="crm", secret="secret") as ami:
            async with trio.open_nursery() as nursery:
                outcome: list[BaseException] = []

                async def call() -> None:
                    try:
                        await click_to_call(ami, "201", "5551234")
                    except trio_ami.ConnectionClosed as exc:
                        outcome.append(exc)

                nursery.start_soon(call)
                await server.wait_for_action("Originate")
                server.sessions[0].close()  # ...and then goes away
    assert len(outcome) == 1
