"""Originate (with and without a simulator), Hangup, Redirect, channel variables and Status:
the actions that act on the channels of the model."""

from __future__ import annotations

import re

from helpers.fake_server import serving

from trio_ami.testing import PBXSimulator


async def test_originate_without_simulator() -> None:
    async with serving(originate_delay=0.01, handler_errors="respond") as (server, connect):
        client = await connect()
        listener = await connect()
        await client.action(
            "Originate",
            {
                "Channel": "Local/100@test",
                "Application": "Wait",
                "Data": "2",
                "Async": "true",
                "CallerID": '"AMI Test" <5551234>',
            },
            action_id="o1",
        )
        queued = await client.response("o1")
        assert queued.headers == (
            ("Response", "Success"),
            ("ActionID", "o1"),
            ("Message", "Originate successfully queued"),
        )
        outcome = await client.event("OriginateResponse")
        assert [k for k, _ in outcome.headers] == [
            "Event", "Privilege", "ActionID", "Response", "Channel", "Application", "Data",
            "Reason", "Uniqueid", "CallerIDNum", "CallerIDName",
        ]  # fmt: skip
        assert outcome["Response"] == "Success" and outcome["Reason"] == "4"
        assert re.fullmatch(r"Local/100@test-[0-9a-f]{8};1", outcome["Channel"])
        assert (outcome["CallerIDNum"], outcome["CallerIDName"]) == ("5551234", "AMI Test")
        # a broadcast event: the other session sees it too
        assert (await listener.event("OriginateResponse"))["ActionID"] == "o1"

        await client.action(
            "Originate",
            {
                "Channel": "Local/999@test",
                "Context": "test",
                "Exten": "999",
                "Priority": "1",
                "Async": "yes",
            },
            action_id="o2",
        )
        failed = await client.event("OriginateResponse")
        assert failed.headers[2:] == (
            ("ActionID", "o2"),
            ("Response", "Failure"),
            ("Channel", "Local/999@test"),
            ("Context", "test"),
            ("Exten", "999"),
            ("Reason", "0"),
            ("Uniqueid", "<unknown>"),
            ("CallerIDNum", "<unknown>"),
            ("CallerIDName", "<unknown>"),
        )
        server.originate_outcome = lambda action: "busy"
        await client.call(
            "Originate", {"Channel": "PJSIP/100", "Application": "Echo", "Async": "1"}
        )
        assert (await client.event("OriginateResponse"))["Reason"] == "5"
        sync_fail = await client.call("Originate", {"Channel": "PJSIP/100", "Application": "Echo"})
        assert (sync_fail.name, sync_fail["Message"]) == ("Error", "Originate failed")
        server.originate_outcome = None
        sync_ok = await client.call("Originate", {"Channel": "PJSIP/100", "Application": "Echo"})
        assert sync_ok["Message"] == "Originate successfully queued"
        for headers, message in [
            ({"Application": "Echo"}, "Channel not specified"),
            ({"Channel": "nochannel", "Application": "Echo"}, "Invalid channel"),
            (
                {"Channel": "PJSIP/1", "Exten": "1"},
                "Originate with 'Exten' requires 'Context' and 'Priority'",
            ),
            ({"Channel": "PJSIP/1", "Timeout": "soon", "Application": "Echo"}, "Invalid timeout"),
            (
                {"Channel": "PJSIP/1", "Priority": "start", "Application": "Echo"},
                "Invalid priority",
            ),
        ]:
            error = await client.call("Originate", headers)
            assert (error.name, error["Message"]) == ("Error", message)
        server.originate_outcome = lambda action: "sideways"
        assert (
            await client.call("Originate", {"Channel": "PJSIP/1", "Application": "E"})
        ).name == "Error"
        assert isinstance(server.handler_exceptions[0], ValueError)


