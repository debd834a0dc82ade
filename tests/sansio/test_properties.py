"""Property tests: chunking never changes what is parsed; serialize-then-parse round-trips."""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import pytest
from helpers.splitting import feed, parse, split_at
from hypothesis import given, settings, strategies as st

from trio_ami.sansio import (
    Action,
    ClientProtocol,
    ConnectionTerminated,
    Event,
    LocalProtocolError,
    Message,
    PacketParser,
    RemoteProtocolError,
    Response,
    State,
)

SETTINGS = settings(max_examples=200, deadline=None)
COMMON_KEYS = ["Event", "Response", "ActionID", "Output", "ChanVariable", "Message", "Privilege"]


def no_line_break(text: str) -> bool:
    return "\r" not in text and "\n" not in text


# Text without line breaks or lone surrogates (those could not be encoded).
line_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12).filter(no_line_break)
keys = st.sampled_from(COMMON_KEYS) | line_text.filter(lambda k: ": " not in k)
values = st.sampled_from(["", "Success", "a: b", " lead", "x:y", "Zoë 日本"]) | line_text
# Raw bytes for values: anything but CR and LF, invalid UTF-8 included.
raw_values = st.binary(max_size=12).filter(lambda b: b"\r" not in b and b"\n" not in b)


class Packet(NamedTuple):
    data: bytes
    headers: tuple[tuple[str, str], ...]
    kind: type[Message]
    output: list[str] | None  # legacy Command output


@st.composite
def packets(draw: st.DrawFn) -> Packet:
    """One packet as bytes, with the headers (and legacy output) it must parse into."""
    eol = st.sampled_from([b"\r\n", b"\n"])
    if draw(st.integers(0, 5)) == 0:  # a legacy Command answer
        heads = [("Response", "Follows"), ("Privilege", "Command")]
        action_id = draw(st.none() | line_text)
        if action_id is not None:
            heads.append(("ActionID", action_id))
        lines = draw(st.lists(line_text.filter(lambda t: "--END COMMAND--" not in t), max_size=5))
        data = b"".join(f"{k}: {v}\r\n".encode() for k, v in heads)
        data += "".join(line + "\n" for line in lines).encode()
        data += b"--END COMMAND--" + draw(eol) + draw(eol)
        return Packet(data, tuple(heads), Response, lines)
    first = draw(st.sampled_from(["Event", "Response", "ActionID", "Action"]))
    pairs = [(first, draw(line_text.filter(lambda v: v != "Follows")))]
    data = f"{first}: {pairs[0][1]}".encode() + draw(eol)
    for _ in range(draw(st.integers(0, 6))):
        form = draw(st.sampled_from(["key: value", "key:value", "bare", "raw"]))
        if form == "key: value":
            key, value = draw(keys), draw(values)
            line = f"{key}: {value}".encode()
        elif form == "key:value":  # no space: split at the first colon
            key = draw(line_text.filter(lambda k: ":" not in k))
            value = draw(line_text.filter(lambda v: ": " not in v and not v.startswith(" ")))
            line = f"{key}:{value}".encode()
        elif form == "bare":  # no colon at all: the whole line is a value with an empty key
            key, value = "", draw(line_text.filter(lambda v: v and ":" not in v))
            line = value.encode()
        else:  # bytes in any encoding, kept with surrogateescape
            key, raw = "Raw", draw(raw_values)
            value, line = raw.decode("utf-8", "surrogateescape"), b"Raw: " + raw
        pairs.append((key, value))
        data += line + draw(eol)
    data += draw(eol)
    kinds: dict[str, type[Message]] = {"Event": Event, "Response": Response}
    kind = kinds.get(first, Message)
    return Packet(data, tuple(pairs), kind, None)


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[Packet]]:
    """Packets with stray empty lines anywhere between them."""
    stray = st.lists(st.sampled_from([b"\r\n", b"\n"]), max_size=2).map(b"".join)
    items = draw(st.lists(packets(), max_size=6))
    data = draw(stray) + b"".join(item.data + draw(stray) for item in items)
    return data, items


