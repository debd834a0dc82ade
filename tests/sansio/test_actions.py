"""Action and serialize_headers: exact bytes, normalisation and refusals."""

from __future__ import annotations

import attrs
import pytest
from helpers.secrets import assert_no_secret
from helpers.splitting import parse

from trio_ami.sansio import (
    MAX_HEADERS,
    MAX_LINE_BYTES,
    Action,
    InvalidActionError,
    LocalProtocolError,
    serialize_headers,
)


def test_limits_match_asterisk() -> None:
    assert (MAX_HEADERS, MAX_LINE_BYTES) == (128, 1024)


def test_bare_action() -> None:
    assert Action("Ping").to_bytes() == b"Action: Ping\r\n\r\n"
    assert Action("Ping", action_id="p-1").to_bytes() == b"Action: Ping\r\nActionID: p-1\r\n\r\n"


def test_mapping_headers() -> None:
    action = Action(
        "Originate",
        {
            "Channel": "Local/100@test",
            "Variable": ["A=1", "B=2"],
            "Async": True,
            "EarlyMedia": False,
            "Timeout": 30000,
            "CallerID": None,
            "Data": "",
        },
        action_id="o-1",
    )
    assert action.to_bytes() == (
        b"Action: Originate\r\nActionID: o-1\r\nChannel: Local/100@test\r\n"
        b"Variable: A=1\r\nVariable: B=2\r\nAsync: true\r\nEarlyMedia: false\r\n"
        b"Timeout: 30000\r\nData: \r\n\r\n"
    )


def test_pair_headers_keep_order_and_repeats() -> None:
    pairs = [("Variable", "x=1"), ("Channel", "PJSIP/1"), ("Variable", ("y=2", True, 3))]
    action = Action("Setvar", pairs)
    assert action.headers == (
        ("Variable", "x=1"),
        ("Channel", "PJSIP/1"),
        ("Variable", "y=2"),
        ("Variable", "true"),
        ("Variable", "3"),
    )
    assert action == Action("Setvar", iter(pairs))
    assert Action("A", {"K": 1}) == Action("A", [("K", "1")])
    assert Action("A", [("K", [])]).headers == ()


@pytest.mark.parametrize(
    ("headers", "action_id"),
    [
        ([("ActionID", "abc")], None),
        ([("actionid", "abc")], None),
        ([("ActionID", "abc"), ("ActionID", "abc")], None),
        ([("ActionID", "abc")], "abc"),
        ([("ActionID", None)], "abc"),
    ],
)
def test_action_id_header_becomes_action_id(
    headers: list[tuple[str, str | None]], action_id: str | None
) -> None:
    action = Action("Ping", [("Before", "1"), *headers, ("After", "2")], action_id=action_id)
    assert action.action_id == "abc"
    assert action.headers == (("Before", "1"), ("After", "2"))
    assert action.to_bytes() == b"Action: Ping\r\nActionID: abc\r\nBefore: 1\r\nAfter: 2\r\n\r\n"


@pytest.mark.parametrize(
    ("headers", "action_id"),
    [({"ActionID": "a"}, "b"), ([("ActionID", "a"), ("actionid", "b")], None)],
)
def test_conflicting_action_ids(headers: dict[str, str], action_id: str | None) -> None:
    with pytest.raises(InvalidActionError, match="ActionID"):
        Action("Ping", headers, action_id=action_id)


@pytest.mark.parametrize("key", ["Action", "ACTION"])
def test_action_header_is_refused(key: str) -> None:
    with pytest.raises(InvalidActionError):
        Action("Ping", {key: "Logoff"})


def test_get_lines_and_with_action_id() -> None:
    action = Action("Getvar", [("Channel", "PJSIP/1"), ("Variable", "A"), ("variable", "B")])
    assert action.get("VARIABLE") == "A"
    assert action.get("Missing") is None
    assert action.get("Missing", "x") == "x"
    assert action.get("ActionID") is None
    tagged = action.with_action_id("t-9")
    assert tagged.action_id == "t-9"
    assert action.action_id is None
    assert tagged.headers == action.headers
    assert tagged.lines() == [
        ("Action", "Getvar"),
        ("ActionID", "t-9"),
        ("Channel", "PJSIP/1"),
        ("Variable", "A"),
        ("variable", "B"),
    ]
    assert action.lines()[:2] == [("Action", "Getvar"), ("Channel", "PJSIP/1")]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        action.name = "Other"  # type: ignore[misc]


