"""The built-in actions that answer from the model: Ping, limits, the event mask and filters,
Command in both formats, event lists, variables, configs, extension states, UserEvent."""

from __future__ import annotations

import json
import re

import pytest
from helpers.fake_server import serving

from trio_ami.sansio import Event
from trio_ami.testing import EventFilter, FakeAMIServer, FilterError, PBXSimulator


async def test_ping_and_unknown_action() -> None:
    async with serving() as (_, connect):
        client = await connect()
        pong = await client.call("Ping")
        assert [k for k, _ in pong.headers] == ["Response", "ActionID", "Ping", "Timestamp"]
        assert re.fullmatch(r"\d+\.\d{6}", pong["Timestamp"])
        await client.action("Ping", action_id=None)
        bare = await client.response(None)
        assert [k for k, _ in bare.headers] == ["Response", "Ping", "Timestamp"]
        unknown = await client.call("FooBar")
        assert unknown["Message"] == (
            "Invalid/unknown command: FooBar. Use Action: ListCommands to show available commands."
        )
        await client.send(b"Foo: bar\r\n\r\n")
        missing = await client.response(None)
        assert missing["Message"] == "Missing action in request"
        commands = await client.call("ListCommands")
        assert "Originate" in commands and "Ping" in commands


async def test_line_limits() -> None:
    async with serving() as (_, connect):
        client = await connect()
        # Action refuses to build these, so they are written by hand.
        await client.send(
            b"Action: UserEvent\r\nActionID: long\r\nBig: " + b"y" * 1100 + b"\r\n\r\n"
        )
        long_line = await client.response("long")
        assert long_line["Message"] == "Failed to parse message: line too long"
        lines = b"".join(b"H%d: v\r\n" % i for i in range(130))
        await client.send(b"Action: UserEvent\r\nActionID: many\r\n" + lines + b"\r\n")
        many = await client.response("many")
        assert many["Message"] == "Too many lines in message or allocation failure"


async def test_events_action_and_mask() -> None:
    async with serving() as (server, connect):
        client = await connect()
        for mask, answer in [
            ("off", "Off"),
            ("on", "On"),
            ("system,call", "On"),
            ("bogus", "Off"),
            ("user", "On"),
            ("1", "On"),
        ]:
            response = await client.call("Events", {"EventMask": mask})
            assert [k for k, _ in response.headers] == ["Response", "ActionID", "Events"]
            assert response["Events"] == answer, mask
        assert (await client.call("Events"))["Message"] == "Invalid event mask"
        await client.call("Events", {"EventMask": "call"})
        session = server.sessions[0]
        assert session.event_classes == {"call"}
        assert server.push_event("Newexten", {"Channel": "a"}) == 0  # dialplan class
        assert server.push_event("Hangup", {"Channel": "b"}) == 1
        assert server.push_event("Custom", {"Privilege": "agent,all"}) == 0
        assert server.push_event("Custom", {"Privilege": "call,all"}) == 1
        assert server.push_event("NoClass", {"X": "1"}) == 1  # no known class: mask just on
        assert server.push_event(Event("Event: Mine\nPrivilege: call,all\nA: 1")) == 1
        assert server.push_event(Event("Event: Mine\nA: 2"), privilege="agent") == 0
        events = await client.quiet()
        assert [(m.name, m.get("Privilege")) for m in events] == [
            ("Hangup", "call,all"),
            ("Custom", "call,all"),
            ("NoClass", None),
            ("Mine", "call,all"),
        ]