@SETTINGS
@given(streams(), st.lists(st.integers(0, 2000)), st.booleans())
def test_chunking_never_changes_the_result(
    stream: tuple[bytes, list[Packet]], cuts: list[int], banner: bool
) -> None:
    data, items = stream
    if banner:
        data = b"Asterisk Call Manager/11.0.0\r\n" + data
    messages = parse(data, banner=banner)
    assert parse(data, lambda d: split_at(d, cuts), banner=banner) == messages
    assert [m.headers for m in messages] == [item.headers for item in items]
    assert [type(m) for m in messages] == [item.kind for item in items]
    for message, item in zip(messages, items, strict=True):
        if item.output is not None:
            assert message.output == item.output  # type: ignore[attr-defined]
        elif isinstance(message, Response):
            assert not message.is_legacy_command
        assert parse(message.to_bytes()) == [message]


@SETTINGS
@given(streams(), st.data())
def test_each_message_comes_out_once_its_last_byte_arrives(
    stream: tuple[bytes, list[Packet]], data: st.DataObject
) -> None:
    stream_data, items = stream
    expected = parse(stream_data)
    parser = PacketParser(expect_banner=False)
    taken: list[Message] = []
    offset = 0
    for count, item in enumerate(items, 1):
        end = stream_data.index(item.data, offset) + len(item.data)
        cut = data.draw(st.integers(offset, end))
        for chunk in split_at(stream_data[offset:end], [cut - offset]):
            parser.receive_data(chunk)
        taken += parser.take_messages()
        assert taken == expected[:count]
        offset = end
    feed(parser, split_at(stream_data[offset:], []), eof=True)
    assert parser.take_messages() == []
    assert parser.at_eof


header_pairs = st.lists(st.tuples(keys, values), min_size=1, max_size=10).filter(
    lambda pairs: pairs[:2] != [("Response", "Follows"), ("Privilege", "Command")]
)


@SETTINGS
@given(header_pairs, st.sampled_from([Message, Event, Response]))
def test_from_headers_round_trip(pairs: list[tuple[str, str]], kind: type[Message]) -> None:
    message = kind.from_headers(pairs)
    [parsed] = parse(message.to_bytes())
    assert parsed.headers == tuple(pairs)
    assert [parsed.get_all(key) for key, _ in pairs] == [message.get_all(key) for key, _ in pairs]
    for key, _ in pairs:
        assert parsed.get(key) == message.get(key) == message.get_all(key)[0]


action_keys = st.sampled_from(["Channel", "Variable", "Context", "Exten", "Data"]) | st.text(
    st.characters(blacklist_categories=["Cs", "Z", "Cc"], blacklist_characters=":"),
    min_size=1,
    max_size=20,
).filter(lambda key: key.lower() not in {"action", "actionid"})
action_values = values | st.integers(-(2**63), 2**63) | st.booleans()


def wire_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@SETTINGS
@given(
    st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=20),
    st.lists(
        st.tuples(action_keys, action_values | st.lists(action_values, max_size=3)), max_size=20
    ),
    st.none() | line_text,
)
def test_action_round_trip(
    name: str, headers: list[tuple[str, object]], action_id: str | None
) -> None:
    action = Action(name, headers, action_id=action_id)  # type: ignore[arg-type]
    sent = [("Action", name)] + ([("ActionID", action_id)] if action_id is not None else [])
    for key, value in headers:
        sent += [(key, wire_text(item)) for item in (value if isinstance(value, list) else [value])]
    [parsed] = parse(action.to_bytes())
    assert type(parsed) is Message
    assert parsed.headers == tuple(sent)
    assert parsed.action_id == action_id
    assert parsed["action"] == name


# -- whatever the peer sends --------------------------------------------------------------------
wire_bytes = st.lists(
    st.sampled_from(
        [
            b"\r\n",
            b"\n",
            b"\r",
            b": ",
            b":",
            b"Event: X",
            b"Response: Follows",
            b"Privilege: Command",
            b"--END COMMAND--",
            b"ActionID: 1",
            b"\xff\xfe",
            "é".encode(),
            b"Asterisk Call Manager/1.0",
        ]
    )
    | st.binary(max_size=20),
    max_size=40,
).map(b"".join)


