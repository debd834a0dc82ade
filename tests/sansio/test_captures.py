"""Real sessions recorded from Asterisk 22 (AMI 11.0.0) and Asterisk 13 (AMI 2.10.6)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from helpers.splitting import (
    CAPTURES,
    DATA,
    Splitter,
    bytewise,
    drain,
    feed,
    parse,
    random_chunks,
    whole,
)

from trio_ami.sansio import Action, Event, Message, PacketParser, Response
from trio_ami.testing import load_capture

# capture -> (events, responses, of which legacy Command answers)
EXPECTED = {
    "action_before_login": (0, 3, 0),
    "command_output": (2, 8, 0),
    "coreshowchannels": (38, 6, 0),
    "events": (3, 10, 0),
    "getconfig": (2, 7, 0),
    "login_fail": (0, 1, 0),
    "login_md5": (2, 3, 0),
    "login_md5_fail": (0, 2, 0),
    "login_plain": (2, 2, 0),
    "originate_events": (183, 8, 0),
    "ping": (2, 4, 0),
    "setvar_getvar": (3, 7, 0),
    "userevent": (3, 3, 0),
    "asterisk13/command_output": (2, 10, 8),
    "asterisk13/coreshowchannels": (38, 6, 0),
    "asterisk13/getconfig": (2, 7, 0),
    "asterisk13/login_md5": (2, 3, 0),
    "asterisk13/login_plain": (2, 2, 0),
    "asterisk13/originate_events": (182, 8, 0),
    "asterisk13/ping": (2, 4, 0),
    "asterisk13/sippeers": (9, 9, 1),
}


def capture_name(path: Path) -> str:
    return path.relative_to(DATA).as_posix().removesuffix(".raw")


def parse_capture(name: str, split: Splitter | None = None) -> tuple[PacketParser, list[Message]]:
    raw = DATA / f"{name}.raw"
    parser = PacketParser()
    feed(parser, load_capture(raw).reads if split is None else split(raw.read_bytes()), eof=True)
    messages = drain(parser)
    assert parser.at_eof
    return parser, messages


def test_every_capture_is_listed() -> None:
    assert sorted(capture_name(path) for path in CAPTURES) == sorted(EXPECTED)


def test_transcripts_hold_every_byte() -> None:
    for raw in CAPTURES:
        reads = load_capture(raw).reads
        assert len(reads) > 1
        assert b"".join(reads) == raw.read_bytes()


@pytest.mark.parametrize(
    "split",
    [None, whole, bytewise, random_chunks(3, 64), random_chunks(4, 700)],
    ids=["recorded", "whole", "bytewise", "random64", "random700"],
)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capture_parses_completely(name: str, split: Splitter | None) -> None:
    parser, messages = parse_capture(name, split)
    assert parser.banner is not None
    assert parser.banner.product == "Asterisk Call Manager"
    assert parser.banner.version == ("2.10.6" if name.startswith("asterisk13/") else "11.0.0")
    assert parser.buffered_bytes == 0
    kinds = Counter(type(m) for m in messages)
    legacy = sum(isinstance(m, Response) and m.is_legacy_command for m in messages)
    assert (kinds[Event], kinds[Response], legacy) == EXPECTED[name]
    assert len(messages) == kinds[Event] + kinds[Response]
    # every message survives to_bytes and a second parse
    assert parse(b"".join(m.to_bytes() for m in messages)) == messages
    if split is None:
        assert messages == parse_capture(name, whole)[1]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_lists_are_complete(name: str) -> None:
    _, messages = parse_capture(name)
    checked = 0
    for start, message in enumerate(messages):
        if not (isinstance(message, Response) and message.get("EventList", "").lower() == "start"):
            continue
        end = next(
            i
            for i, m in enumerate(messages[start + 1 :], start + 1)
            if isinstance(m, Event)
            and m.get("EventList") == "Complete"
            and m.action_id == message.action_id
        )
        complete = messages[end]
        assert complete.name.endswith("Complete")
        items = [m for m in messages[start + 1 : end] if m.action_id == message.action_id]
        assert all(isinstance(m, Event) for m in items)
        assert int(complete["ListItems"]) == len(items)
        checked += 1
    lists = {"coreshowchannels": 3, "asterisk13/coreshowchannels": 3, "asterisk13/sippeers": 3}
    assert checked == lists.get(name, 0)


def test_action_ids_match_what_was_sent() -> None:
    for raw in CAPTURES:
        sent = parse(raw.with_suffix(".sent").read_bytes())
        assert all(type(m) is Message and m.headers[0][0] == "Action" for m in sent)
        sent_ids = {m.action_id for m in sent} - {None}
        _, received = parse_capture(capture_name(raw))
        answered = {m.action_id for m in received if isinstance(m, Response)} - {None}
        assert answered <= sent_ids
        assert answered  # every session got at least one answer to a tagged action


def test_sent_actions_serialize_identically() -> None:
    for raw in CAPTURES:
        data = raw.with_suffix(".sent").read_bytes()
        actions = [Action(m["Action"], m.headers[1:]) for m in parse(data)]
        assert b"".join(action.to_bytes() for action in actions) == data


def legacy_answers(name: str) -> dict[str, Response]:
    _, messages = parse_capture(name)
    return {m.action_id: m for m in messages if isinstance(m, Response) and m.is_legacy_command}  # type: ignore[misc]


def test_legacy_command_output_lines() -> None:
    answers = legacy_answers("asterisk13/command_output")
    assert answers["command_output-2"].output == [
        "Asterisk 13.38.3 built by root @ vm on a x86_64 running Linux on 2026-11-26 05:58:47 UTC"
    ]
    assert answers["command_output-4"].output == [
        "System uptime: 16 seconds",
        "Last reload: 16 seconds",
    ]
    user = answers["command_output-5"].output  # starts with "\n", lines look like headers
    assert user[:3] == ["", "          username: reader", "            secret: <Set>"]
    assert user[-1] == "  1: allow - 127.0.0.1/255.255.255.255"
    dialplan = answers["command_output-3"].output  # holds a blank line
    assert dialplan[-2:] == ["", "-= 4 extensions (14 priorities) in 1 context. =-"]
    assert answers["command_output-8"].output == []  # logger reload prints nothing
    assert answers["command_output-6"].name == "Follows"  # even for an unknown command
    assert answers["command_output-6"].output == [
        "No such command 'this is not a command' (type 'core show help this is' for other "
        "possible commands)"
    ]
    for answer in answers.values():
        assert answer.headers[:2] == (("Response", "Follows"), ("Privilege", "Command"))


def test_legacy_output_matches_the_raw_bytes() -> None:
    raw = (DATA / "asterisk13/command_output.raw").read_bytes()
    answers = legacy_answers("asterisk13/command_output")
    for action_id, answer in answers.items():
        head = b"ActionID: " + action_id.encode() + b"\r\n"
        body = raw[raw.index(head) + len(head) :]
        body = body[: body.index(b"--END COMMAND--")]
        assert "".join(line + "\n" for line in answer.output).encode() == body


def test_same_command_output_in_both_formats() -> None:
    _, modern = parse_capture("command_output")
    modern_answers = {m.action_id: m for m in modern if isinstance(m, Response)}
    legacy = legacy_answers("asterisk13/command_output")
    for action_id in ["command_output-5", "command_output-6"]:
        assert not modern_answers[action_id].is_legacy_command
        assert modern_answers[action_id].output == legacy[action_id].output
    assert modern_answers["command_output-6"].is_error
    assert not legacy["command_output-6"].is_error


def test_stray_line_from_chan_sip() -> None:
    raw = (DATA / "asterisk13/sippeers.raw").read_bytes()
    assert b"not found.\r\n\r\n\r\n" in raw
    _, messages = parse_capture("asterisk13/sippeers")
    [error] = [m for m in messages if m.action_id == "sippeers-5"]
    assert error.headers == (
        ("Response", "Error"),
        ("ActionID", "sippeers-5"),
        ("Message", "Peer nosuchpeer not found."),
    )
    after = messages[messages.index(error) + 1]
    assert (after.name, after.action_id) == ("Success", "sippeers-6")


def test_concrete_values() -> None:
    [failed] = parse_capture("login_fail")[1]
    assert failed.name == "Error"
    assert failed["message"] == "Authentication failed"
    _, userevent = parse_capture("userevent")
    [user] = [m for m in userevent if m.name == "UserEvent"]
    assert (user["UserEvent"], user.action_id, user["Header2"]) == (
        "MyEvent",
        "userevent-2",
        "value 2",
    )
    _, getvar = parse_capture("setvar_getvar")
    [unset] = [m for m in getvar if m.action_id == "setvar_getvar-4"]
    assert (unset["Variable"], unset["Value"]) == ("UNSETVAR_XYZ", "")
    _, originate = parse_capture("originate_events")
    outcomes = [m for m in originate if m.name == "OriginateResponse"]
    assert outcomes
    assert all(isinstance(m, Event) and m["Response"] in {"Success", "Failure"} for m in outcomes)
    assert all(m.action_id is not None for m in outcomes)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_action_ids_are_read_correctly(name: str) -> None:
    # the fast lookup path must agree with the raw text
    raw = (DATA / f"{name}.raw").read_text("utf-8", "surrogateescape")
    in_text = re.findall(r"^ActionID: (.*?)\r?$", raw, flags=re.M)
    _, messages = parse_capture(name)
    found = [m.action_id for m in messages if m.action_id is not None]
    assert in_text
    assert Counter(found) == Counter(in_text)
