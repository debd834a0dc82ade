"""Message, Event, Response: header access, the Mapping protocol, repr, equality, to_bytes."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Mapping

import pytest
from helpers.splitting import parse

from trio_ami.sansio import Banner, Event, Message, PacketParser, Response, message_from_text
from trio_ami.sansio._messages import ascii_int

TEXT = (
    "Event: Newchannel\n"
    "Privilege: call,all\n"
    "Channel: PJSIP/100-0000001a\n"
    "CallerIDName: Alice  Smith \n"
    "ChanVariable: a=1\n"
    "Exten:\n"
    "ChanVariable: B=Two\n"
    "chanvariable: c=3\n"
    "Message: x: y\n"
    "Uniqueid:1700000000.1\n"
    "ActionID: 42\n"
    "naked line\n"
    "Context: "
)

# Ways to warm a message's lazy views before a lookup: results must not depend on them.
WARMUPS: dict[str, Callable[[Message], object]] = {
    "cold": lambda m: None,
    "headers": lambda m: m.headers,
    "get_all": lambda m: m.get_all("nothing"),
    "len": len,
    "lookup": lambda m: m.get("Zzz"),
}


@pytest.fixture(params=list(WARMUPS))
def event(request: pytest.FixtureRequest) -> Event:
    event = Event(TEXT)
    WARMUPS[request.param](event)
    return event


def test_headers_in_order() -> None:
    assert Event(TEXT).headers == (
        ("Event", "Newchannel"),
        ("Privilege", "call,all"),
        ("Channel", "PJSIP/100-0000001a"),
        ("CallerIDName", "Alice  Smith "),
        ("ChanVariable", "a=1"),
        ("Exten", ""),
        ("ChanVariable", "B=Two"),
        ("chanvariable", "c=3"),
        ("Message", "x: y"),
        ("Uniqueid", "1700000000.1"),
        ("ActionID", "42"),
        ("", "naked line"),
        ("Context", ""),
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Event", "Newchannel"),
        ("event", "Newchannel"),
        ("CHANNEL", "PJSIP/100-0000001a"),
        ("callerIDname", "Alice  Smith "),
        ("ChanVariable", "a=1"),
        ("exten", ""),
        ("MESSAGE", "x: y"),
        ("uniqueid", "1700000000.1"),
        ("ActionId", "42"),
        ("", "naked line"),
        ("Context", ""),
    ],
)
def test_lookup_is_case_insensitive(event: Event, key: str, value: str) -> None:
    assert event[key] == value
    assert event.get(key) == value
    assert event.get(key, "default") == value
    assert key in event


@pytest.mark.parametrize("key", ["Missing", "Chan", "Variable", "ChanVariable:", "naked", "a=1"])
def test_missing_keys(event: Event, key: str) -> None:
    with pytest.raises(KeyError):
        event[key]
    assert event.get(key) is None
    assert event.get(key, "default") == "default"
    assert key not in event


def test_non_string_keys_are_not_contained(event: Event) -> None:
    assert 42 not in event  # type: ignore[comparison-overlap]
    assert None not in event


def test_get_all(event: Event) -> None:
    assert event.get_all("chanVARIABLE") == ["a=1", "B=Two", "c=3"]
    assert event.get_all("Channel") == ["PJSIP/100-0000001a"]
    assert event.get_all("Nope") == []
    event.get_all("ChanVariable").append("mutated")
    assert event.get_all("ChanVariable") == ["a=1", "B=Two", "c=3"]


def test_mapping_protocol(event: Event) -> None:
    assert isinstance(event, Mapping)
    keys = ["Event", "Privilege", "Channel", "CallerIDName", "ChanVariable", "Exten"]
    keys += ["Message", "Uniqueid", "ActionID", "", "Context"]
    assert list(event) == keys  # distinct keys, spelled as first received
    assert len(event) == len(keys)
    assert list(event.keys()) == keys
    assert dict(event)["ChanVariable"] == "a=1"
    assert dict(event.items())["CallerIDName"] == "Alice  Smith "
    assert list(event.values())[:2] == ["Newchannel", "call,all"]


def test_name_and_action_id() -> None:
    assert Event("Event: Hangup\nActionID: x").name == "Hangup"
    assert Event("Event: Hangup").action_id is None
    assert Event("Privilege: call\nEvent: Late").name == "Late"
    assert Event("event:lower\nX: 1").name == "lower"
    assert Event("X: 1").name == ""
    assert Response("Response: Success\nActionID: ab-1: 2").action_id == "ab-1: 2"
    assert Response("ActionID: 7\nResponse: Error").name == "Error"
    assert Message("Action: Ping\nActionID: p").name == ""
    assert Message("Action: Ping\nActionID: p").action_id == "p"


@pytest.mark.parametrize(
    ("text", "is_error"),
    [("Response: Error", True), ("Response: error", True), ("Response: Success", False)],
)
def test_is_error(text: str, is_error: bool) -> None:
    assert Response(text).is_error is is_error


def test_modern_command_output() -> None:
    response = Response("Response: Success\nMessage: Command output follows\nOutput: a\nOutput: ")
    assert response.output == ["a", ""]
    assert not response.is_legacy_command
    assert Response("Response: Success").output == []


def test_legacy_command_output() -> None:
    response = Response("Response: Follows\nPrivilege: Command", ("line 1", "", "x: y"))
    assert response.is_legacy_command
    assert response.output == ["line 1", "", "x: y"]
    response.output.append("mutated")
    assert response.output == ["line 1", "", "x: y"]
    assert response.get_all("Output") == []
    assert Response("Response: Follows\nPrivilege: Command", ()).output == []


def test_non_ascii_lookup() -> None:
    message = Event("Event: Newchannel\nCallerIDName: Zoë\nÄrger: grün\nStraße: 1")
    assert message["calleridname"] == "Zoë"
    assert message["ärger"] == "grün"
    assert message["ÄRGER"] == "grün"
    assert message["Straße"] == "1"
    assert message.get("Missing") is None
    assert list(message) == ["Event", "CallerIDName", "Ärger", "Straße"]


@pytest.mark.parametrize("text", ["Event: A\nName: İstanbul\nK: v", "Event: A\nİ: 1\nK: v"])
def test_lookup_when_lowercasing_changes_lengths(text: str) -> None:
    message = Event(text)  # "İ".lower() is two characters
    assert message["k"] == "v"
    assert message.get("Missing") is None
    assert message["EVENT"] == "A"


def test_many_distinct_lookups() -> None:
    message = Event("Event: A\nK7: seven\nk1500: last")
    for i in range(3000):
        assert message.get(f"K{i}") == {7: "seven", 1500: "last"}.get(i)
    assert message["k7"] == "seven"


def test_surrogate_escaped_values() -> None:
    message = Event("Event: A\nName: Jos\udce9")
    assert message["name"].encode("utf-8", "surrogateescape") == b"Jos\xe9"
    assert message.to_bytes() == b"Event: A\r\nName: Jos\xe9\r\n\r\n"


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("K:1\nK: 2", "k", "1"),  # the first occurrence has no space after the colon
        ("K:  two spaces", "K", " two spaces"),
        ("a:b: v", "a:b", "v"),
        ("K:: v", "K:", "v"),
        ("Key : v", "Key ", "v"),
        ("K: v\nbare", "", "bare"),
        ("A: 1\nK: last", "K", "last"),
        ("A: 1\nK:", "k", ""),
    ],
)
def test_lookup_edge_cases(text: str, key: str, value: str) -> None:
    for warm in WARMUPS.values():
        message = Message(text)
        warm(message)
        assert message[key] == value


@pytest.mark.parametrize("key", ["K\nA", "Key", "K:x"])
def test_lookup_misses(key: str) -> None:
    message = Message("K\nA: 1\nKey : 2\nK: x")
    assert message.get(key) is None


def test_from_headers() -> None:
    pairs = [("Event", "VarSet"), ("Variable", "a"), ("Value", ""), ("Variable", "b: c")]
    event = Event.from_headers(pairs)
    assert type(event) is Event
    assert event.headers == tuple(pairs)
    assert event.to_bytes() == b"Event: VarSet\r\nVariable: a\r\nValue: \r\nVariable: b: c\r\n\r\n"
    mapped = Response.from_headers({"Response": "Success", "ActionID": "1"})
    assert type(mapped) is Response
    assert mapped.headers == (("Response", "Success"), ("ActionID", "1"))
    assert mapped == Response("Response: Success\nActionID: 1")


@pytest.mark.parametrize(
    "pair", [("K", "a\r\nAction: Logoff"), ("K", "a\nb"), ("K", "a\r"), ("K\n", "v"), ("K\r", "v")]
)
def test_from_headers_refuses_line_breaks(pair: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="line break"):
        Message.from_headers([("Event", "A"), pair])


def test_repr() -> None:
    assert repr(Event("Event: Hangup\nCause: 16\nK:\nbare")) == (
        "Event(Event='Hangup', Cause='16', K='', ='bare')"
    )
    assert repr(Message("Action: Ping")) == "Message(Action='Ping')"
    assert repr(Response("Response: Success\nActionID: 1")) == (
        "Response(Response='Success', ActionID='1')"
    )
    legacy = Response("Response: Follows\nPrivilege: Command", ("a", "b: c"))
    assert repr(legacy) == "Response(Response='Follows', Privilege='Command', output=['a', 'b: c'])"


def test_equality_and_hash() -> None:
    assert Event("Event: A\nX: 1") == Event("Event: A\nX: 1")
    assert hash(Event("Event: A\nX: 1")) == hash(Event("Event: A\nX: 1"))
    assert Event("Event: A\nX: 1") != Event("Event: A\nX: 2")
    assert Event("Event: A") != Message("Event: A")
    # lazily built views take no part in equality
    warm = Event("Event: A\nX: 1")
    assert warm["x"] == "1"
    assert warm.headers
    assert warm == Event("Event: A\nX: 1")
    head = "Response: Follows\nPrivilege: Command"
    assert Response(head, ("a",)) == Response(head, ("a",))
    assert Response(head, ("a",)) != Response(head, ("b",))
    assert Response(head, ()) != Response(head)
    assert len({Event("Event: A"), Event("Event: A"), Event("Event: B")}) == 2


def test_messages_are_immutable() -> None:
    event = Event("Event: A")
    with pytest.raises(AttributeError):
        event._raw = b"Event: B"  # type: ignore[misc]  # noqa: SLF001 - its packet stays as read
    with pytest.raises(TypeError):
        event["Event"] = "B"  # type: ignore[index]


@pytest.mark.parametrize(
    "message",
    [
        Event(TEXT),
        Response("Response: Success\nActionID: 1\nMessage: Pong"),
        Message("Action: Login\nUsername: admin"),
        Response("Response: Follows\nPrivilege: Command\nActionID: 9", ("", "a", "", "b: c")),
        Response("Response: Follows\nPrivilege: Command", ()),
    ],
    ids=["event", "response", "message", "legacy", "legacy-empty"],
)
def test_to_bytes_round_trip(message: Message) -> None:
    data = message.to_bytes()
    assert data.endswith(b"\r\n\r\n")
    assert parse(data) == [message]


def test_to_bytes_exact() -> None:
    assert Event("Event: A\nK:\nbare").to_bytes() == b"Event: A\r\nK:\r\nbare\r\n\r\n"
    legacy = Response("Response: Follows\nPrivilege: Command\nActionID: 1", ("a", "", "b"))
    assert legacy.to_bytes() == (
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: 1\r\na\n\nb\n--END COMMAND--\r\n\r\n"
    )
    assert Event("Event: A\nName: José").to_bytes("latin-1") == b"Event: A\r\nName: Jos\xe9\r\n\r\n"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Event: Hangup\nX: 1", Event),
        ("Response: Success", Response),
        ("event:lower", Event),
        ("EVENT : spaced", Event),
        ("RESPONSE: Error\nMessage: m", Response),
        ("Action: Ping", Message),
        ("Eventual: no", Message),
        ("ActionID: 1\nEvent: second", Message),
        ("", Message),
    ],
)
def test_message_from_text(text: str, kind: type[Message]) -> None:
    message = message_from_text(text)
    assert type(message) is kind
    assert message == kind(text)


# -- encodings, names and pickling --------------------------------------------------------------
def test_messages_of_another_encoding_decode_with_it() -> None:
    parser = PacketParser(expect_banner=False, encoding="cp1252")
    parser.receive_data(b"Event: Caf\xe9\r\nCallerIDName: Jos\xe9\r\n\r\n")
    message = parser.next_message()
    assert isinstance(message, Event)
    assert message.encoding == "cp1252"
    assert message.name == "Café"
    assert message["CallerIDName"] == "José"
    assert message.to_bytes() == b"Event: Caf\xe9\r\nCallerIDName: Jos\xe9\r\n\r\n"
    assert message.to_bytes("utf-8") == "Event: Café\r\nCallerIDName: José\r\n\r\n".encode()
    # the same variant class is reused for the same encoding
    parser.receive_data(b"Event: B\r\n\r\n")
    assert type(parser.next_message()) is type(message)


def test_utf8_names_that_are_not_ascii() -> None:
    parser = PacketParser(expect_banner=False)
    parser.receive_data("Event: Zoë\r\n\r\nResponse: Ça va\r\n\r\n".encode())
    event, response = parser.take_messages()
    assert (event.name, response.name) == ("Zoë", "Ça va")
    assert event.encoding == "utf-8"


def test_an_encoding_that_is_not_ascii_compatible_is_refused() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        PacketParser(encoding="utf-16")


def test_a_plain_message_has_no_name() -> None:
    assert Message("Action: Ping").name == ""
    assert Message(b"Action: Ping\r\nActionID: 1").action_id == "1"


@pytest.mark.parametrize(
    "message",
    [
        Event("Event: Hangup\nChannel: PJSIP/1"),
        Response("Response: Follows\nPrivilege: Command", ("a", "b: c")),
        Message("Action: Ping"),
    ],
)
def test_messages_pickle_and_copy(message: Message) -> None:
    assert message.headers  # fill a lazy view first: it must not travel
    for copied in (pickle.loads(pickle.dumps(message)), copy.copy(message), copy.deepcopy(message)):
        assert copied == message
        assert type(copied) is type(message)
        assert copied.headers == message.headers


def test_pickled_message_keeps_its_encoding() -> None:
    parser = PacketParser(expect_banner=False, encoding="latin-1")
    parser.receive_data(b"Event: A\r\nName: \xe9\r\n\r\n")
    message = parser.next_message()
    assert message is not None
    copied = pickle.loads(pickle.dumps(message))
    assert copied["Name"] == "é" and copied.encoding == "latin-1"


def test_header_lines_repeated_across_many_messages_stay_right() -> None:
    # More distinct lines than the memo holds, then lines seen before: always the same pairs.
    parser = PacketParser(expect_banner=False)
    data = b"".join(b"Event: E\r\nN: %d\r\nK: same\r\n\r\n" % i for i in range(6000))
    parser.receive_data(data)
    messages = parser.take_messages()
    assert [m.headers for m in messages] == [
        (("Event", "E"), ("N", str(i)), ("K", "same")) for i in range(6000)
    ]


def test_from_headers_refuses_a_key_it_could_not_send() -> None:
    with pytest.raises(ValueError, match="would be split"):
        Event.from_headers([("Event", "A"), ("Bad: key", "x")])
    assert Event.from_headers([("Event", "A"), ("Odd:key", "x")])["Odd:key"] == "x"


def test_raw_is_the_packet_with_wire_line_ends() -> None:
    assert Event("Event: A\nB: c").raw == b"Event: A\r\nB: c"


def test_long_header_lines_are_split_right_but_not_memorised() -> None:
    from trio_ami.sansio import _fastpath

    long_value = "x" * 1000
    parser = PacketParser(expect_banner=False)
    parser.receive_data(f"Event: E\r\nLong: {long_value}\r\n\r\n".encode())
    message = parser.next_message()
    assert message is not None
    assert message.headers == (("Event", "E"), ("Long", long_value))
    # The memo is module state by design (shared by every parser); its bound is what is tested.
    memo = _fastpath.LINES
    assert f"Long: {long_value}" not in memo
    assert "Event: E" in memo


def test_names_are_right_however_often_they_are_read() -> None:
    from trio_ami.sansio import _fastpath

    parser = PacketParser(expect_banner=False)
    long_name = "N" * 200
    data = b"".join(
        f"Event: {name}\r\nK: v\r\n\r\n".encode() for name in ["Hangup", long_name, "Hangup"]
    )
    parser.receive_data(data + b"Event: Hangupx\r\n\r\nResponse: Success\r\n\r\n")
    messages = parser.take_messages()
    for _ in range(2):  # the second reading comes from the memo
        assert [m.name for m in messages] == ["Hangup", long_name, "Hangup", "Hangupx", "Success"]
    memo = _fastpath.NAMES  # module state by design; its bound is tested
    assert b"Event: " + long_name.encode() + b"\r\n" not in memo
    assert b"Event: Hangup\r\n" in memo
    assert Event("Privilege: call\nEvent: Late").name == "Late"  # not the first line


# -- numbers read from the wire -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("version", "info"),
    [
        ("11.²", (11,)),  # isdigit() is true for "²", int() refuses it
        ("11.0.²", (11, 0)),
        ("²", ()),
        ("٣.1", ()),  # int() reads Arabic-Indic digits: no peer means them as a version
        ("11.0.0", (11, 0, 0)),
        ("11. 1", (11,)),
        ("11.+1", (11,)),
        (f"11.{'9' * 5000}", (11,)),  # int() refuses more than 4300 digits
    ],
)
def test_banner_version_info_reads_ascii_digits_only(version: str, info: tuple[int, ...]) -> None:
    banner = Banner(text=f"Asterisk Call Manager/{version}", product="x", version=version)
    assert banner.version_info == info


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("0", 0),
        ("42", 42),
        ("007", 7),
        ("9" * 64, int("9" * 64)),
        ("9" * 65, None),
        ("", None),
        ("²", None),
        ("1²", None),
        ("٣", None),
        ("\uff11", None),  # fullwidth digit one
        (" 3", None),
        ("3 ", None),
        ("+3", None),
        ("-3", None),
        ("3.0", None),
        ("1_000", None),
    ],
)
def test_ascii_int(text: str, number: int | None) -> None:
    assert ascii_int(text) == number