def test_encoding() -> None:
    action = Action("UserEvent", {"UserEvent": "Zoë", "Raw": "Jos\udce9"})
    assert action.to_bytes() == (
        b"Action: UserEvent\r\nUserEvent: Zo\xc3\xab\r\nRaw: Jos\xe9\r\n\r\n"
    )
    assert Action("UserEvent", {"UserEvent": "Zoë"}).to_bytes("latin-1") == (
        b"Action: UserEvent\r\nUserEvent: Zo\xeb\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Variable", "a=1\r\nAction: Logoff"),
        ("Variable", "a=1\nAction: Logoff"),
        ("Variable", "trailing\r"),
        ("Variable", "\n"),
        ("Var\r\niable", "x"),
        ("Var\niable", "x"),
        ("Var\r", "x"),
    ],
)
def test_line_breaks_are_refused(key: str, value: str) -> None:
    action = Action("Setvar", [(key, value)])
    with pytest.raises(InvalidActionError, match="line break"):
        action.to_bytes()


@pytest.mark.parametrize("name", ["Ping\r\nAction: Logoff", "Ping\n", "Pi\rng"])
def test_line_breaks_in_name_are_refused(name: str) -> None:
    with pytest.raises(InvalidActionError, match="line break"):
        Action(name).to_bytes()


@pytest.mark.parametrize("action_id", ["1\r\nAction: Logoff", "1\n"])
def test_line_breaks_in_action_id_are_refused(action_id: str) -> None:
    with pytest.raises(InvalidActionError, match="line break"):
        Action("Ping", action_id=action_id).to_bytes()


@pytest.mark.parametrize("key", ["Chan:nel", "Channel:", ":", " Channel", "Channel ", "\tK", ""])
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidActionError):
        Action("Ping", [(key, "x")]).to_bytes()


def test_non_string_keys_are_refused() -> None:
    with pytest.raises(InvalidActionError):
        Action("Ping", {5: "x"}).to_bytes()  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "value", [1.5, b"bytes", bytearray(b"x"), object(), {"a": 1}, [None], [1.5], {"x"}]
)
def test_bad_value_types_are_refused(value: object) -> None:
    with pytest.raises(InvalidActionError, match="str, int or bool"):
        Action("Ping", {"K": value})  # type: ignore[dict-item]


def test_any_sequence_repeats_its_key() -> None:
    # HeaderValue is built on Sequence: any sequence but text repeats its key.
    expected = (("Variable", "0"), ("Variable", "1"))
    assert Action("Setvar", {"Variable": range(2)}).headers == expected
    assert Action("Setvar", [("Variable", ("0", 1))]).headers == expected
    assert Action("Setvar", {"Variable": "01"}).headers == (("Variable", "01"),)


@pytest.mark.parametrize("name", ["", None, 5])
def test_bad_names_are_refused(name: object) -> None:
    with pytest.raises(InvalidActionError, match="name"):
        Action(name)  # type: ignore[call-overload]


def test_invalid_action_error_is_a_value_error() -> None:
    assert issubclass(InvalidActionError, ValueError)
    assert issubclass(InvalidActionError, LocalProtocolError)


# "K: " + value + "\r\n" is len(value) + 5 bytes
@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("x" * 1018, True),  # 1023 bytes
        ("x" * 1019, False),  # 1024 bytes
        ("é" * 509, True),  # 1023 bytes in UTF-8
        ("é" * 510, False),  # 1025 bytes in UTF-8, 515 characters
        ("x" * 1017 + "é", False),  # 1024 bytes
    ],
)
def test_line_length(value: str, ok: bool) -> None:
    action = Action("Ping", {"K": value})
    if ok:
        data = action.to_bytes()
        assert max(len(line) + 2 for line in data.split(b"\r\n")) == 1023
        [message] = parse(data)
        assert message["K"] == value
    else:
        with pytest.raises(InvalidActionError, match="1024"):
            action.to_bytes()


def test_line_length_applies_to_name_and_action_id() -> None:
    assert len(Action("x" * 1013).to_bytes()) == 1023 + 2  # "Action: " + name + CRLF, CRLF
    with pytest.raises(InvalidActionError):
        Action("x" * 1014).to_bytes()
    Action("Ping", action_id="x" * 1011).to_bytes()  # "ActionID: " + id + CRLF = 1023
    with pytest.raises(InvalidActionError):
        Action("Ping", action_id="x" * 1012).to_bytes()


@pytest.mark.parametrize(
    ("headers", "action_id", "ok"),
    [
        (127, None, True),  # 128 lines with the Action line
        (128, None, False),
        (126, "id", True),  # Action + ActionID + 126 = 128
        (127, "id", False),
    ],
)
def test_header_count(headers: int, action_id: str | None, ok: bool) -> None:
    action = Action(
        "UserEvent", {"Variable": [f"v{i}" for i in range(headers)]}, action_id=action_id
    )
    assert len(action.lines()) == headers + 1 + (action_id is not None)
    if ok:
        [message] = parse(action.to_bytes())
        assert len(message.headers) == 128
    else:
        with pytest.raises(InvalidActionError, match="128"):
            action.to_bytes()