async def test_originate_with_simulator_makes_a_call() -> None:
    simulator = PBXSimulator(seed=3, time_scale=0.02)
    async with serving(simulator=simulator) as (server, connect):
        client = await connect()
        await client.action(
            "Originate",
            {
                "Channel": "Local/300@test",
                "Application": "Wait",
                "Data": "30",
                "Async": "true",
                "Variable": "FOO=bar",
            },
            action_id="orig",
        )
        seen = await client.until(lambda m: m.name == "OriginateResponse")
        seen = seen[next(i for i, m in enumerate(seen) if m.get("ActionID") == "orig") :]
        names = [m.name for m in seen]
        assert names[:3] == ["Success", "Newchannel", "Newchannel"]
        assert "LocalBridge" in names and "DialEnd" in names
        varsets = [m for m in seen if m.name == "VarSet"]
        assert {(m["Channel"][-2:], m["Variable"], m["Value"]) for m in varsets} == {
            (";1", "FOO", "bar"),
            (";2", "FOO", "bar"),
        }
        outcome = seen[-1]
        assert outcome["ActionID"] == "orig" and outcome["Response"] == "Success"
        _, items, complete = await client.listing("CoreShowChannels")
        assert sorted(i["Channel"] for i in items) == sorted(
            ch.name for ch in server.live_channels()
        )
        assert complete["ListItems"] == "2"
        one = next(i for i in items if i["Channel"].endswith(";1"))
        assert (one["Application"], one["ApplicationData"]) == ("Wait", "30")
        assert [k for k, _ in one.headers][:3] == ["Event", "ActionID", "Channel"]
        assert re.fullmatch(r"\d\d:\d\d:\d\d", one["Duration"])
        status_response, status, status_done = await client.listing("Status")
        assert status_response["Message"] == "Channel status will follow"
        assert status[0].headers[-1] == ("ActionID", status_done["ActionID"])
        assert status_done["Items"] == "2"
        text = await client.call("Command", {"Command": "core show channels"})
        assert text.output[-3:] == ["2 active channels", "1 active call", "1 call processed"]
        # hang it up through AMI: regex form
        await client.action("Hangup", {"Channel": "/^Local/300@test-.*/"}, action_id="h")
        hung = await client.response("h")
        assert hung["Message"] == "Channels hung up will follow"
        done = await client.until(lambda m: m.name == "ChannelsHungupListComplete")
        assert done[-1]["ListItems"] == "2"
        assert [m["ActionID"] for m in done if m.name == "ChannelHungup"] == ["h", "h"]
        hangups = await client.until(
            lambda m: [x.name for x in client.seen[-30:]].count("Hangup") == 2
        )
        assert [m.name for m in hangups].count("Hangup") == 2
        assert next(m for m in hangups if m.name == "SoftHangupRequest")["Cause"] == "16"
        assert server.live_channels() == []

        sync = await client.call(
            "Originate", {"Channel": "PJSIP/101", "Application": "Wait", "Data": "1"}
        )
        assert sync["Message"] == "Originate successfully queued"
        assert any(ch.name.startswith("PJSIP/101-") for ch in server.live_channels())
        failed = await client.call(
            "Originate", {"Channel": "Local/999@test", "Application": "Wait", "Data": "1"}
        )
        assert failed["Message"] == "Originate failed"


async def test_hangup_redirect_and_channel_variables() -> None:
    simulator = PBXSimulator(seed=5, ring_time=(0.01, 0.02))
    async with serving(simulator=simulator) as (server, connect):
        client = await connect()
        assert (await client.call("Hangup"))["Message"] == "No channel specified"
        assert (await client.call("Hangup", {"Channel": "PJSIP/1-1"}))[
            "Message"
        ] == "No such channel"
        assert (await client.call("Hangup", {"Channel": "/x"}))["Message"].startswith(
            "Regex format"
        )
        await client.call(
            "Originate", {"Channel": "PJSIP/105", "Application": "Wait", "Data": "60"}
        )
        [channel] = server.live_channels()
        set_ok = await client.call(
            "Setvar", {"Channel": channel.name, "Variable": "COLOR", "Value": "blue"}
        )
        assert set_ok["Message"] == "Variable Set"
        varset = await client.event("VarSet")
        assert (varset["Channel"], varset["Variable"], varset["Value"]) == (
            channel.name,
            "COLOR",
            "blue",
        )
        got = await client.call("Getvar", {"Channel": channel.name, "Variable": "COLOR"})
        assert got["Value"] == "blue"
        uid = await client.call("Getvar", {"Channel": channel.name, "Variable": "UNIQUEID"})
        assert uid["Value"] == channel.uniqueid

        for headers, message in [
            ({}, "Channel not specified"),
            ({"Channel": channel.name}, "Context not specified"),
            ({"Channel": channel.name, "Context": "c"}, "Exten not specified"),
            ({"Channel": channel.name, "Context": "c", "Exten": "1"}, "Priority not specified"),
            (
                {"Channel": channel.name, "Context": "c", "Exten": "1", "Priority": "x"},
                "Priority is invalid",
            ),
            (
                {"Channel": "PJSIP/9-9", "Context": "c", "Exten": "1", "Priority": "1"},
                "Channel does not exist: PJSIP/9-9",
            ),
        ]:
            assert (await client.call("Redirect", headers))["Message"] == message
        moved = await client.call(
            "Redirect",
            {"Channel": channel.name, "Context": "other", "Exten": "200", "Priority": "1"},
        )
        assert moved["Message"] == "Redirect successful"
        newexten = await client.event("Newexten")
        assert (newexten["Context"], newexten["Exten"]) == ("other", "200")

        await client.action("Hangup", {"Channel": channel.name, "Cause": "17"}, action_id="hx")
        assert (await client.response("hx"))["Message"] == "Channel Hungup"
        soft = await client.event("SoftHangupRequest")
        assert soft["Channel"] == channel.name
        hangup = await client.event("Hangup")
        assert (hangup["Cause"], hangup["Cause-txt"]) == ("17", "User busy")
        assert server.live_channels() == []


