"""PacketParser limits: max_packet_size, max_headers, max_line_length."""

from __future__ import annotations

import pytest
from helpers.splitting import Splitter, bytewise, drain, feed, parse, whole

from trio_ami.sansio import (
    DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_LINE_LENGTH,
    DEFAULT_MAX_PACKET_SIZE,
    LimitExceeded,
    PacketParser,
    RemoteProtocolError,
)

LEGACY_HEAD = b"Response: Follows\r\nPrivilege: Command\r\nActionID: 1\r\n"
LEGACY_END = b"--END COMMAND--\r\n\r\n"
OK = b"Event: Fine\r\n\r\n"


def lines(count: int) -> bytes:
    return b"".join(b"H%d: v\r\n" % i for i in range(count))


def test_defaults() -> None:
    parser = PacketParser()
    assert (parser.max_packet_size, parser.max_headers, parser.max_line_length) == (
        DEFAULT_MAX_PACKET_SIZE,
        DEFAULT_MAX_HEADERS,
        DEFAULT_MAX_LINE_LENGTH,
    )


@pytest.mark.parametrize("name", ["max_packet_size", "max_headers", "max_line_length"])
@pytest.mark.parametrize("value", [0, -1])
def test_invalid_limits(name: str, value: int) -> None:
    with pytest.raises(ValueError, match=name):
        PacketParser(**{name: value})  # type: ignore[arg-type]


def test_smallest_limits_are_accepted() -> None:
    parser = PacketParser(max_packet_size=1, max_headers=1, max_line_length=1)
    assert parser.max_packet_size == parser.max_headers == parser.max_line_length == 1


# (limit name, limit value, offending packet) for complete packets
COMPLETE = [
    ("max_line_length", 40, b"Event: A\r\nLong: " + b"x" * 60 + b"\r\n\r\n"),
    ("max_headers", 5, b"Event: A\r\n" + lines(10) + b"\r\n"),
    ("max_packet_size", 100, b"Event: A\r\n" + lines(20) + b"\r\n"),
    ("max_line_length", 40, LEGACY_HEAD + b"y" * 60 + b"\n" + LEGACY_END),
    ("max_headers", 5, LEGACY_HEAD + b"line\n" * 10 + LEGACY_END),
    ("max_packet_size", 100, LEGACY_HEAD + b"line\n" * 30 + LEGACY_END),
]


COMPLETE_IDS = [f"{'legacy' if i >= 3 else 'packet'}-{c[0]}" for i, c in enumerate(COMPLETE)]


@pytest.mark.parametrize(("limit", "value", "packet"), COMPLETE, ids=COMPLETE_IDS)
@pytest.mark.parametrize("take", ["next_message", "take_messages"])
def test_limit_in_complete_packet(
    split: Splitter, limit: str, value: int, packet: bytes, take: str
) -> None:
    parser = PacketParser(expect_banner=False, **{limit: value})  # type: ignore[arg-type]
    feed(parser, split(OK + packet + OK))
    if take == "next_message":
        assert parser.next_message() is not None
        with pytest.raises(LimitExceeded) as info:
            parser.next_message()
    else:
        assert len(parser.take_messages()) == 1
        with pytest.raises(LimitExceeded) as info:
            parser.take_messages()
    assert (info.value.limit, info.value.value) == (limit, value)
    assert isinstance(info.value, RemoteProtocolError)
    assert limit in str(info.value)
    # the stream is dead: more bytes are counted but ignored, and the error stays
    parser.receive_data(OK)
    assert parser.buffered_bytes == 0
    assert parser.bytes_received == len(OK + packet + OK + OK)
    parser.receive_data(b"")
    with pytest.raises(LimitExceeded):
        parser.next_message()


COMPLETE_IDS = [f"{'legacy' if i >= 3 else 'packet'}-{c[0]}" for i, c in enumerate(COMPLETE)]


@pytest.mark.parametrize(("limit", "value", "packet"), COMPLETE, ids=COMPLETE_IDS)
def test_packets_just_within_the_limits_pass(
    split: Splitter, limit: str, value: int, packet: bytes
) -> None:
    parser = PacketParser(expect_banner=False, **{limit: 10 * value})  # type: ignore[arg-type]
    feed(parser, split(packet), eof=True)
    assert len(drain(parser)) == 1