def test_serialize_headers() -> None:
    assert serialize_headers([("Action", "Ping"), ("X", "")]) == b"Action: Ping\r\nX: \r\n\r\n"
    assert serialize_headers([]) == b"\r\n"
    assert serialize_headers([("K", "Zoë")], "latin-1") == b"K: Zo\xeb\r\n\r\n"
    with pytest.raises(InvalidActionError, match="line break"):
        serialize_headers([("Action", "Ping"), ("K", "v\r\nAction: Logoff")])
    with pytest.raises(InvalidActionError):
        serialize_headers([(5, "v")])  # type: ignore[list-item]


# -- text that cannot be encoded, and credentials in error messages -----------------------------
@pytest.mark.parametrize(
    ("key", "value", "part"),
    [
        ("Variable", "\ud800", "value"),
        ("Variable", "a=1\udfff", "value"),
        ("Vari\ud800able", "x", "key"),
        ("UserEvent", "日本\udbff", "value"),
    ],
)
def test_unencodable_text_is_refused_naming_the_header(key: str, value: str, part: str) -> None:
    action = Action("UserEvent", [(key, value)])
    with pytest.raises(InvalidActionError, match=f"the {part} cannot be encoded") as caught:
        action.to_bytes()
    assert repr(key) in str(caught.value)
    # Nothing chains the codec's error, whose ``object`` holds the whole line.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


@pytest.mark.parametrize("text", ["\udc0a", "\udc0d", "a=1\udc0aAction: Logoff"])
@pytest.mark.parametrize("where", ["key", "value", "name", "action_id"])
def test_escaped_line_breaks_are_refused(text: str, where: str) -> None:
    # U+DC0A and U+DC0D would stand for LF and CR under a surrogate escape: no line end may come
    # out of them, whatever the codec does.
    if where == "key":
        action = Action("Setvar", [(f"K{text}", "x")])
    elif where == "value":
        action = Action("Setvar", [("Variable", text)])
    elif where == "name":
        action = Action(f"Ping{text}")
    else:
        action = Action("Ping", action_id=text)
    for encoding in ("utf-8", "latin-1", "ascii"):
        with pytest.raises(InvalidActionError) as caught:
            action.to_bytes(encoding)
        assert caught.value.__context__ is None


def test_line_breaks_are_looked_for_in_the_encoded_bytes() -> None:
    # In UTF-16, U+0A0D is the bytes CR LF: the check is on what would be written.
    with pytest.raises(InvalidActionError, match="line break"):
        serialize_headers([("K", "\u0a0d")], "utf-16-le")
    with pytest.raises(InvalidActionError, match="the key contains a line break"):
        serialize_headers([("\u0a0d", "v")], "utf-16-le")
    # Without one, the text is encoded and the line framed in ASCII, as AMI frames it.
    assert serialize_headers([("K", "v")], "utf-16-le") == b"K\x00: v\x00\r\n\r\n"


SECRET = "Sup3r-s3cret"


@pytest.mark.parametrize("key", ["Secret", "Key", "secret", "KEY"])
@pytest.mark.parametrize(
    "value",
    [
        f"{SECRET}\r\nAction: Originate",
        f"\n{SECRET}",
        f"{SECRET}\ud800",
        f"{SECRET}\udc0a",
        SECRET * 100,  # too long
        SECRET.encode(),  # not text
        [SECRET, SECRET.encode()],
    ],
    ids=["crlf", "lf", "unencodable", "escaped-lf", "too-long", "bytes", "list"],
)
def test_credentials_never_show_in_errors(key: str, value: object) -> None:
    with pytest.raises(InvalidActionError) as caught:
        Action("Login", [("Username", "admin"), (key, value)]).to_bytes()  # type: ignore[list-item]
    assert repr(key) in str(caught.value)
    assert_no_secret(caught.value, SECRET)
    with pytest.raises(InvalidActionError) as caught:
        serialize_headers([(key, value if isinstance(value, str) else SECRET + "\r")])
    assert_no_secret(caught.value, SECRET)


def test_other_values_show_in_errors() -> None:
    # Only credentials are masked: an ordinary value helps to find the mistake.
    with pytest.raises(InvalidActionError, match="a=1") as caught:
        Action("Setvar", {"Variable": "a=1\r\n"}).to_bytes()
    assert "a=1" in str(caught.value)
    with pytest.raises(InvalidActionError, match=r"1\.5"):
        Action("Setvar", {"Variable": 1.5})  # type: ignore[dict-item]