async def test_filters() -> None:
    async with serving() as (server, connect):
        client = await connect()
        assert (await client.call("Filter", {"Filter": "Event: Hangup"}))[
            "Message"
        ] == "Unknown operation"
        ok = await client.call("Filter", {"Operation": "Add", "Filter": "Event: Hangup"})
        assert ok.headers == (("Response", "Success"), ("ActionID", "t-3"), ("Message", "Success"))
        await client.call("Filter", {"Operation": "Add", "Filter": "!Channel: PJSIP/666"})
        bad = await client.call("Filter", {"Operation": "Add", "Filter": "Event: ("})
        assert bad["Message"] == "Filter did not compile.  Check the syntax of the filter given."
        empty = await client.call("Filter", {"Operation": "Add", "Filter": ""})
        assert empty["Message"].startswith("Filter was formatted incorrectly.")
        assert server.sessions[0].filters == ["Event: Hangup", "!Channel: PJSIP/666"]
        server.push_event("Newchannel", {"Channel": "PJSIP/100-1"})
        server.push_event("Hangup", {"Channel": "PJSIP/100-1"})
        server.push_event("Hangup", {"Channel": "PJSIP/666-2"})
        server.push_event("Hangup", {"Channel": "PJSIP/101-3"})
        events = await client.quiet()
        assert [m["Channel"] for m in events] == ["PJSIP/100-1", "PJSIP/101-3"]

        other = await connect()
        await other.call(
            "Filter",
            {
                "Operation": "Add",
                "MatchCriteria": "action(exclude),name(VarSet),header(Variable),method(exact)",
                "Filter": "BRIDGEPEER",
            },
        )
        missing_method = await other.call(
            "Filter", {"Operation": "Add", "MatchCriteria": "name(VarSet)", "Filter": "x"}
        )
        assert missing_method.name == "Error"
        server.push_event("VarSet", {"Variable": "BRIDGEPEER", "Value": "x"})
        server.push_event("VarSet", {"Variable": "DIALSTATUS", "Value": "ANSWER"})
        server.push_event("Newexten", {"Variable": "BRIDGEPEER"})
        events = await other.quiet()
        assert [(m.name, m.get("Variable")) for m in events] == [
            ("VarSet", "DIALSTATUS"),
            ("Newexten", "BRIDGEPEER"),
        ]


def test_event_filter_methods() -> None:
    data = "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/100-1\r\nValue: 1\r\n\r\n"
    for method, pattern, expected in [
        ("starts_with", "PJSIP/1", True),
        ("ends_with", "-1", True),
        ("contains", "100", True),
        ("exact", "PJSIP/100-1", True),
        ("exact", "PJSIP/100", False),
        ("regex", r"^PJSIP/\d+-1$", True),
    ]:
        event_filter = EventFilter.parse(pattern, f"name(VarSet),header(Channel),method({method})")
        assert event_filter.matches("VarSet", data) is expected, method
        assert not event_filter.matches("Hangup", data)
    legacy = EventFilter.parse("!Value: [0-9]")
    assert legacy.exclude and legacy.method == "regex" and legacy.matches("VarSet", data)
    anything = EventFilter.parse("", "eventfilter(action(exclude),name(VarSet),method(none))")
    assert anything.exclude and anything.matches("VarSet", data)
    for criteria in [
        "action(maybe)",
        "name()",
        "header()",
        "method(fuzzy)",
        "colour(red)",
        "name(x) junk",
    ]:
        with pytest.raises(FilterError):
            EventFilter.parse("x", criteria)
    with pytest.raises(FilterError):
        EventFilter.parse("", "name(VarSet),method(regex)")
    with pytest.raises(FilterError):
        EventFilter.parse("", "action(include),method(none)")


async def test_command_modern() -> None:
    async with serving() as (server, connect):
        server.commands["show things"] = "one\n\ntwo: looks like a header\n"
        server.commands["silent"] = ""
        client = await connect()
        await client.action("Command", {"Command": "core show version"}, action_id="c1")
        version = await client.response("c1")
        assert [k for k, _ in version.headers] == ["Response", "ActionID", "Message", "Output"]
        assert version["Message"] == "Command output follows"
        assert re.fullmatch(
            r"Asterisk 22\.10\.1 built by \S+ @ \S+ on a \S+ running Linux on .*", version.output[0]
        )
        things = await client.call("Command", {"Command": "  SHOW   things "})
        assert things.output == ["one", "", "two: looks like a header"]
        silent = await client.call("Command", {"Command": "silent"})
        assert silent.get_all("Output") == [""]
        await client.action("Command", {"Command": "this is not a command"}, action_id="c4")
        await client.response("c4")
        assert (
            b"Response: Error\r\nActionID: c4\r\nMessage: Command output follows\r\n"
            b"Output: No such command 'this is not a command' (type 'core show help this is' "
            b"for other possible commands)\r\n\r\n"
        ) in client.raw
        near = await client.call("Command", {"Command": "core show nothing"})
        assert "core show help core show nothing'" in near.output[0]
        assert (await client.call("Command"))["Message"] == "No command provided"
        channels = await client.call("Command", {"Command": "core show channels"})
        assert channels.output == [
            "Channel"
            + " " * 58
            + "Location"
            + " " * 25
            + "State   "
            + "Application(Data)"
            + " " * 13,
            "0 active channels",
            "0 active calls",
            "0 calls processed",
        ]
        uptime = await client.call("Command", {"Command": "core show uptime"})
        assert re.fullmatch(r"System uptime: \d+ seconds?", uptime.output[0])


