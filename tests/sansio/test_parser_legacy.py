"""PacketParser with legacy Command answers among other packets: framing, cost, limits."""

from __future__ import annotations

from itertools import pairwise
from typing import NamedTuple, SupportsIndex

import pytest
from helpers.splitting import Splitter, bytewise, drain, feed, parse, random_chunks, split_at
from hypothesis import given, settings, strategies as st

from trio_ami.sansio import Event, LimitExceeded, Message, PacketParser, Response

HEAD = b"Response: Follows\r\nPrivilege: Command\r\n"
END = b"--END COMMAND--\r\n\r\n"
OK = b"Event: Fine\r\n\r\n"
LEGACY_PAIRS = (("Response", "Follows"), ("Privilege", "Command"))


class Expected(NamedTuple):
    kind: type[Message]
    headers: tuple[tuple[str, str], ...]
    output: list[str] | None  # legacy Command output


def seen(message: Message) -> tuple[object, ...]:
    """What a message is: its kind, bytes, headers and (for a response) its output."""
    output = message.output if isinstance(message, Response) else None
    legacy = message.is_legacy_command if isinstance(message, Response) else None
    return type(message), message.to_bytes(), message.headers, output, legacy


def check(messages: list[Message], expected: list[Expected]) -> None:
    assert [type(m) for m in messages] == [e.kind for e in expected]
    assert [m.headers for m in messages] == [e.headers for e in expected]
    for message, item in zip(messages, expected, strict=True):
        if isinstance(message, Response):
            assert message.is_legacy_command == (item.output is not None)
            assert message.output == (item.output or [])
        if item.output is not None or item.headers[:2] != LEGACY_PAIRS:
            # (Sent again with \r\n line ends, such a response would start a legacy answer.)
            assert parse(message.to_bytes()) == [message]


# -- framing ------------------------------------------------------------------------------------
def answer(action_id: bytes, output: bytes, end: bytes = END) -> bytes:
    return HEAD + (b"ActionID: " + action_id + b"\r\n" if action_id else b"") + output + end


def legacy(action_id: str, output: list[str]) -> Expected:
    heads = (("ActionID", action_id),) if action_id else ()
    return Expected(Response, LEGACY_PAIRS + heads, output)


def event(name: str, *pairs: tuple[str, str]) -> Expected:
    return Expected(Event, (("Event", name), *pairs), None)


MIXED = (
    b"\r\n\n"  # stray empty lines before an answer at the very start
    + answer(b"1", b"\nKey: value\n\nEvent: Fake\r\n\r\nx --END COMMAND-- y\n")
    + b"Event: A\r\nX: 1\r\n\r\n"
    + b"Response: Follows\r\nActionID: 2\r\n\r\n"  # a Follows response that is no answer
    + b"Event: B\nResponse: Follows\r\nPrivilege: Command\r\n\n"  # a head inside a packet
    + b"\r\n\r\n\n"
    + answer(b"3", b"--END COMMAND--\nz\n", b"--END COMMAND--\n\n")
    + answer(b"", b"")  # right after the previous one
    + answer(b"4", b"a--END COMMAND--\rb\ncrlf\r\n\n")
    + b"Event: C\r\n\r\n\r\n"
    + answer(b"5", b"last\n")  # at the very end
)
MIXED_EXPECTED = [
    legacy("1", ["", "Key: value", "", "Event: Fake", "", "x --END COMMAND-- y"]),
    event("A", ("X", "1")),
    Expected(Response, (("Response", "Follows"), ("ActionID", "2")), None),
    event("B", ("Response", "Follows"), ("Privilege", "Command")),
    legacy("3", ["--END COMMAND--", "z"]),
    legacy("", []),
    legacy("4", ["a--END COMMAND--\rb", "crlf", ""]),
    event("C"),
    legacy("5", ["last"]),
]


