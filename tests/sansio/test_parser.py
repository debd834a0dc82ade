"""PacketParser: framing, line ends, banner, legacy Command output, end of stream."""

from __future__ import annotations

import pytest
from helpers.splitting import Splitter, drain, feed, parse, split_at

from trio_ami.sansio import (
    Banner,
    Event,
    LocalProtocolError,
    Message,
    PacketParser,
    RemoteProtocolError,
    Response,
)

BANNER_22 = b"Asterisk Call Manager/11.0.0\r\n"
PONG = b"Response: Success\r\nActionID: 1\r\nPing: Pong\r\n\r\n"


# -- banner -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "version", "info"),
    [
        (b"Asterisk Call Manager/11.0.0\r\n", "11.0.0", (11, 0, 0)),
        (b"Asterisk Call Manager/2.10.6\r\n", "2.10.6", (2, 10, 6)),
        (b"Asterisk Call Manager/5.0.1\n", "5.0.1", (5, 0, 1)),
    ],
)
def test_banner(split: Splitter, line: bytes, version: str, info: tuple[int, ...]) -> None:
    parser = PacketParser()
    feed(parser, split(line + PONG))
    text = line.rstrip(b"\r\n").decode()
    assert parser.banner == Banner(text=text, product="Asterisk Call Manager", version=version)
    assert parser.banner.version_info == info
    [pong] = drain(parser)
    assert isinstance(pong, Response)
    assert pong["Ping"] == "Pong"


def test_banner_is_none_until_its_line_ends() -> None:
    parser = PacketParser()
    parser.receive_data(BANNER_22[:-1])
    assert parser.banner is None
    assert parser.next_message() is None
    parser.receive_data(BANNER_22[-1:])
    assert parser.banner is not None
    assert parser.banner.version == "11.0.0"


def test_no_banner_expected() -> None:
    parser = PacketParser(expect_banner=False)
    feed(parser, [PONG])
    assert parser.banner is None
    assert [m.name for m in drain(parser)] == ["Success"]


@pytest.mark.parametrize(
    ("version", "info"),
    [("13.38.3-rc1", (13, 38)), ("1.2beta.3", (1,)), ("", ()), ("7", (7,))],
)
def test_banner_version_info_stops_at_non_numeric(version: str, info: tuple[int, ...]) -> None:
    assert Banner(text="", product="Asterisk Call Manager", version=version).version_info == info


@pytest.mark.parametrize(
    "line",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/1.1 400 Bad Request\r\n",
        b"Asterisk Call Manager\r\n",
        b"Response: Success\r\n\r\n",
        b"\r\n",
    ],
)
def test_non_ami_banner(split: Splitter, line: bytes) -> None:
    parser = PacketParser()
    feed(parser, split(line + PONG))
    assert parser.banner is None
    with pytest.raises(RemoteProtocolError, match="banner"):
        parser.next_message()
    # the error stays; later bytes are ignored
    parser.receive_data(PONG)
    with pytest.raises(RemoteProtocolError, match="banner"):
        parser.take_messages()


def test_eof_before_banner() -> None:
    parser = PacketParser()
    parser.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="before the banner"):
        parser.next_message()
    assert not parser.at_eof


def test_eof_inside_banner(split: Splitter) -> None:
    parser = PacketParser()
    feed(parser, split(b"Asterisk Call Man"), eof=True)
    with pytest.raises(RemoteProtocolError, match="inside the banner"):
        parser.next_message()


# -- line ends and framing ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        b"Event: A\r\nX: 1\r\n\r\nEvent: B\r\nX: 2\r\n\r\n",
        b"Event: A\nX: 1\n\nEvent: B\nX: 2\n\n",
        b"Event: A\r\nX: 1\r\n\nEvent: B\r\nX: 2\r\n\n",
        b"Event: A\nX: 1\r\n\r\nEvent: B\r\nX: 2\n\r\n",
    ],
    ids=["crlf", "lf", "crlf-lf", "mixed"],
)
def test_line_ends(split: Splitter, data: bytes) -> None:
    messages = parse(data, split)
    assert [m.headers for m in messages] == [
        (("Event", "A"), ("X", "1")),
        (("Event", "B"), ("X", "2")),
    ]
    assert all(isinstance(m, Event) for m in messages)