async def test_numbers_from_a_client_are_ascii_digits_only() -> None:
    # "²" passes str.isdigit() but int() refuses it; int() reads "٣", which Asterisk does not.
    simulator = PBXSimulator(seed=5, ring_time=(0.01, 0.02))
    async with serving(simulator=simulator) as (server, connect):
        client = await connect()
        for mask in ("²", "٣", "1²"):
            events = await client.call("Events", {"EventMask": mask})
            assert (events.name, events["Events"]) == ("Success", "Off")
        hangup = await client.call("Hangup", {"Channel": "PJSIP/1-1", "Cause": "²"})
        assert hangup["Message"] == "No such channel"
        await client.call(
            "Originate", {"Channel": "PJSIP/105", "Application": "Wait", "Data": "60"}
        )
        [channel] = server.live_channels()
        redirect = {"Channel": channel.name, "Context": "c", "Exten": "1", "Priority": "1"}
        extra = {"ExtraChannel": channel.name, "ExtraContext": "d", "ExtraExten": "2"}
        for bad in ("²", "٣", "1²"):
            answer = await client.call("Redirect", {**redirect, "Priority": bad})
            assert answer["Message"] == "Priority is invalid"
            answer = await client.call("Redirect", {**redirect, **extra, "ExtraPriority": bad})
            assert answer["Message"] == "ExtraPriority is invalid"
        originate = {"Channel": "PJSIP/106", "Context": "test", "Exten": "100", "Priority": "1"}
        for key, message in (("Priority", "Invalid priority"), ("Timeout", "Invalid timeout")):
            for bad in ("²", "٣", "x1"):
                answer = await client.call("Originate", {**originate, key: bad})
                assert answer["Message"] == message
        # A priority is read as Asterisk's sscanf("%d") reads it: " 2nd" is 2.
        answer = await client.call("Originate", {**originate, "Priority": " 2nd"})
        assert answer["Message"] == "Originate successfully queued"
        [placed] = [ch for ch in server.live_channels() if ch.name.startswith("PJSIP/106-")]
        assert placed.priority == 2
        # A Wait that is no time at all: the call lasts a simulated talk time instead.
        for data in ("inf", "nan", "-5", "1e400"):
            local = {"Channel": "Local/300@test", "Application": "Wait", "Data": data}
            answer = await client.call("Originate", local)
            assert answer["Message"] == "Originate successfully queued"
        assert server.handler_exceptions == []


async def test_dual_redirect_and_status_of_one_channel() -> None:
    simulator = PBXSimulator(seed=6, ring_time=(0.01, 0.02))
    async with serving(simulator=simulator) as (server, connect):
        client = await connect()
        for endpoint in ("106", "107"):
            await client.call(
                "Originate", {"Channel": f"PJSIP/{endpoint}", "Application": "Wait", "Data": "60"}
            )
        first, second = server.live_channels()
        await client.call("Setvar", {"Channel": first.name, "Variable": "TAG", "Value": "a"})
        _, [status], done = await client.listing(
            "Status", {"Channel": first.name, "Variables": "TAG,UNIQUEID"}
        )
        assert status.get_all("Variable") == ["TAG=a", f"UNIQUEID={first.uniqueid}"]
        assert (status["Type"], done["ListItems"]) == ("PJSIP", "1")
        assert (await client.call("Status", {"Channel": "PJSIP/0-0"}))[
            "Message"
        ] == "No such channel"
        headers = {"Channel": first.name, "Context": "c", "Exten": "1", "Priority": "1"}
        extra = {"ExtraChannel": second.name, "ExtraContext": "d", "ExtraExten": "2"}
        missing = await client.call("Redirect", {**headers, **extra})
        assert missing["Message"] == "ExtraPriority not specified"
        moved = await client.call("Redirect", {**headers, **extra, "ExtraPriority": "1"})
        assert moved["Message"] == "Dual Redirect successful"
        assert [(c.context, c.exten) for c in (first, second)] == [("c", "1"), ("d", "2")]
        gone = await client.call("Redirect", {**headers, "ExtraChannel": "PJSIP/0-0"})
        assert gone["Message"] == "ExtraChannel does not exist: PJSIP/0-0"