def test_legacy_answers_among_packets(split: Splitter) -> None:
    check(parse(MIXED, split), MIXED_EXPECTED)


@pytest.mark.parametrize("cut", range(len(MIXED) + 1))
def test_legacy_answers_among_packets_cut_anywhere(cut: int) -> None:
    check(parse(MIXED, lambda data: split_at(data, [cut])), MIXED_EXPECTED)


def test_head_inside_a_packet_after_an_answer(split: Splitter) -> None:
    # Once an answer was seen, blocks are searched for heads: one that does not start a packet
    # (after a header line, or after a line that is only a lone CR) is a header.
    data = (
        answer(b"1", b"out\n")
        + b"Event: A\r\n"
        + HEAD
        + b"\r\nEvent: B\r\n\r\r\n"
        + HEAD
        + b"\r\n"
        + answer(b"2", b"")
    )
    messages = parse(data, split)
    check(
        messages,
        [
            legacy("1", ["out"]),
            event("A", ("Response", "Follows"), ("Privilege", "Command")),
            event("B", ("", "\r"), ("Response", "Follows"), ("Privilege", "Command")),
            legacy("2", []),
        ],
    )


def test_messages_before_an_answer_come_out_before_its_end() -> None:
    parser = PacketParser(expect_banner=False)
    parser.receive_data(answer(b"1", b"") + OK + HEAD + b"partial\n\nout")
    assert [m.name for m in parser.take_messages()] == ["Follows", "Fine"]
    assert parser.buffered_bytes == len(HEAD + b"partial\n\nout")
    parser.receive_data(b"put\n" + END + OK)
    [answer_two, fine] = parser.take_messages()
    assert answer_two.output == ["partial", "", "output"]  # type: ignore[attr-defined]
    assert fine.name == "Fine"
    assert parser.buffered_bytes == 0


# A legacy output line, each ended by a bare \n: blank, looking like a header or an answer's
# head, holding the end marker, bytes not valid UTF-8.
output_lines = st.sampled_from(
    [
        b"",
        b"plain output",
        b"  indented: like a header",
        b"Event: Fake",
        b"Response: Follows",
        b"Privilege: Command",
        b"ActionID: fake",
        b"x --END COMMAND-- y",
        b"--END COMMAND--",
        b"a--END COMMAND--\rb",
        "Zoë 日本".encode(),
        b"Jos\xe9 \xff",
    ]
)
eol = st.sampled_from([b"\r\n", b"\n"])


def no_early_end(lines: list[bytes]) -> bool:
    # The marker at the end of a line followed by a blank line ends the answer.
    return all(not (a == b"--END COMMAND--" and b == b"") for a, b in pairwise(lines))


@st.composite
def legacy_answers(draw: st.DrawFn) -> tuple[bytes, Expected]:
    action_id = draw(st.sampled_from(["", "cmd-1", "x: y"]))
    lines = draw(st.lists(output_lines, max_size=6).filter(no_early_end))
    ends = [b"\r\n" if draw(st.booleans()) and b"ActionID" not in line else b"\n" for line in lines]
    output = b"".join(line + end for line, end in zip(lines, ends, strict=True))
    data = answer(action_id.encode(), output, b"--END COMMAND--" + draw(eol) + draw(eol))
    text = [line.decode("utf-8", "surrogateescape") for line in lines]
    return data, legacy(action_id, text)


@st.composite
def other_packets(draw: st.DrawFn) -> tuple[bytes, Expected]:
    pairs = draw(
        st.sampled_from(
            [
                [("Event", "Newchannel"), ("Channel", "PJSIP/1-0001"), ("Uniqueid", "1.1")],
                [("Event", "X"), ("Response", "Follows"), ("Privilege", "Command")],
                [("Response", "Success"), ("ActionID", "7"), ("Ping", "Pong")],
                [("Response", "Follows"), ("ActionID", "3")],
                [("Response", "Follows"), ("Privilege", "Commander")],
                [("Response", "Follows"), ("Privilege", "Command"), ("X", "1")],  # bare \n only
                [("Action", "Ping")],
            ]
        )
    )
    bare = pairs[-1] == ("X", "1")
    data = b"".join(f"{k}: {v}".encode() + (b"\n" if bare else draw(eol)) for k, v in pairs)
    data += b"\n" if bare else draw(eol)
    kinds: dict[str, type[Message]] = {"Event": Event, "Response": Response}
    return data, Expected(kinds.get(pairs[0][0], Message), tuple(pairs), None)