@pytest.mark.parametrize(
    "data",
    [
        b"\r\nEvent: A\r\n\r\n\r\nEvent: B\r\n\r\n\r\n\r\n",
        b"\n\nEvent: A\n\n\n\n\nEvent: B\n\n\n",
        b"Event: A\r\n\r\n\r\n\n\r\nEvent: B\r\n\r\n\r\n",
    ],
)
def test_stray_empty_lines_between_packets(split: Splitter, data: bytes) -> None:
    parser = PacketParser(expect_banner=False)
    feed(parser, split(data), eof=True)
    assert [m.name for m in drain(parser)] == ["A", "B"]
    assert parser.at_eof


def test_stray_line_right_after_banner(split: Splitter) -> None:
    messages = parse(BANNER_22 + b"\r\n" + PONG, split, banner=True)
    assert [m.name for m in messages] == ["Success"]


def test_only_stray_lines_then_eof(split: Splitter) -> None:
    parser = PacketParser(expect_banner=False)
    feed(parser, split(b"\r\n\n\r\n"), eof=True)
    assert parser.take_messages() == []
    assert parser.at_eof


def test_message_kinds(split: Splitter) -> None:
    data = b"Event: A\r\n\r\nResponse: Error\r\n\r\nAction: Ping\r\n\r\nevent: b\r\n\r\n"
    messages = parse(data, split)
    assert [type(m) for m in messages] == [Event, Response, Message, Event]
    assert [m.name for m in messages] == ["A", "Error", "", "b"]


def test_header_forms(split: Splitter) -> None:
    data = (
        b"Event: VarSet\r\n"
        b"ChanVariable: a=1\r\n"
        b"Value: \r\n"
        b"Empty:\r\n"
        b"Message: x: y: z\r\n"
        b"NoSpace:value\r\n"
        b"Trailing:x \r\n"
        b"ChanVariable: b=2\r\n"
        b"a line without a colon\r\n"
        b"ChanVariable: c=3\r\n\r\n"
    )
    [message] = parse(data, split)
    assert message.headers == (
        ("Event", "VarSet"),
        ("ChanVariable", "a=1"),
        ("Value", ""),
        ("Empty", ""),
        ("Message", "x: y: z"),
        ("NoSpace", "value"),
        ("Trailing", "x "),
        ("ChanVariable", "b=2"),
        ("", "a line without a colon"),
        ("ChanVariable", "c=3"),
    )
    assert message.get_all("chanvariable") == ["a=1", "b=2", "c=3"]
    assert message["MESSAGE"] == "x: y: z"


@pytest.mark.parametrize("line_end", [b"\r\n", b"\n"])
def test_lone_cr_stays_in_its_value(split: Splitter, line_end: bytes) -> None:
    data = b"Event: A" + line_end + b"K: a\rb" + line_end + b"\rL: c" + line_end * 2
    [message] = parse(data, split)
    assert message.headers == (("Event", "A"), ("K", "a\rb"), ("\rL", "c"))


@pytest.mark.parametrize("after", [b"", b"Response: Follows\r\n\r\n"])
def test_lone_cr_at_the_start_of_a_packet_is_kept(split: Splitter, after: bytes) -> None:
    data = b"Event: A\r\n\r\n\rX: 1\r\n\r\n" + after
    assert [m.headers for m in parse(data, split)][:2] == [(("Event", "A"),), (("\rX", "1"),)]


def test_modern_command_output(split: Splitter) -> None:
    data = (
        b"Response: Success\r\nActionID: 9\r\nMessage: Command output follows\r\n"
        b"Output: Name/username   Host\r\nOutput: \r\nOutput: Key: value\r\n\r\n"
    )
    [response] = parse(data, split)
    assert isinstance(response, Response)
    assert response.output == ["Name/username   Host", "", "Key: value"]
    assert not response.is_legacy_command


def test_non_utf8_bytes_survive(split: Splitter) -> None:
    data = b"Event: Newchannel\r\nCallerIDName: Jos\xe9 \xff\xfe\r\nX\x80: \xc3\r\n\r\n"
    [message] = parse(data, split)
    name = message["CallerIDName"]
    assert name.encode("utf-8", "surrogateescape") == b"Jos\xe9 \xff\xfe"
    [(key, value)] = [h for h in message.headers if h[0].startswith("X")]
    assert key.encode("utf-8", "surrogateescape") == b"X\x80"
    assert value.encode("utf-8", "surrogateescape") == b"\xc3"
    assert message.to_bytes() == data


def test_other_encoding() -> None:
    parser = PacketParser(expect_banner=False, encoding="latin-1")
    parser.receive_data(b"Event: A\r\nName: Jos\xe9\r\n\r\n")
    [message] = drain(parser)
    assert message["Name"] == "José"
    assert message.to_bytes("latin-1") == b"Event: A\r\nName: Jos\xe9\r\n\r\n"


