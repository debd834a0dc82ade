"""The simulated PBX: consistent, deterministic call traffic that the server's actions see."""

from __future__ import annotations

from collections import Counter

import pytest
import trio
import trio.testing
from helpers.fake_server import check_consistency, serving

from trio_ami.sansio import Event
from trio_ami.testing import FakeAMIServer, PBXSimulator


async def test_simulated_traffic_is_consistent() -> None:
    simulator = PBXSimulator(seed=11, time_scale=0.01, ring_time=(1, 5), talk_time=(2, 20))
    async with serving(simulator=simulator) as (_, connect):
        client = await connect()
        other = await connect()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: simulator.run(calls_per_second=60, duration=0.6))
            checks = 0
            while checks < 5:
                await trio.sleep(0.1)
                # CoreShowChannels lists exactly the channels the events so far left alive
                action_id = await client.action("CoreShowChannels")
                got = await client.until(lambda m: m.name == "CoreShowChannelsComplete")
                live = set()
                for message in client.seen[: len(client.seen) - len(got)] + got:
                    if message.name == "Newchannel":
                        live.add(message["Channel"])
                    elif message.name == "Hangup":
                        live.discard(message["Channel"])
                listed = {m["Channel"] for m in got if m.name == "CoreShowChannel"}
                assert listed == live
                assert got[-1]["ListItems"] == str(len(live))
                assert got[-1]["ActionID"] == action_id
                checks += 1
        await client.call("Ping")
        assert simulator.calls_started > 10
        assert simulator.calls_completed == simulator.calls_started
        assert simulator.channels == {}
        events = [m for m in client.seen if isinstance(m, Event) and m.get("ActionID") is None]
        check_consistency(events)
        names = Counter(m.name for m in events)
        for name in (
            "Newchannel",
            "Newstate",
            "DialBegin",
            "DialEnd",
            "BridgeCreate",
            "BridgeEnter",
            "BridgeLeave",
            "BridgeDestroy",
            "VarSet",
            "Newexten",
            "Hangup",
        ):
            assert names[name] > 0, name
        states = {m["ChannelStateDesc"] for m in events if m.name == "Newstate"}
        assert states == {"Ringing", "Up"}
        assert {m["ChannelStateDesc"] for m in events if m.name == "Newchannel"} == {"Ring", "Down"}
        assert any(not m["CallerIDName"].isascii() for m in events if m.name == "Newchannel")
        sample = next(m for m in events if m.name == "Newchannel")
        assert [k for k, _ in sample.headers] == [
            "Event", "Privilege", "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum",
            "CallerIDName", "ConnectedLineNum", "ConnectedLineName", "Language", "AccountCode",
            "Context", "Exten", "Priority", "Uniqueid", "Linkedid",
        ]  # fmt: skip
        hangup = next(m for m in events if m.name == "Hangup")
        assert [k for k, _ in hangup.headers][-2:] == ["Cause", "Cause-txt"]
        # the other session got the very same event stream
        await other.call("Ping")
        other_events = [m for m in other.seen if isinstance(m, Event) and m.get("ActionID") is None]
        assert [m.headers for m in other_events if m.name != "SuccessfulAuth"] == [
            m.headers for m in events if m.name != "SuccessfulAuth"
        ]


async def run_recorded(seed: int) -> list[tuple[tuple[str, str], ...]]:
    simulator = PBXSimulator(seed=seed, record=True)
    await simulator.run(calls_per_second=2, duration=30)
    return [event.headers for event in simulator.events]


async def test_simulator_is_deterministic(autojump_clock: trio.testing.MockClock) -> None:
    first = await run_recorded(7)
    assert len(first) > 100
    assert first == await run_recorded(7)
    assert first != await run_recorded(8)
    check_consistency([Event("\n".join(f"{k}: {v}" for k, v in h)) for h in first])


async def test_cancelled_simulation_hangs_up_everything(
    autojump_clock: trio.testing.MockClock,
) -> None:
    simulator = PBXSimulator(seed=2, record=True, outcomes={"ANSWER": 1.0}, talk_time=(50, 60))
    with trio.move_on_after(20):
        await simulator.run(calls_per_second=1)
    assert simulator.channels == {}
    assert simulator.calls_completed == simulator.calls_started > 5
    check_consistency(simulator.events)
    assert simulator.events[-1].name in ("Hangup", "BridgeDestroy", "DeviceStateChange")


async def test_place_call_outcomes(autojump_clock: trio.testing.MockClock) -> None:
    simulator = PBXSimulator(seed=4, record=True)
    for outcome in ("ANSWER", "NOANSWER", "BUSY", "CONGESTION", "CANCEL"):
        simulator.events.clear()
        await simulator.place_call("101", "102", outcome=outcome)
        check_consistency(simulator.events)
        [dial_end] = [e for e in simulator.events if e.name == "DialEnd"]
        assert dial_end["DialStatus"] == outcome
        assert dial_end["Channel"].startswith("PJSIP/101-")
        assert dial_end["DestChannel"].startswith("PJSIP/102-")
    simulator.events.clear()
    await simulator.place_call("+15551234567", "103", inbound=True, outcome="ANSWER")
    first = simulator.events[0]
    assert first["Channel"].startswith("PJSIP/trunk-")
    assert (first["CallerIDNum"], first["Context"], first["Exten"]) == (
        "+15551234567", "from-trunk", "103",
    )  # fmt: skip
    with pytest.raises(ValueError, match="unknown outcome"):
        await simulator.place_call(outcome="MAYBE")


# -- the simulator and the model ------------------------------------------------------------------
async def test_an_attached_simulator_runs_its_calls_in_the_servers_model(
    autojump_clock: trio.testing.MockClock,
) -> None:
    simulator = PBXSimulator(seed=3, record=True, outcomes={"ANSWER": 1.0}, extensions=["7", "8"])
    server = FakeAMIServer(simulator=simulator)
    assert simulator.pbx is server.pbx and server.simulator is simulator
    assert server.pbx.endpoints() == ["7", "8"]
    seen: list[str] = []
    server.pbx.add_listener(lambda name, pairs: seen.append(name))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: simulator.place_call("7", "8", ring_time=1, talk_time=60))
        await trio.sleep(10)
        [caller, callee] = server.live_channels()
        assert server.pbx.hint_state(server.pbx.hint("8", "from-internal")) == 1
        server.pbx.hangup(callee, 17)  # the Hangup action: the call ends at once, callee first
    assert simulator.channels == {} and server.pbx.calls_processed == 1
    assert [e.name for e in simulator.events] == seen  # every event of the model, recorded
    hangups = [e for e in simulator.events if e.name == "Hangup"]
    assert [(e["Channel"], e["Cause"]) for e in hangups] == [
        (callee.name, "17"),
        (caller.name, "17"),
    ]
    check_consistency(simulator.events)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(simulator.place_call)
        await trio.sleep(0.1)
        with pytest.raises(RuntimeError, match="calls in progress"):
            FakeAMIServer(simulator=simulator)  # its calls would lose their model
        nursery.cancel_scope.cancel()