@st.composite
def mixed_streams(draw: st.DrawFn) -> tuple[bytes, list[Expected]]:
    """Legacy answers and other packets in any order, stray empty lines anywhere between."""
    stray = st.lists(eol, max_size=2).map(b"".join)
    items = draw(st.lists(legacy_answers() | other_packets(), max_size=10))
    data = draw(stray) + b"".join(item + draw(stray) for item, _ in items)
    return data, [expected for _, expected in items]


@settings(max_examples=150, deadline=None)
@given(mixed_streams(), st.lists(st.integers(0, 3000), max_size=12), st.integers(0, 2**16))
def test_chunking_never_changes_legacy_framing(
    stream: tuple[bytes, list[Expected]], cuts: list[int], seed: int
) -> None:
    data, expected = stream
    whole = parse(data)
    check(whole, expected)
    for split in (bytewise, lambda d: split_at(d, cuts), random_chunks(seed, 64)):
        messages = parse(data, split)
        assert [seen(m) for m in messages] == [seen(m) for m in whole]


# -- cost ---------------------------------------------------------------------------------------
class CountingBuffer(bytearray):
    """A receive buffer that adds up how many bytes its searches examine."""

    examined = 0

    def _bounds(self, start: SupportsIndex | None, end: SupportsIndex | None) -> tuple[int, int]:
        return slice(start, end).indices(len(self))[:2]

    def find(  # type: ignore[override]
        self, sub: bytes, start: SupportsIndex | None = None, end: SupportsIndex | None = None
    ) -> int:
        low, high = self._bounds(start, end)
        found = super().find(sub, low, high)
        self.examined += max(0, (found + len(sub) if found >= 0 else high) - low)
        return found

    def rfind(  # type: ignore[override]
        self, sub: bytes, start: SupportsIndex | None = None, end: SupportsIndex | None = None
    ) -> int:
        low, high = self._bounds(start, end)
        found = super().rfind(sub, low, high)
        self.examined += max(0, high - (found if found >= 0 else low))
        return found

    def count(  # type: ignore[override]
        self, sub: bytes, start: SupportsIndex | None = None, end: SupportsIndex | None = None
    ) -> int:
        low, high = self._bounds(start, end)
        self.examined += max(0, high - low)
        return super().count(sub, low, high)

    def index(self, *args: object) -> int:
        raise AssertionError("not counted: count it before using it")

    rindex = index


EVENT = b"Event: Newchannel\r\nChannel: PJSIP/1000-00000001\r\nUniqueid: 1.1\r\n" + (
    b"ChanVariable: x=y\r\n" * 8 + b"\r\n"
)
ANSWER = answer(
    b"cmd-1", b"".join(b"line %d\n\nKey: value --END COMMAND--\n" % i for i in range(40))
)


def events_with_answers(size: int, every: int) -> tuple[bytes, int]:
    """About ``size`` bytes of events with an answer at ``every // 2``, then every ``every``."""
    parts, length, due = [], 0, every // 2
    while length < size:
        if length >= due:
            parts.append(ANSWER)
            due += every
        else:
            parts.append(EVENT)
        length += len(parts[-1])
    return b"".join(parts), len(parts)


