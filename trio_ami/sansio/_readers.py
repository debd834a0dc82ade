"""The parser's readers, one per mode: each takes what it can from the receive buffer.

A reader is called with the buffer, what the stream's reading needs (:class:`Reading`) and the
list its messages go to. It returns the mode to read on in (the same or another) once it has
made progress, or ``None`` when the buffer holds nothing more it can take. The parser keeps the
mode and calls ``READERS[mode]`` in turn; no reader guesses the mode from what it finds.

- ``BANNER``: the server's first line, ``Asterisk Call Manager/X.Y.Z``, with no blank line.
- ``PACKETS``: whole packets, every complete one in the buffer at once: the block up to the last
  terminator is split on its blank lines in one C-level pass. Bare ``\\n`` line ends, the
  ``\\r\\n\\n`` ending and stray empty lines between packets are accepted; a block that has any
  is first rewritten to ``\\r\\n``.
- ``COMMAND_OUTPUT``: the legacy ``Command`` answer at the start of the buffer (``Response:
  Follows`` / ``Privilege: Command``, raw output, ``--END COMMAND--``). Its output may hold blank
  lines, so it is framed on its own, cut at its end marker.
- ``MIXED``: packets, once the stream has shown a legacy answer. Such an answer starts a packet,
  and a packet starts after a blank line, so one C-level search of the block about to be framed
  finds the next one: the packets before it are framed in bulk, then the answer.

A stream starts in ``PACKETS`` (after ``BANNER``) and frames each block in one pass; a legacy
answer among the packets of a block sends it back to be framed in ``MIXED``. No search covers
bytes that one of its kind covered before, bar a few bytes of overlap, so each byte is examined
a bounded number of times whatever the chunking.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import partial
from io import IncrementalNewlineDecoder  # a text codec helper: no I/O happens here
from itertools import repeat

import attrs

from ._errors import LimitExceeded, RemoteProtocolError
from ._messages import Banner, Event, Message, Response, check_encoding, message_class
from ._receivebuffer import LINE_ENDS, Limits, ReceiveBuffer, skip_empty_lines

__all__ = [
    "READERS",
    "Mode",
    "Reader",
    "Reading",
    "read_banner",
    "read_block",
    "read_command_output",
]

_COMMAND_START = b"Response: Follows"
_COMMAND_HEAD = b"Response: Follows\r\nPrivilege: Command\r\n"
# How a framed piece of a block starts when it is (the start of) a legacy answer.
_COMMAND_PIECE = b"Response: Follows\r\nPrivilege: Command"
# What the search for a legacy answer looks for: its head and the \n before it. The head starts a
# packet when the bytes up to that \n end with a blank line.
_COMMAND_AFTER_LINE = b"\n" + _COMMAND_HEAD
_BLANK_LINE_ENDS = (b"\n\n", b"\n\r\n")
_COMMAND_END = b"--END COMMAND--"
_EVENT_PREFIX = repeat(b"Event: ")  # shared infinite argument stream for map()
_BANNER_PRODUCT = "Asterisk Call Manager"


class Mode(enum.Enum):
    """What the bytes at the start of the receive buffer are."""

    # Members are singletons compared by identity: hashed as such in C, not by Enum.__hash__ in
    # Python, since the parser looks its reader up by mode on every read.
    __hash__ = object.__hash__

    BANNER = "banner"
    PACKETS = "packets"
    MIXED = "packets and legacy Command answers"
    COMMAND_OUTPUT = "a legacy Command answer"


@attrs.define(eq=False)
class Reading:
    """What the readers of one stream share."""

    #: The encoding of the stream.
    encoding: str
    limits: Limits
    #: The encoding messages are given: ``None`` for UTF-8 (what they decode with unless told).
    codec: str | None = attrs.field(init=False)
    #: The server's banner, once read.
    banner: Banner | None = None
    # A block no longer than this cannot hold a packet that breaks a limit.
    check_above: int = attrs.field(init=False)
    # Tells which line ends a block holds, in one C-level pass.
    line_ends: IncrementalNewlineDecoder = attrs.field(
        init=False, factory=lambda: IncrementalNewlineDecoder(None, translate=False)
    )

    def __attrs_post_init__(self) -> None:
        self.codec = check_encoding(self.encoding)  # fails now on one AMI cannot use
        self.check_above = self.limits.check_above


Reader = Callable[[ReceiveBuffer, Reading, list[Message]], "Mode | None"]


def read_banner(buf: ReceiveBuffer, reading: Reading, out: list[Message]) -> Mode | None:
    newline = buf.find_line_end()
    if newline < 0:
        buf.check_tail(skip_empty_lines(buf.data, 0))
        return None
    raw = buf.head(newline).rstrip(b"\r")
    reading.limits.check_lines(1, len(raw))
    line = raw.decode(reading.encoding, "surrogateescape")
    product, slash, version = line.partition("/")
    if not slash or not product.startswith(_BANNER_PRODUCT):
        raise RemoteProtocolError(f"not an Asterisk Manager Interface banner: {line[:80]!r}")
    reading.banner = Banner(text=line, product=product, version=version.strip())
    buf.consume(newline + 1)
    return Mode.PACKETS


def read_command_output(buf: ReceiveBuffer, reading: Reading, out: list[Message]) -> Mode | None:
    data = buf.data
    start = skip_empty_lines(data, 0)
    end = buf.command_end(start)
    if end < 0:
        buf.check_tail(start, 1)  # its --END COMMAND-- line is not one of its lines
        return None
    out.append(_command_response(buf.head(end)[start:], reading))
    buf.consume(end)
    return Mode.MIXED


def read_block(mode: Mode, buf: ReceiveBuffer, reading: Reading, out: list[Message]) -> Mode | None:
    """Frames the whole packets at the start of the buffer, up to the next legacy answer."""
    data = buf.data
    start = skip_empty_lines(data, 0) if data.startswith(LINE_ENDS) else 0
    if data.startswith(_COMMAND_START, start):
        if data.startswith(_COMMAND_HEAD, start):
            return Mode.COMMAND_OUTPUT
        if len(data) - start < len(_COMMAND_HEAD) and _COMMAND_HEAD.startswith(data[start:]):
            buf.check_tail(start)
            return None  # too early to tell a legacy answer from another Follows response
    whole = end = buf.whole_packets_end()
    if not whole:
        buf.check_tail(start)
        return None
    if mode is Mode.MIXED:
        head = _command_head(data, start, whole)
        if head >= 0:
            end = head  # the packets before it; the answer is read in COMMAND_OUTPUT
    messages = _parse_block(buf.head(end), reading, out, mode is Mode.PACKETS)
    if messages is None:  # a legacy Command answer: its output may hold blank lines
        return Mode.MIXED  # frame the same block again, up to the answer
    out += messages
    buf.consume(end)
    if end < whole:
        return mode
    # What is left holds no whole packet: measured now rather than in another turn (one turn
    # less per read: 1.5 us of the 7.7 a read of one packet cost).
    start = skip_empty_lines(data, 0) if data.startswith(LINE_ENDS) else 0
    buf.check_tail(start, data.startswith(_COMMAND_HEAD, start))
    return None


READERS: dict[Mode, Reader] = {
    Mode.BANNER: read_banner,
    # One function reads packets in both modes: the mode says whether it searches for legacy heads.
    Mode.PACKETS: partial(read_block, Mode.PACKETS),
    Mode.MIXED: partial(read_block, Mode.MIXED),
    Mode.COMMAND_OUTPUT: read_command_output,
}


def _command_head(buf: bytearray, start: int, end: int) -> int:
    """Offset of the first legacy answer that starts a packet after ``start`` and before
    ``end``, or -1.

    ``start`` is where the first packet in ``buf`` starts; a later one starts right after a
    blank line (``\\n\\n`` or ``\\n\\r\\n``). ``buf[:end]`` ends with a terminator, and a head
    holds no blank line, so a head that starts before ``end`` lies wholly before it.
    """
    while True:
        found = buf.find(_COMMAND_AFTER_LINE, start, end)
        if found < 0:
            return -1
        if buf.endswith(_BLANK_LINE_ENDS, 0, found + 1):
            return found + 1
        start = found + 1  # a header line inside a packet: keep looking


def _parse_block(
    block: bytes, reading: Reading, out: list[Message], detect_command: bool
) -> list[Message] | None:
    """The messages in bytes holding only whole packets.

    With ``detect_command``, ``None`` if a packet may start a legacy Command answer (the
    caller then searches the block for legacy answers, which tells for sure). A limit breach
    is raised after the messages before the offending packet went to ``out``.
    """
    # One C pass tells which line ends the block has; any but \r\n (a bare \n, a lone \r taken
    # for a line end) sends it through the exact rewrite.
    detector = reading.line_ends
    detector.reset()
    detector.decode(block.decode("latin-1"), True)
    if detector.newlines != "\r\n":
        block = block.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    packets = block.split(b"\r\n\r\n")
    packets.pop()  # after the last terminator: nothing, or a stray line end
    # Built before the limit checks: the pieces of a legacy answer are not packets (the answer
    # is measured on its own bytes once it is framed), and they are found here.
    messages = _build(packets, reading, detect_command)
    if messages is not None and len(block) > reading.check_above:
        for index, packet in enumerate(packets):
            try:
                reading.limits.check_packet(packet)
            except LimitExceeded:
                # The messages before the offending packet stand.
                out += _build(packets[:index], reading, detect_command) or ()
                raise
    return messages


def _build(packets: list[bytes], reading: Reading, detect_command: bool) -> list[Message] | None:
    """One message per framed packet; ``None`` as for :func:`_parse_block`."""
    # Every packet is first made an event, in bulk (most packets are events); then the others,
    # found by C-level searches, are made what they are: responses in bulk too.
    is_event = list(map(bytes.startswith, packets, _EVENT_PREFIX))
    messages: list[Message | None] = Event.from_packets(packets, reading.codec)  # type: ignore[assignment]
    responses: list[int] = []
    index = 0
    dropped = False
    while True:
        try:
            index = is_event.index(False, index)
        except ValueError:
            break
        packet = packets[index]
        if packet.startswith(b"\r\n"):  # empty lines between packets
            packet = packets[index] = packet[skip_empty_lines(packet, 0) :]
        if packet.startswith(b"Response: "):
            if detect_command and packet.startswith(_COMMAND_PIECE):
                return None
            responses.append(index)
        elif packet:
            messages[index] = message_class(packet).from_packets([packet], reading.codec)[0]
        else:
            messages[index] = None
            dropped = True
        index += 1
    if responses:
        answers = Response.from_packets(list(map(packets.__getitem__, responses)), reading.codec)
        any(map(messages.__setitem__, responses, answers))
    if dropped:
        return [message for message in messages if message is not None]
    return messages  # type: ignore[return-value]


def _command_response(packet: bytes, reading: Reading) -> Response:
    """The legacy Command answer in ``packet``, which ends with its blank line."""
    limits = reading.limits
    # Measured without the blank line that ends it, every line end a line's.
    body = packet[: packet.rfind(_COMMAND_END)]
    limits.check_size(packet.rfind(b"\n", 0, len(packet) - 1) + 1)
    lines = packet.split(b"\n")
    lines.pop()  # after the final line end
    # Its lines: the headers and the output, not the --END COMMAND-- line. A line is measured
    # without its \r, which only matters once the longest with it is too long: one C-level pass
    # rather than a generator over the lines (legacy_64k: 0.94 of the speed before the split into
    # readers with the generator, 1.00 without; pairwise medians of 15 alternated runs).
    longest = max(map(len, lines))
    if longest > limits.max_line_length:
        longest = max(len(line.rstrip(b"\r")) for line in lines)
    limits.check_lines(len(lines) - 2, longest)
    encoding = reading.encoding
    text = body.decode(encoding, "surrogateescape")
    # Headers: Response, Privilege and an optional ActionID, each ending in \r\n; the raw
    # output after them ends lines with a bare \n and may look like headers.
    head_lines = text.split("\r\n", 3)
    heads = head_lines[:2]
    rest = head_lines[2]
    if len(head_lines) > 3 and rest.startswith("ActionID:") and "\n" not in rest:
        heads.append(rest)
        rest = head_lines[3]
    else:
        rest = "\r\n".join(head_lines[2:])
    output = rest.replace("\r\n", "\n").split("\n")
    if not output[-1]:
        output.pop()
    head = "\r\n".join(heads).encode(encoding, "surrogateescape")
    response = Response(head, tuple(output))
    if reading.codec is not None:
        Response.encoding.fill((response,), reading.codec)
    return response