async def test_command_legacy() -> None:
    async with serving(legacy_command=True) as (server, connect):
        server.commands["two lines"] = "Name: a\n\nlast"
        client = await connect()
        await client.action("Command", {"Command": "two lines"}, action_id="L1")
        response = await client.response("L1")
        assert response.is_legacy_command
        assert response.output == ["Name: a", "", "last"]
        assert (
            b"Response: Follows\r\nPrivilege: Command\r\nActionID: L1\r\nName: a\n\nlast\n"
            b"--END COMMAND--\r\n\r\n"
        ) in client.raw
        await client.action("Command", {"Command": "logger reload"}, action_id=None)
        await client.response(None)
        assert b"Response: Follows\r\nPrivilege: Command\r\n--END COMMAND--\r\n\r\n" in client.raw
        unknown = await client.call("Command", {"Command": "nope"})
        assert unknown.name == "Follows"
        assert unknown.output[0].startswith("No such command 'nope'")
        server.configure(legacy_command=False)
        modern = await client.call("Command", {"Command": "two lines"})
        assert modern.name == "Success" and not modern.is_legacy_command


def test_a_version_that_is_not_ascii_digits_stops_at_them() -> None:
    assert not FakeAMIServer(ami_version="11.²").settings.flavour.command_is_legacy
    assert FakeAMIServer(ami_version="2.²").settings.flavour.command_is_legacy


async def test_empty_coreshowchannels_bytes() -> None:
    async with serving() as (_, connect):
        client = await connect()
        await client.action("CoreShowChannels", action_id="cs")
        await client.until(lambda m: m.name == "CoreShowChannelsComplete")
        assert bytes(client.raw).endswith(
            b"Response: Success\r\nActionID: cs\r\nEventList: start\r\n"
            b"Message: Channels will follow\r\n\r\n"
            b"Event: CoreShowChannelsComplete\r\nActionID: cs\r\nEventList: Complete\r\n"
            b"ListItems: 0\r\n\r\n"
        )


async def test_peer_and_endpoint_lists() -> None:
    async with serving() as (server, connect):
        client = await connect()
        response, items, complete = await client.listing("SIPpeers")
        assert response["Message"] == "Peer status list will follow"
        assert [i["ObjectName"] for i in items] == ["alice", "bob"]
        assert [k for k, _ in items[0].headers][:3] == ["Event", "ActionID", "Channeltype"]
        assert (complete.name, complete["ListItems"]) == ("PeerlistComplete", "2")
        response, items, complete = await client.listing("IAXpeerlist")
        assert response["Message"] == "IAX Peer status list will follow"
        assert items[0]["Channeltype"] == "IAX"
        assert (complete.name, complete["ListItems"]) == ("PeerlistComplete", "1")
        response, items, complete = await client.listing("PJSIPShowEndpoints")
        assert [i.name for i in items] == ["EndpointList"] * 3
        assert [i["ObjectName"] for i in items] == ["100", "101", "102"]
        assert items[0]["DeviceState"] == "Not in use"
        assert (complete.name, complete["ListItems"]) == ("EndpointListComplete", "3")
        server.pbx.pjsip_endpoints = []
        assert (await client.call("PJSIPShowEndpoints"))["Message"] == "No endpoints found"
        server.sip_peers.clear()
        await client.action("SIPpeers", action_id=None)
        await client.until(lambda m: m.name == "PeerlistComplete")
        assert bytes(client.raw).endswith(
            b"Response: Success\r\nEventList: start\r\n"
            b"Message: Peer status list will follow\r\n\r\n"
            b"Event: PeerlistComplete\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
        )