# (limit name, limit value, unterminated bytes): no terminator ever arrives
INCOMPLETE = [
    ("max_line_length", 40, b"Event: A\r\nLong: " + b"x" * 60),
    ("max_line_length", 40, LEGACY_HEAD + b"y" * 60),
    ("max_line_length", 20, b"Asterisk Call Manager/" + b"9" * 30),
    ("max_packet_size", 100, b"Event: A\r\n" + lines(20)),
    ("max_packet_size", 100, LEGACY_HEAD + b"line\n" * 30),
    ("max_packet_size", 100, LEGACY_HEAD + b"line\n" * 30 + b"--END COMMAND--\r\n"),
    ("max_headers", 5, b"Event: A\r\n" + lines(10)),
    ("max_headers", 5, LEGACY_HEAD + b"line\n" * 10),
]


@pytest.mark.parametrize(
    ("limit", "value", "data"),
    INCOMPLETE,
    ids=[
        "line",
        "legacy-line",
        "banner-line",
        "size",
        "legacy-size",
        "legacy-end-size",
        "headers",
        "legacy-headers",
    ],
)
def test_limit_in_incomplete_packet(split: Splitter, limit: str, value: int, data: bytes) -> None:
    banner = data.startswith(b"Asterisk")
    parser = PacketParser(expect_banner=banner, **{limit: value})  # type: ignore[arg-type]
    feed(parser, split(data if banner else OK + data))
    if not banner:
        assert parser.next_message() is not None
    # raised before the stream ends, without waiting for a terminator
    with pytest.raises(LimitExceeded) as info:
        parser.next_message()
    assert (info.value.limit, info.value.value) == (limit, value)
    assert parser.buffered_bytes == 0


@pytest.mark.parametrize(
    ("limits", "data"),
    [
        ({"max_line_length": 10}, b"Event: A\r\nK: 1234567\r\n\r\n"),  # 10 bytes + CRLF
        ({"max_line_length": 12}, b"Event: A\r\nK: 1234567\r\n\r\n"),
        ({"max_packet_size": 12}, b"A: 1\r\nB: 2\r\n\r\n"),
        ({"max_packet_size": 9}, b"A: 1\r\nB: 2\r\n\r\n"),
        ({"max_headers": 2}, b"A: 1\r\nB: 2\r\n\r\n"),
        ({"max_line_length": 20}, LEGACY_HEAD + b"x" * 20 + b"\n" + LEGACY_END),
        ({"max_line_length": 20}, LEGACY_HEAD + b"x" * 21 + b"\n" + LEGACY_END),
        ({"max_line_length": 12}, b"Asterisk Call Manager/1.0\r\nEvent: A\r\n\r\n"),
    ],
    ids=[
        "line-10",
        "line-12",
        "size-12",
        "size-9",
        "headers-2",
        "legacy-line-20",
        "legacy-line-21",
        "banner-line",
    ],
)
def test_limit_outcome_does_not_depend_on_chunking(limits: dict[str, int], data: bytes) -> None:
    banner = data.startswith(b"Asterisk")

    def outcome(split: Splitter) -> object:
        try:
            return parse(data, split, banner=banner, **limits)  # type: ignore[arg-type]
        except LimitExceeded as exc:
            return exc.limit

    assert outcome(bytewise) == outcome(whole)


@pytest.mark.parametrize("chars", ["é" * 4, "€€€", "😀😀"])
def test_max_line_length_counts_bytes(split: Splitter, chars: str) -> None:
    line = f"K: {chars}".encode()
    assert len(line) > 10 >= len(f"K: {chars}")
    with pytest.raises(LimitExceeded) as info:
        parse(b"Event: A\r\n" + line + b"\r\n\r\n", split, max_line_length=10)
    assert info.value.limit == "max_line_length"


def test_limits_apply_per_packet(split: Splitter) -> None:
    # many packets, each within the limits, may arrive in one read larger than every limit
    data = b"Event: A\r\nX: 1\r\n\r\n" * 200
    messages = parse(data, split, max_packet_size=20, max_headers=2, max_line_length=10)
    assert len(messages) == 200


def test_limits_apply_per_packet_with_legacy(split: Splitter) -> None:
    data = (LEGACY_HEAD + b"out\n" + LEGACY_END + b"Event: A\r\nX: 1\r\n\r\n") * 50
    messages = parse(data, split, max_packet_size=80, max_headers=4, max_line_length=20)
    assert len(messages) == 100
