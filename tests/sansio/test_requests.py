"""The typed helpers of the core: the action each builds, and how each reads its result."""

from __future__ import annotations

from typing import Any

import pytest

from trio_ami.sansio import (
    Action,
    ActionFailed,
    ActionResult,
    ClientProtocol,
    Event,
    Response,
    event_mask,
    requests,
)


def result(
    request: requests.Request[Any],
    *headers: tuple[str, str],
    events: tuple[Event, ...] = (),
    outcome: Event | None = None,
) -> ActionResult:
    """A result to ``request`` whose response carries ``headers``."""
    text = "\n".join(f"{key}: {value}" for key, value in [("Response", "Success"), *headers])
    return ActionResult(request.action, Response(text), events=events, outcome=outcome)


def test_originate_to_an_extension_waiting_for_the_outcome() -> None:
    request = requests.originate(
        "PJSIP/100",
        context="internal",
        exten="200",
        priority=1,
        ring_timeout=20,
        caller_id="Sales <100>",
        variables={"A": "1", "B": "2"},
        codecs=["ulaw", "alaw"],
        early_media=True,
        wait=True,
        extra={"Account": "acme"},
    )
    action = request.action
    assert action.name == "Originate"
    assert action.get("Timeout") == "20000"
    assert action.get("Async") == "true"
    assert action.get("Codecs") == "ulaw,alaw"
    assert action.get("EarlyMedia") == "true"
    assert action.get("Account") == "acme"
    assert [value for key, value in action.headers if key == "Variable"] == ["A=1", "B=2"]
    assert request.outcome_event == "OriginateResponse"
    assert request.extra_time == 20
    outcome = Event("Event: OriginateResponse\nResponse: Success\nUniqueid: 1.2")
    done = result(request, outcome=outcome)
    assert request.read(done).outcome == outcome


def test_originate_without_waiting_and_its_default_ring_time() -> None:
    request = requests.originate("PJSIP/100", application="Playback", data="hello")
    assert request.action.get("Async") is None and request.action.get("Timeout") is None
    assert request.outcome_event is None and request.extra_time == 0
    waited = requests.originate("PJSIP/100", application="Playback", data="x", wait=True)
    assert waited.extra_time == requests.ASTERISK_RING_TIMEOUT
    with pytest.raises(ValueError, match="either exten"):
        requests.originate("PJSIP/100")
    with pytest.raises(ValueError, match="either exten"):
        requests.originate("PJSIP/100", exten="1", application="Playback")


def test_a_failed_result_raises_unless_unchecked() -> None:
    request = requests.redirect("PJSIP/1", "internal", "100")
    failed = ActionResult(
        action=request.action, response=Response("Response: Error\nMessage: No such channel")
    )
    with pytest.raises(ActionFailed, match="No such channel") as caught:
        request.read(failed)
    assert caught.value.result is failed
    assert request.read(failed, check=False).name == "Error"


def test_each_helper_builds_its_action() -> None:
    built: dict[str, requests.Request[Any]] = {
        "Ping": requests.ping(),
        "Command": requests.command("core show uptime"),
        "Redirect": requests.redirect("PJSIP/1", "internal", "100", extra_channel="PJSIP/2"),
        "Setvar": requests.set_var("X", "1", channel="PJSIP/1"),
        "Getvar": requests.get_var("X"),
        "Status": requests.status(),
        "CoreShowChannels": requests.core_show_channels(),
        "SIPpeers": requests.sip_peers(),
        "IAXpeerlist": requests.iax_peers(),
        "PJSIPShowEndpoints": requests.pjsip_endpoints(),
        "GetConfig": requests.get_config("sip.conf", category="general"),
        "GetConfigJSON": requests.get_config_json("sip.conf"),
        "ExtensionState": requests.extension_state("100", "hints"),
        "UserEvent": requests.user_event("Wallboard", [("Queue", "sales")]),
        "Events": requests.events(["call", "system"]),
        "Filter": requests.filter("!Event: Newexten"),
    }
    assert {name: request.action.name for name, request in built.items()} == {
        name: name for name in built
    }
    assert built["Redirect"].action.get("Priority") == "1"
    assert built["Redirect"].action.get("ExtraChannel") == "PJSIP/2"
    assert built["Getvar"].action.get("Channel") is None  # a global variable
    assert built["UserEvent"].action.headers == (("UserEvent", "Wallboard"), ("Queue", "sales"))
    assert requests.user_event("Wallboard").action.headers == (("UserEvent", "Wallboard"),)
    assert built["Events"].action.get("EventMask") == "call,system"
    assert built["Filter"].action.get("Operation") == "Add"


def test_each_helper_reads_its_result() -> None:
    assert requests.ping().read(result(requests.ping(), ("Ping", "Pong")))["Ping"] == "Pong"
    get_var = requests.get_var("X")
    assert get_var.read(result(get_var, ("Variable", "X"), ("Value", "42"))) == "42"
    assert get_var.read(result(get_var)) == ""
    set_var = requests.set_var("X", "1")
    assert set_var.read(result(set_var)) is None
    listing = requests.core_show_channels()
    channel = Event("Event: CoreShowChannel\nChannel: PJSIP/1")
    assert listing.read(result(listing, events=(channel,))) == [channel]
    as_json = requests.get_config_json("sip.conf")
    assert as_json.read(result(as_json, ("JSON", '{"general": {"a": "1"}}'))) == {
        "general": {"a": "1"}
    }
    assert as_json.read(result(as_json)) == {}


def test_get_config_groups_lines_by_category() -> None:
    response = Response(
        "Response: Success\n"
        "Category-000000: general\nLine-000000-000000: context=default\n"
        "Line-000000-000001: allowguest=no\n"
        "Category-000001: 100\nLine-000001-000000: type=friend\n"
        "Line-000009-000000: orphan=1"
    )
    assert requests.parse_config(response) == {
        "general": ["context=default", "allowguest=no"],
        "100": ["type=friend"],
    }


@pytest.mark.parametrize(
    ("mask", "text"),
    [
        (True, "on"),
        (False, "off"),
        ("call,system", "call,system"),
        (["call", "agent"], "call,agent"),
    ],
)
def test_the_event_mask_is_written_once_for_login_and_events(
    mask: bool | str | list[str], text: str
) -> None:
    assert event_mask(mask) == text
    assert requests.events(mask).action.get("EventMask") == text
    protocol = ClientProtocol()
    protocol.receive_data(b"Asterisk Call Manager/11.0.0\r\n")
    login = protocol.login("admin", "pw", auth="plain", events=mask).decode()
    assert f"Events: {text}\r\n" in login


def test_a_request_registers_its_action_with_the_protocol() -> None:
    protocol = ClientProtocol(action_id_prefix="t")
    protocol.receive_data(b"Asterisk Call Manager/11.0.0\r\n")
    request = requests.originate("PJSIP/1", application="Playback", data="x", wait=True)
    action_id, data = request.send(protocol)
    assert action_id == "t-1"
    assert data.startswith(b"Action: Originate\r\nActionID: t-1\r\n")
    assert isinstance(request.action, Action)