async def test_global_variables() -> None:
    async with serving() as (server, connect):
        client = await connect()
        response = await client.call("Setvar", {"Variable": "G", "Value": "1"})
        assert response.headers == (
            ("Response", "Success"),
            ("ActionID", "t-2"),
            ("Message", "Variable Set"),
        )
        event = await client.event("VarSet")
        assert event.headers == (
            ("Event", "VarSet"),
            ("Privilege", "dialplan,all"),
            ("Channel", "none"),
            ("Uniqueid", "none"),
            ("Variable", "G"),
            ("Value", "1"),
        )
        assert server.pbx.global_vars == {"G": "1"}
        assert (await client.call("Getvar", {"Variable": "G"}))["Value"] == "1"
        assert (await client.call("Getvar", {"Variable": "UNSET"}))["Value"] == ""
        assert (await client.call("Getvar", {}))["Message"] == "No variable specified"
        assert (await client.call("Setvar", {"Value": "x"}))["Message"] == "No variable specified"
        nochan = await client.call("Getvar", {"Channel": "Local/x-00000000;1", "Variable": "X"})
        assert nochan["Message"] == "No such channel"


async def test_config_actions() -> None:
    async with serving() as (server, connect):
        server.configs["tiny.conf"] = {"only": ["a=1", "b = two"]}
        client = await connect()
        config = await client.call("GetConfig", {"Filename": "tiny.conf"})
        assert config.headers[2:] == (
            ("Category-000000", "only"),
            ("Line-000000-000000", "a=1"),
            ("Line-000000-000001", "b = two"),
        )
        subset = await client.call("GetConfig", {"Filename": "extensions.conf", "Category": "test"})
        assert subset["Category-000000"] == "test"
        assert subset["Line-000000-000013"] == "same=n,Hangup()"
        as_json = await client.call("GetConfigJSON", {"Filename": "tiny.conf"})
        assert json.loads(as_json["JSON"]) == {"only": {"a": "1", "b": "two"}}
        manager = json.loads(
            (await client.call("GetConfigJSON", {"Filename": "manager.conf"}))["JSON"]
        )
        assert manager["admin"]["secret"] == "secret"
        categories = await client.call("ListCategories", {"Filename": "extensions.conf"})
        assert [v for k, v in categories.headers if k.startswith("Category-")] == [
            "general", "globals", "default", "test",
        ]  # fmt: skip
        for name in ("GetConfig", "GetConfigJSON", "ListCategories"):
            missing = await client.call(name, {"Filename": "nonexistent.conf"})
            assert missing["Message"] == "Config file not found"
            assert (await client.call(name))["Message"] == "Filename not specified"


async def test_extension_state() -> None:
    simulator = PBXSimulator(seed=1, ring_time=(0.01, 0.02))
    async with serving(simulator=simulator) as (server, connect):
        server.hints["100@test"] = "Custom:test100"
        client = await connect()
        custom = await client.call("ExtensionState", {"Exten": "100", "Context": "test"})
        assert custom.headers[2:] == (
            ("Message", "Extension Status"),
            ("Exten", "100"),
            ("Context", "test"),
            ("Hint", "Custom:test100"),
            ("Status", "0"),
            ("StatusText", "Idle"),
        )
        none = await client.call("ExtensionState", {"Exten": "555"})
        assert (none["Context"], none["Hint"], none["Status"], none["StatusText"]) == (
            "default", "", "-1", "Unknown",
        )  # fmt: skip
        await client.call(
            "Originate", {"Channel": "PJSIP/104", "Application": "Wait", "Data": "60"}
        )
        busy = await client.call("ExtensionState", {"Exten": "104", "Context": "from-internal"})
        assert (busy["Hint"], busy["Status"], busy["StatusText"]) == ("PJSIP/104", "1", "InUse")
        assert (await client.call("ExtensionState"))["Message"] == "Extension not specified"


async def test_userevent_reaches_every_session() -> None:
    async with serving() as (_, connect):
        client = await connect()
        other = await connect()
        await client.action(
            "UserEvent",
            [("UserEvent", "MyEvent"), ("Header1", "value1"), ("Header2", "value 2")],
            action_id="u1",
        )
        await client.response("u1")
        await client.event("UserEvent")
        assert (
            b"Response: Success\r\nActionID: u1\r\nMessage: Event Sent\r\n\r\n"
            b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: MyEvent\r\nActionID: u1\r\n"
            b"Header1: value1\r\nHeader2: value 2\r\n\r\n"
        ) in client.raw
        assert (await other.event("UserEvent"))["Header2"] == "value 2"
