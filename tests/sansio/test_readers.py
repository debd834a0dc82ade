"""The receive buffer and the readers, one per mode, that PacketParser is made of."""

from __future__ import annotations

import pytest

from trio_ami.sansio import Event, LimitExceeded, Message, RemoteProtocolError, Response
from trio_ami.sansio._readers import READERS, Mode, Reading
from trio_ami.sansio._receivebuffer import Limits, ReceiveBuffer, skip_empty_lines

LIMITS = Limits(max_packet_size=1000, max_headers=10, max_line_length=100)
ANSWER = (
    b"Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\n"
    b"out\n\nx\n--END COMMAND--\r\n\r\n"
)


def buffer(data: bytes) -> ReceiveBuffer:
    buf = ReceiveBuffer(LIMITS)
    buf.data += data
    return buf


def read(mode: Mode, buf: ReceiveBuffer) -> tuple[Mode | None, list[Message], Reading]:
    reading = Reading("utf-8", LIMITS)
    out: list[Message] = []
    return READERS[mode](buf, reading, out), out, reading


def test_every_mode_has_its_reader() -> None:
    assert set(READERS) == set(Mode)


@pytest.mark.parametrize("name", ["max_packet_size", "max_headers", "max_line_length"])
def test_limits_must_be_positive(name: str) -> None:
    values = {"max_packet_size": 1, "max_headers": 1, "max_line_length": 1, name: 0}
    with pytest.raises(ValueError, match=f"{name} must be positive, not 0"):
        Limits(**values)


@pytest.mark.parametrize(
    ("data", "pos", "after"),
    [(b"x", 0, 0), (b"\r\n\n\r\nx", 0, 5), (b"a\n\r", 1, 2), (b"\n\n", 0, 2), (b"ab\r\n", 2, 4)],
)
def test_skip_empty_lines(data: bytes, pos: int, after: int) -> None:
    assert skip_empty_lines(data, pos) == after
    assert skip_empty_lines(bytearray(data), pos) == after


def test_the_terminator_search_resumes_where_it_stopped() -> None:
    buf = buffer(b"Event: A\r\n")
    assert buf.whole_packets_end() == 0
    buf.data += b"\r"
    assert buf.whole_packets_end() == 0
    buf.data += b"\nEvent: B\n"
    assert buf.whole_packets_end() == 12  # the terminator cut between two reads is found
    buf.data += b"\n"
    assert buf.whole_packets_end() == 22  # a later \n\n ends the last packet
    buf.consume(12)
    assert buf.data == b"Event: B\n\n"
    assert buf.whole_packets_end() == 10  # the cursors moved with the bytes


@pytest.mark.parametrize(
    ("tail", "end"),
    [
        (b"--END COMMAND--", -1),
        (b"--END COMMAND--\r", -1),
        (b"--END COMMAND--\r\n", -1),
        (b"--END COMMAND--\r\n\r", -1),
        (b"--END COMMAND--\n\n", 2 + 17),
        (b"--END COMMAND-- y\n--END COMMAND--\r\n\r\n", 2 + 18 + 19),
        (b"--END COMMAND--\rx\n--END COMMAND--\r\nz", -1),
    ],
)
def test_the_end_of_a_command_answer(tail: bytes, end: int) -> None:
    buf = buffer(b"\r\n" + tail)
    assert buf.command_end(2) == end


def test_a_command_answer_is_found_however_it_arrives() -> None:
    buf = ReceiveBuffer(LIMITS)
    ends = []
    for byte in ANSWER:
        buf.data.append(byte)
        ends.append(buf.command_end(0))
    assert ends == [-1] * (len(ANSWER) - 1) + [len(ANSWER)]


def test_the_banner_reader() -> None:
    buf = buffer(b"Asterisk Call Manager/11.0.0")
    mode, out, reading = read(Mode.BANNER, buf)
    assert mode is None
    buf.data += b"\r\nEvent: A"
    reading_mode = READERS[Mode.BANNER](buf, reading, out)
    assert reading_mode is Mode.PACKETS
    assert reading.banner is not None and reading.banner.version == "11.0.0"
    assert buf.data == b"Event: A"
    with pytest.raises(RemoteProtocolError, match="not an Asterisk Manager Interface banner"):
        read(Mode.BANNER, buffer(b"SSH-2.0\r\n"))


def test_packets_until_a_command_answer_shows_up() -> None:
    buf = buffer(b"Event: A\r\n\r\nResponse: Success\r\n\r\n" + ANSWER + b"Event: B\r\n\r\nEv")
    mode, out, reading = read(Mode.PACKETS, buf)
    # A Command answer among the packets: the same block is framed again, searching for it.
    assert (mode, out) == (Mode.MIXED, [])
    assert READERS[Mode.MIXED](buf, reading, out) is Mode.MIXED
    assert [type(m) for m in out] == [Event, Response]
    assert READERS[Mode.MIXED](buf, reading, out) is Mode.COMMAND_OUTPUT
    assert READERS[Mode.COMMAND_OUTPUT](buf, reading, out) is Mode.MIXED
    assert READERS[Mode.MIXED](buf, reading, out) is None
    legacy = out[2]
    assert isinstance(legacy, Response) and legacy.output == ["out", "", "x"]
    assert [m.name for m in out] == ["A", "Success", "Follows", "B"]
    assert buf.data == b"Ev"


def test_a_command_answer_in_progress() -> None:
    buf = buffer(ANSWER[:30])
    mode, out, reading = read(Mode.PACKETS, buf)
    assert (mode, out) == (None, [])  # too early to tell it from another Follows response
    buf.data += ANSWER[30:50]
    assert READERS[Mode.PACKETS](buf, reading, out) is Mode.COMMAND_OUTPUT
    assert READERS[Mode.COMMAND_OUTPUT](buf, reading, out) is None
    buf.data += ANSWER[50:]
    assert READERS[Mode.COMMAND_OUTPUT](buf, reading, out) is Mode.MIXED
    assert len(out) == 1 and not buf.data


def test_the_tail_is_measured_as_it_grows() -> None:
    buf = ReceiveBuffer(LIMITS)
    reading = Reading("utf-8", LIMITS)
    out: list[Message] = []
    buf.data += b"Event: A\r\n" + b"K: v\r\n" * 8
    assert READERS[Mode.PACKETS](buf, reading, out) is None
    buf.data += b"K: v\r\nK: v\r\n"  # the eleventh line
    with pytest.raises(LimitExceeded) as caught:
        READERS[Mode.PACKETS](buf, reading, out)
    assert caught.value.limit == "max_headers"