def test_unknown_encoding_is_refused() -> None:
    with pytest.raises(LookupError):
        PacketParser(encoding="no-such-codec")


@pytest.mark.parametrize("text", ["é", "€", "😀", "日本"])
def test_multibyte_character_split_across_reads(text: str) -> None:
    data = f"Event: A\r\nName: <{text}>\r\n\r\n".encode()
    start = data.index(b"<") + 1
    for cut in range(start + 1, start + len(text.encode())):
        [message] = parse(data, lambda d, cut=cut: split_at(d, [cut]))  # type: ignore[misc]
        assert message["Name"] == f"<{text}>"


def test_inputs_of_every_buffer_type() -> None:
    parser = PacketParser(expect_banner=False)
    parser.receive_data(bytearray(b"Event: A\r\n"))
    parser.receive_data(memoryview(b"\r\nEvent: B\r\n\r\n"))
    assert [m.name for m in parser.take_messages()] == ["A", "B"]


def test_messages_come_out_as_soon_as_complete() -> None:
    parser = PacketParser(expect_banner=False)
    parser.receive_data(b"Event: A\r\n\r\nEvent: B\r\n")
    assert parser.buffered_bytes == len(b"Event: B\r\n")
    assert [m.name for m in parser.take_messages()] == ["A"]
    assert parser.take_messages() == []
    assert parser.next_message() is None
    parser.receive_data(b"\r\n")
    assert parser.next_message() == Event("Event: B")
    assert parser.buffered_bytes == 0
    assert parser.bytes_received == len(b"Event: A\r\n\r\nEvent: B\r\n\r\n")


# -- legacy Command output (Asterisk <= 13) -----------------------------------------------------
LEGACY_HEAD = b"Response: Follows\r\nPrivilege: Command\r\n"


@pytest.mark.parametrize(
    ("body", "output"),
    [
        (b"Asterisk 13.38.3 built by root\n", ["Asterisk 13.38.3 built by root"]),
        (
            b"System uptime: 16 seconds\nLast reload: 16 seconds\n",
            ["System uptime: 16 seconds", "Last reload: 16 seconds"],
        ),
        (b"\n  username: reader\nsecret: <Set>\n", ["", "  username: reader", "secret: <Set>"]),
        (b"a\n\nb\n\n\nc\n", ["a", "", "b", "", "", "c"]),
        (b"Event: Fake\nResponse: Success\n\n", ["Event: Fake", "Response: Success", ""]),
        (b"", []),
        (b"no newline at the end", ["no newline at the end"]),
        (
            b"x --END COMMAND-- y\n--END COMMAND--\nz\n",
            ["x --END COMMAND-- y", "--END COMMAND--", "z"],
        ),
        (b"a--END COMMAND--\rb\n", ["a--END COMMAND--\rb"]),
        (b"crlf inside\r\nthe output\n", ["crlf inside", "the output"]),
        (b"ActionID: fake\n", ["ActionID: fake"]),
    ],
)
@pytest.mark.parametrize("action_id", [b"ActionID: cmd-7\r\n", b""])
def test_legacy_command(split: Splitter, body: bytes, output: list[str], action_id: bytes) -> None:
    answer = LEGACY_HEAD + action_id + body + b"--END COMMAND--\r\n\r\n"
    data = b"Event: Before\r\n\r\n" + answer + b"Event: After\r\n\r\n"
    before, response, after = parse(data, split)
    assert (before.name, after.name) == ("Before", "After")
    assert isinstance(response, Response)
    assert response.is_legacy_command
    assert response.output == output
    assert response.name == "Follows"
    assert response["Privilege"] == "Command"
    assert response.action_id == ("cmd-7" if action_id else None)
    assert len(response) == (3 if action_id else 2)  # the output is not among the headers
    assert parse(response.to_bytes()) == [response]


@pytest.mark.parametrize("end", [b"\r\n\r\n", b"\n\n", b"\r\n\n", b"\n\r\n", b"\r\n\r\n\r\n"])
def test_legacy_command_end_marker_line_ends(split: Splitter, end: bytes) -> None:
    data = LEGACY_HEAD + b"ActionID: 1\r\nline\n--END COMMAND--" + end + PONG
    legacy, pong = parse(data, split)
    assert legacy.output == ["line"]  # type: ignore[attr-defined]
    assert pong.action_id == "1"