@SETTINGS
@given(wire_bytes, st.booleans(), st.data())
def test_any_bytes_give_messages_or_a_typed_error(
    data: bytes, banner: bool, draw: st.DataObject
) -> None:
    if draw.draw(st.booleans()):  # small limits, which any bytes may cross
        parser = PacketParser(
            expect_banner=banner, max_packet_size=30, max_headers=3, max_line_length=12
        )
    else:
        parser = PacketParser(expect_banner=banner)
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=5)))
    taken: list[Message] = []
    try:
        for chunk in split_at(data, cuts):
            parser.receive_data(chunk)
            taken += parser.take_messages()
        parser.receive_data(b"")
        taken += parser.take_messages()
    except RemoteProtocolError:
        return
    for message in taken:  # every message answers every question without raising
        assert isinstance(message.name, str)
        assert isinstance(message.headers, tuple)
        assert message.get_all("ActionID") == [
            v for k, v in message.headers if k.lower() == "actionid"
        ]


@SETTINGS
@given(wire_bytes)
def test_the_protocol_never_raises_on_what_the_server_sends(data: bytes) -> None:
    protocol = ClientProtocol(action_id_prefix="p")
    protocol.receive_data(b"Asterisk Call Manager/11.0.0\r\n")
    protocol.login("admin", "secret", auth="plain")
    protocol.receive_data(b"Response: Success\r\nActionID: p-1\r\n\r\n")
    protocol.send_action(Action("CoreShowChannels"))
    protocol.receive_data(data)
    protocol.receive_data(b"")
    items = protocol.take_items()
    assert isinstance(items[-1], ConnectionTerminated)
    assert protocol.state in (State.CLOSED, State.ERROR)


# -- whatever the peer sends during login -------------------------------------------------------
# Secrets as callers give them: any text (lone surrogates included, which may not be encodable)
# or bytes decoded with surrogateescape, as os.environ gives them.
login_secrets = st.text(max_size=12) | st.binary(max_size=12).map(
    lambda raw: raw.decode("utf-8", "surrogateescape")
)
session_encodings = st.sampled_from(["utf-8", "latin-1", "cp1252"])


@SETTINGS
@given(raw_values, login_secrets, session_encodings)
def test_any_challenge_is_answered_with_the_key_of_its_bytes(
    challenge: bytes, secret: str, encoding: str
) -> None:
    protocol = ClientProtocol(action_id_prefix="p", encoding=encoding)
    protocol.receive_data(b"Asterisk Call Manager/11.0.0\r\n")
    try:
        secret_bytes = secret.encode(encoding, "surrogateescape")
    except UnicodeEncodeError:
        with pytest.raises(LocalProtocolError):
            protocol.login("admin", secret, auth="md5")
        return
    protocol.login("admin", secret, auth="md5")
    protocol.receive_data(
        b"Response: Success\r\nActionID: p-1\r\nChallenge: " + challenge + b"\r\n\r\n"
    )
    if not challenge:  # no challenge to answer: the login is refused
        assert protocol.state is State.CLOSED
        return
    assert protocol.state is State.LOGIN_SENT
    [login] = parse(protocol.data_to_send())
    assert login["Key"] == hashlib.md5(challenge + secret_bytes).hexdigest()


login_bytes = st.lists(
    st.sampled_from(
        [
            b"Response: Success\r\nActionID: p-1\r\nChallenge: ",
            b"Response: Success\r\nActionID: p-2\r\n",
            b"Response: Error\r\nActionID: p-1\r\n",
            b"Response: Goodbye\r\n",
            b"Event: FullyBooted\r\n",
            b"Challenge: ",
            b"\xff\xfe",
            b"\xed\xb2\x80",  # a UTF-8 encoded surrogate, which UTF-8 decoding refuses
        ]
    )
    | wire_bytes,
    max_size=12,
).map(b"".join)


@SETTINGS
@given(login_bytes, login_secrets, st.sampled_from(["md5", "plain"]), session_encodings)
def test_the_protocol_never_raises_on_what_the_server_sends_during_login(
    data: bytes, secret: str, auth: str, encoding: str
) -> None:
    protocol = ClientProtocol(action_id_prefix="p", encoding=encoding)
    protocol.receive_data(b"Asterisk Call Manager/11.0.0\r\n")
    try:
        protocol.login("admin", secret, auth=auth)
    except LocalProtocolError:  # a secret that cannot be encoded, or one with a line break
        return
    protocol.receive_data(data)
    protocol.data_to_send()
    protocol.receive_data(b"")
    items = protocol.take_items()
    assert isinstance(items[-1], ConnectionTerminated)
    assert protocol.state in (State.CLOSED, State.ERROR)