@pytest.mark.parametrize(
    ("size", "every", "chunk"),
    [
        (1_000_000, 1_000_000, 1_000_000),  # one chunk holding one answer
        (2_000_000, 64 * 1024, 64 * 1024),  # one answer per 64 KiB chunk
        (100_000, 20_000, 7),  # small reads
    ],
    ids=["1MB-one-chunk", "64KiB-chunks", "7B-chunks"],
)
def test_searches_examine_each_byte_a_bounded_number_of_times(
    size: int, every: int, chunk: int
) -> None:
    data, count = events_with_answers(size, every)
    parser = PacketParser(expect_banner=False)
    # The test swaps the parser's private receive buffer for one that counts the bytes its
    # find, rfind and count calls examine, to tell the cost of framing without a clock (its
    # startswith and endswith calls look at a few bytes each). index and rindex refuse, and the
    # buffer must still be this one at the end.
    buffer = CountingBuffer()
    parser._buffer = buffer  # noqa: SLF001 - see above
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    feed(parser, chunks)
    messages = drain(parser)
    assert parser._buffer is buffer  # noqa: SLF001 - nothing searched another buffer
    assert parser.buffered_bytes == 0
    assert len(messages) == count
    answers = sum(isinstance(m, Response) and m.is_legacy_command for m in messages)
    assert answers == data.count(HEAD) > 0
    # A few searches see each byte (terminators, the limit checks' line count, legacy heads or
    # end markers), and each read's searches overlap the previous read's by a few bytes at most
    # (an end marker's length). Framing that rescans the buffer for each packet of a block
    # holding an answer examines about (block size / packet size) times more.
    assert 0 < buffer.examined <= 4 * len(data) + 32 * len(chunks)


# -- limits -------------------------------------------------------------------------------------
LINES_30 = b"ab\n" * 30  # bare \n line ends: 30 bytes more once rewritten to \r\n


def size_of(output: bytes) -> int:
    """The size of an answer: its bytes, raw line ends kept, without its final blank line."""
    return len(answer(b"1", output)) - len(b"\r\n")


@pytest.mark.parametrize(
    ("output", "limit", "value"),
    [
        (LINES_30, "max_packet_size", size_of(LINES_30)),
        (b"x\n\n" + LINES_30, "max_packet_size", size_of(b"x\n\n" + LINES_30)),
        (b"a\nb\n", "max_headers", 5),  # the --END COMMAND-- line is not counted
        (b"\n" + LINES_30, "max_headers", 34),
    ],
    ids=["size", "size-after-blank-line", "headers", "headers-after-blank-line"],
)
def test_legacy_answer_is_measured_on_its_own_bytes(
    split: Splitter, output: bytes, limit: str, value: int
) -> None:
    data = OK + answer(b"1", output) + OK
    within = parse(data, split, **{limit: value})  # type: ignore[arg-type]
    assert [m.name for m in within] == ["Fine", "Follows", "Fine"]
    parser = PacketParser(expect_banner=False, **{limit: value - 1})  # type: ignore[arg-type]
    feed(parser, split(data))
    assert parser.next_message() == Event("Event: Fine")
    with pytest.raises(LimitExceeded) as info:
        parser.next_message()
    assert info.value.limit == limit


@pytest.mark.parametrize(
    "data",
    [
        b"Event: A\r\nLong: " + b"x" * 60 + b"\r\nB: 1\r\n",
        b"Event: A\nLong: " + b"x" * 60 + b"\nB: 1\n",
        HEAD + b"y" * 60 + b"\nmore\n",
    ],
    ids=["crlf", "lf", "legacy"],
)
def test_long_complete_line_of_an_incomplete_packet(split: Splitter, data: bytes) -> None:
    # Fed whole or one byte at a time, the long line is too long before the packet ends.
    parser = PacketParser(expect_banner=False, max_line_length=40)
    feed(parser, split(OK + data))
    assert parser.next_message() == Event("Event: Fine")
    with pytest.raises(LimitExceeded) as info:
        parser.next_message()
    assert info.value.limit == "max_line_length"