def test_two_legacy_answers_back_to_back(split: Splitter) -> None:
    one = LEGACY_HEAD + b"ActionID: 1\r\na\n\nb\n--END COMMAND--\r\n\r\n"
    two = LEGACY_HEAD + b"ActionID: 2\r\n--END COMMAND--\r\n\r\n"
    first, second = parse(one + two, split)
    assert (first.action_id, first.output) == ("1", ["a", "", "b"])  # type: ignore[attr-defined]
    assert (second.action_id, second.output) == ("2", [])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "data",
    [
        b"Response: Follows\r\nActionID: 3\r\nMessage: not a command\r\n\r\n",
        b"Response: Follows\r\nPrivilege: Commander\r\nActionID: 3\r\n\r\n",
        b"Response: Follows\r\n\r\n",
    ],
)
def test_follows_that_is_not_a_command_answer(split: Splitter, data: bytes) -> None:
    # the trailing Pong proves the parser did not wait for an --END COMMAND-- marker
    response, pong = parse(data + PONG, split)
    assert isinstance(response, Response)
    assert response.name == "Follows"
    assert not response.is_legacy_command
    assert response.output == []
    assert response.to_bytes() == data
    assert pong["Ping"] == "Pong"


def test_follows_without_command_then_legacy_answer(split: Splitter) -> None:
    data = (
        b"Event: A\r\n\r\nResponse: Follows\r\nActionID: 3\r\n\r\n"
        + LEGACY_HEAD
        + b"x\n\n--END COMMAND--\r\n\r\nEvent: B\r\n\r\n"
    )
    messages = parse(data, split)
    assert [m.name for m in messages] == ["A", "Follows", "Follows", "B"]
    assert [getattr(m, "is_legacy_command", None) for m in messages] == [None, False, True, None]
    assert messages[2].output == ["x", ""]  # type: ignore[attr-defined]


def test_legacy_answer_waits_for_its_end(split: Splitter) -> None:
    data = LEGACY_HEAD + b"ActionID: 5\r\nKey: value\n\nEvent: Fake\r\n\r\n--END COMMAND--\r\n\r"
    parser = PacketParser(expect_banner=False)
    feed(parser, split(data))
    assert parser.take_messages() == []
    parser.receive_data(b"\n")
    [response] = parser.take_messages()
    assert response.output == ["Key: value", "", "Event: Fake", ""]  # type: ignore[attr-defined]


# -- end of stream ------------------------------------------------------------------------------
def test_clean_eof(split: Splitter) -> None:
    parser = PacketParser()
    feed(parser, split(BANNER_22 + PONG), eof=True)
    assert not parser.at_eof  # a message is still waiting
    assert len(parser.take_messages()) == 1
    assert parser.at_eof
    assert parser.next_message() is None
    assert parser.take_messages() == []


@pytest.mark.parametrize(
    "tail",
    [
        b"Event: B\r\n",
        b"Event: B",
        b"Event: B\r\nX: 1\r\n\r",
        LEGACY_HEAD + b"ActionID: 2\r\nout\n",
        LEGACY_HEAD + b"ActionID: 2\r\nout\n--END COMMAND--\r\n",
        b"Response: Foll",
    ],
)
@pytest.mark.parametrize("take", ["next_message", "take_messages"])
def test_eof_inside_a_packet(split: Splitter, tail: bytes, take: str) -> None:
    parser = PacketParser(expect_banner=False)
    feed(parser, split(b"Event: A\r\n\r\n" + tail), eof=True)
    assert not parser.at_eof
    if take == "next_message":
        assert parser.next_message() == Event("Event: A")
        with pytest.raises(RemoteProtocolError, match="inside a packet"):
            parser.next_message()
    else:
        assert parser.take_messages() == [Event("Event: A")]
        with pytest.raises(RemoteProtocolError, match="inside a packet"):
            parser.take_messages()
    # the error stays raised
    with pytest.raises(RemoteProtocolError):
        parser.next_message()


@pytest.mark.parametrize("more", [b"", b"Event: A\r\n\r\n"])
def test_receive_data_after_eof(more: bytes) -> None:
    parser = PacketParser(expect_banner=False)
    parser.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        parser.receive_data(more)
    with pytest.raises(ValueError):  # LocalProtocolError is a ValueError
        parser.receive_data(more)


def test_receive_data_after_eof_with_an_error() -> None:
    parser = PacketParser(expect_banner=False)
    parser.receive_data(b"Event: A")
    parser.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        parser.receive_data(b"\r\n\r\n")
    with pytest.raises(RemoteProtocolError, match="inside a packet"):
        parser.next_message()
