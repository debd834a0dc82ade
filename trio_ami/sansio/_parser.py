"""The incremental AMI packet parser: bytes in, ``Message`` objects out. No I/O.

Packets are framed on bytes and never decoded here: a message keeps its packet's bytes and
decodes what is asked of it, so a multibyte character split across reads is never damaged and
a consumer that reads only event names decodes only those. Every complete packet in the buffer
is framed at once: the parser finds the last packet terminator among the bytes that arrived
since the previous search (it never rescans older bytes) and splits everything before it on the
blank lines in one C-level pass. Bare ``\\n`` line ends, the ``\\r\\n\\n`` ending and stray empty
lines between packets are accepted; a block that has any is first rewritten to ``\\r\\n``.

The legacy ``Command`` answer (``Response: Follows`` / ``Privilege: Command``, raw output,
``--END COMMAND--``) may contain blank lines, so it is framed on its own: the bytes before it are
framed in bulk, the answer is cut at its end marker, and bulk framing resumes after it. Such an
answer starts a packet, and a packet starts after a blank line, so one C-level search of the block
about to be framed finds the next one. That search runs only once the stream has shown a packet
that starts like a legacy answer (the block it shows up in is framed again): a stream without
any frames each block in one pass. No search covers bytes that one of its kind covered before,
bar a few bytes of overlap, so each byte is examined a bounded number of times whatever the
chunking.

Limits are measured on packets with ``\\r\\n`` line ends: a packet's size counts its lines with
their line ends, not the blank line that ends it; a line's length leaves out its line end; the
header count is the number of lines. An incomplete packet is measured the same way on its
complete lines (and the line in progress, for the line length), so a limit is hit as soon as it
is certain, whatever the chunking.
"""

from __future__ import annotations

from io import IncrementalNewlineDecoder  # a text codec helper: no I/O happens here
from itertools import repeat

from ._errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from ._messages import (
    Banner,
    Event,
    Message,
    Response,
    _kind,
    _new_instance,
    _set_legacy_output,
    _set_raw,
    with_encoding,
)

__all__ = [
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_LINE_LENGTH",
    "DEFAULT_MAX_PACKET_SIZE",
    "PacketParser",
]

#: Largest packet accepted, in bytes. Legacy ``Command`` output arrives as one packet.
DEFAULT_MAX_PACKET_SIZE = 8 * 1024 * 1024
#: Most lines in one packet (modern ``Command`` output is one ``Output:`` line per CLI line).
DEFAULT_MAX_HEADERS = 100_000
#: Longest line accepted, in bytes.
DEFAULT_MAX_LINE_LENGTH = 256 * 1024

_LEGACY_START = b"Response: Follows"
_LEGACY_HEAD = b"Response: Follows\r\nPrivilege: Command\r\n"
# How a framed piece of a block starts when it is (the start of) a legacy answer.
_LEGACY_PIECE = b"Response: Follows\r\nPrivilege: Command"
# What the search for a legacy answer looks for: its head and the \n before it. The head starts a
# packet when the bytes up to that \n end with a blank line.
_LEGACY_AFTER_LINE = b"\n" + _LEGACY_HEAD
_BLANK_LINE_ENDS = (b"\n\n", b"\n\r\n")
_LEGACY_END = b"--END COMMAND--"
_EVENT_PREFIX = repeat(b"Event: ")  # shared infinite argument stream for map()
_BANNER_PRODUCT = "Asterisk Call Manager"


def _terminator_end(buf: bytearray, start: int, end: int) -> int:
    """Offset just past the last packet terminator in ``buf[start:end]``, or -1.

    A packet ends with an empty line: ``\\n\\n`` or ``\\n\\r\\n`` on the wire.
    """
    crlf = buf.rfind(b"\n\r\n", start, end)
    if crlf < 0:
        lf = buf.rfind(b"\n\n", start, end)
        return lf + 2 if lf >= 0 else -1
    # Only a "\n\n" after that one could end later: no need to scan the whole range for it.
    lf = buf.rfind(b"\n\n", crlf + 2, end)
    return lf + 2 if lf >= 0 else crlf + 3


def _skip_empty_lines(buf: bytes | bytearray, pos: int) -> int:
    """Offset of the first byte at or after ``pos`` that does not start an empty line."""
    while True:
        if buf.startswith(b"\r\n", pos):
            pos += 2
        elif buf.startswith(b"\n", pos):
            pos += 1
        else:
            return pos


def _legacy_head(buf: bytearray, start: int, end: int) -> int:
    """Offset of the first legacy answer that starts a packet after ``start`` and before
    ``end``, or -1.

    ``start`` is where the first packet in ``buf`` starts; a later one starts right after a
    blank line (``\\n\\n`` or ``\\n\\r\\n``). ``buf[:end]`` ends with a terminator, and a head
    holds no blank line, so a head that starts before ``end`` lies wholly before it.
    """
    while True:
        found = buf.find(_LEGACY_AFTER_LINE, start, end)
        if found < 0:
            return -1
        if buf.endswith(_BLANK_LINE_ENDS, 0, found + 1):
            return found + 1
        start = found + 1  # a header line inside a packet: keep looking


def _line_end_after(buf: bytearray, pos: int) -> int:
    """Offset past the line end at ``pos`` (``\\r\\n`` or ``\\n``), -1 if incomplete, -2 if none."""
    if pos >= len(buf):
        return -1
    if buf[pos] == 0x0A:
        return pos + 1
    if buf[pos] == 0x0D:
        if pos + 1 >= len(buf):
            return -1
        return pos + 2 if buf[pos + 1] == 0x0A else -2
    return -2


class PacketParser:
    """Turns the byte stream from an AMI server (or client) into messages.

    Feed bytes with :meth:`receive_data` in chunks of any size (``b""`` marks the end of the
    stream), then take messages with :meth:`next_message` or :meth:`take_messages`. Errors in the
    stream are raised by those, after every message that preceded the error has been taken.

    ``expect_banner`` makes the first line the server's banner (``Asterisk Call Manager/X.Y.Z``);
    turn it off to parse what a client sends. Messages decode with ``encoding``; bytes that are
    not valid in it are kept as lone surrogates (``surrogateescape``), so
    ``value.encode(encoding, "surrogateescape")`` gives the original bytes back.

    Memory stays bounded by the limits whatever the peer sends: ``max_packet_size`` bytes in one
    packet, ``max_headers`` lines in one packet, ``max_line_length`` bytes in one line. A breach
    raises :class:`LimitExceeded` naming the limit.
    """

    def __init__(
        self,
        *,
        expect_banner: bool = True,
        encoding: str = "utf-8",
        max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        max_headers: int = DEFAULT_MAX_HEADERS,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
    ) -> None:
        for name, value in (
            ("max_packet_size", max_packet_size),
            ("max_headers", max_headers),
            ("max_line_length", max_line_length),
        ):
            if value < 1:
                raise ValueError(f"{name} must be positive, not {value}")
        # The message classes to build: UTF-8 ones, or their variants for another encoding
        # (this also fails now on an unknown encoding).
        self._line_ends = IncrementalNewlineDecoder(None, translate=False)
        self._event = with_encoding(Event, encoding)
        self._response = with_encoding(Response, encoding)
        self.encoding = encoding
        self.max_packet_size = max_packet_size
        self.max_headers = max_headers
        self.max_line_length = max_line_length
        # A block no longer than this cannot hold a packet that breaks a limit.
        self._check_above = min(max_packet_size, max_line_length, 2 * max_headers)
        #: The server's banner, once received.
        self.banner: Banner | None = None
        self._awaiting_banner = expect_banner
        self._buffer = bytearray()
        # Offset in the buffer where the next terminator search starts (before the banner: the
        # search for the end of its line). The bytes before it were searched, and the last
        # terminator among them ends at _whole; a search overlaps the previous one by two bytes,
        # for a terminator cut between two reads.
        self._scan = 0
        # Offset just past that last terminator, 0 if none is left: the bytes before it are
        # whole packets, framed in bulk up to the next legacy answer among them.
        self._whole = 0
        # Whether a block is searched for legacy answers before it is framed: only once the
        # stream has shown a packet that starts like one. Until then a block is framed at once,
        # and a legacy answer found among its packets sends it back to be searched.
        self._search_heads = False
        # Offset where the search for the end of the legacy answer at the start of the buffer
        # resumes: its --END COMMAND-- line and blank line do not start before it.
        self._end_scan = 0
        # What the limit checks know of the unframed tail: how far it was examined, where its
        # last line starts, how many complete lines it has.
        self._checked = 0
        self._line_start = 0
        self._lines = 0
        # Framed messages not yet taken: the list is handed over whole by take_messages();
        # next_message() walks it with an index.
        self._messages: list[Message] = []
        self._next = 0
        self._error: RemoteProtocolError | None = None
        self._eof = False
        #: Bytes received so far.
        self.bytes_received = 0

    # -- input ----------------------------------------------------------------------------------
    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes from the peer; ``b""`` means the peer closed the stream."""
        if self._eof:
            raise LocalProtocolError("receive_data() called after the end of the stream")
        if not data:
            self._eof = True
            if self._error is None:
                self._close()
            return
        self.bytes_received += len(data)
        if self._error is not None:
            return  # the stream is already broken; nothing after the error is meaningful
        self._buffer += data
        try:
            self._frame()
        except RemoteProtocolError as exc:
            self._error = exc
            self._buffer.clear()

    @property
    def at_eof(self) -> bool:
        """True once ``b""`` was received and every message has been taken."""
        return self._eof and self._next >= len(self._messages) and self._error is None

    @property
    def buffered_bytes(self) -> int:
        """Bytes received but not yet framed into a message."""
        return len(self._buffer)

    # -- output ---------------------------------------------------------------------------------
    def next_message(self) -> Message | None:
        """The next complete message, or ``None`` if more bytes are needed (or the stream ended).

        Raises the stream's error once the messages before it have been taken.
        """
        messages = self._messages
        if self._next < len(messages):
            message = messages[self._next]
            self._next += 1
            if self._next == len(messages):
                self._messages, self._next = [], 0
            return message
        if self._error is not None:
            raise self._error
        return None

    def take_messages(self) -> list[Message]:
        """Every complete message received so far (possibly none), in order.

        Raises the stream's error once the messages before it have been taken.
        """
        messages = self._messages[self._next :] if self._next else self._messages
        self._messages, self._next = [], 0
        if not messages and self._error is not None:
            raise self._error
        return messages

    # -- framing --------------------------------------------------------------------------------
    def _frame(self) -> None:
        buf = self._buffer
        if self._awaiting_banner and not self._take_banner():
            return
        # Each turn frames what the buffer starts with: a legacy answer, or whole packets in bulk
        # up to the next legacy answer or the last terminator.
        while True:
            start = _skip_empty_lines(buf, 0)
            if buf.startswith(_LEGACY_START, start):
                if buf.startswith(_LEGACY_HEAD, start):
                    end = self._legacy_end(start)
                    if end < 0:
                        break
                    self._emit_legacy(bytes(buf[start:end]))
                    self._search_heads = True  # the stream has legacy answers: find the next
                    self._consume(end)
                    continue
                if len(buf) - start < len(_LEGACY_HEAD) and _LEGACY_HEAD.startswith(buf[start:]):
                    break  # too early to tell a legacy answer from another Follows response
            # Whole packets, up to the last terminator among the bytes not searched yet.
            size = len(buf)
            end = _terminator_end(buf, self._scan, size)
            self._scan = max(self._scan, size - 2)
            if end >= 0:
                self._whole = end
            elif not self._whole:
                break
            end = self._whole
            if self._search_heads:
                head = _legacy_head(buf, start, end)
                if head >= 0:
                    end = head  # frame the packets before it; the next turn frames the answer
            with memoryview(buf) as view:
                block = bytes(view[:end])
            messages = self._parse_block(block, detect_legacy=not self._search_heads)
            if messages is None:  # a legacy Command answer: its output may hold blank lines
                self._search_heads = True
                continue  # frame the same block again, up to the answer
            if self._messages:
                self._messages.extend(messages)
            else:
                self._messages = messages
            self._consume(end)
            if not self._whole:  # up to the last terminator: what is left holds no packet
                start = _skip_empty_lines(buf, 0)
                break
        self._check_incomplete(start)

    def _consume(self, end: int) -> None:
        """Drop the framed ``buf[:end]``; the cursors follow the bytes they point at."""
        del self._buffer[:end]
        self._scan = max(0, self._scan - end)
        self._whole = max(0, self._whole - end)
        self._end_scan = 0  # a legacy answer at the start of the buffer is new
        self._reset_tail()  # what is left arrived after the packets just framed

    def _parse_block(self, block: bytes, *, detect_legacy: bool) -> list[Message] | None:
        """The messages in bytes holding only whole packets.

        With ``detect_legacy``, ``None`` if a packet may start a legacy Command answer (the
        caller then searches the block for legacy answers, which tells for sure). A limit
        breach is raised after the messages before the offending packet were queued.
        """
        # One C pass tells which line ends the block has; any but \r\n (a bare \n, a lone \r
        # taken for a line end) sends it through the exact rewrite.
        detector = self._line_ends
        detector.reset()
        detector.decode(block.decode("latin-1"), True)
        if detector.newlines != "\r\n":
            block = block.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        packets = block.split(b"\r\n\r\n")
        packets.pop()  # after the last terminator: nothing, or a stray line end
        # Built before the limit checks: the pieces of a legacy answer are not packets (the
        # answer is measured on its own bytes once it is framed), and they are found here.
        messages = self._build(packets, detect_legacy)
        if messages is not None and len(block) > self._check_above:
            for index, packet in enumerate(packets):
                try:
                    self._check_packet(packet)
                except LimitExceeded:
                    # The messages before the offending packet stand.
                    self._messages.extend(self._build(packets[:index], detect_legacy) or ())
                    raise
        return messages

    def _build(self, packets: list[bytes], detect_legacy: bool) -> list[Message] | None:
        """One message per framed packet; ``None`` as for :meth:`_parse_block`."""
        # Every packet is first made an event, in C-level passes (most packets are events);
        # then the others, found by C-level searches, are made what they are.
        count = len(packets)
        is_event = list(map(bytes.startswith, packets, _EVENT_PREFIX))
        messages: list[Message | None] = list(map(_new_instance, repeat(self._event, count)))
        any(map(_set_raw, messages, packets))  # type: ignore[arg-type]
        index = 0
        dropped = False
        while True:
            try:
                index = is_event.index(False, index)
            except ValueError:
                break
            packet = packets[index]
            if packet.startswith(b"\r\n"):  # empty lines between packets
                packet = packet[_skip_empty_lines(packet, 0) :]
            if packet.startswith(b"Response: "):
                if detect_legacy and packet.startswith(_LEGACY_PIECE):
                    return None
                kind: type[Message] = self._response
            elif packet:
                kind = with_encoding(_kind(packet), self.encoding)
            else:
                messages[index] = None
                dropped = True
                index += 1
                continue
            message = _new_instance(kind)
            if isinstance(message, Response):
                _set_legacy_output(message, None)
            _set_raw(message, packet)
            messages[index] = message
            index += 1
        if dropped:
            return [message for message in messages if message is not None]
        return messages  # type: ignore[return-value]

    def _legacy_end(self, pos: int) -> int:
        """Offset past the ``--END COMMAND--`` line and blank line of the answer at ``pos``."""
        buf = self._buffer
        search = max(pos, self._end_scan)
        while True:
            marker = buf.find(_LEGACY_END, search)
            if marker < 0:
                self._end_scan = max(pos, len(buf) - len(_LEGACY_END))
                return -1
            after_line = _line_end_after(buf, marker + len(_LEGACY_END))
            if after_line == -1:
                self._end_scan = marker
                return -1
            if after_line >= 0:
                end = _line_end_after(buf, after_line)
                if end == -1:
                    self._end_scan = marker
                    return -1
                if end >= 0:
                    return end
            search = marker + 1  # the marker text inside the output: keep looking

    def _emit_legacy(self, packet: bytes) -> None:
        # Measured without the blank line that ends it, every line end a line's.
        body = packet[: packet.rfind(_LEGACY_END)]
        self._check_size(packet.rfind(b"\n", 0, len(packet) - 1) + 1)
        lines = packet.split(b"\n")
        lines.pop()  # after the final line end
        # Its lines: the headers and the output, not the --END COMMAND-- line.
        self._check_lines(len(lines) - 2, max(len(line.rstrip(b"\r")) for line in lines))
        text = body.decode(self.encoding, "surrogateescape")
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
        head = "\r\n".join(heads).encode(self.encoding, "surrogateescape")
        self._messages.append(self._response(head, tuple(output)))

    # -- banner and limits ----------------------------------------------------------------------
    def _take_banner(self) -> bool:
        buf = self._buffer
        newline = buf.find(b"\n", self._scan)
        if newline < 0:
            self._scan = len(buf)
            self._check_incomplete(_skip_empty_lines(buf, 0))
            return False
        raw = bytes(buf[:newline]).rstrip(b"\r")
        self._check_lines(1, len(raw))
        line = raw.decode(self.encoding, "surrogateescape")
        product, slash, version = line.partition("/")
        if not slash or not product.startswith(_BANNER_PRODUCT):
            raise RemoteProtocolError(f"not an Asterisk Manager Interface banner: {line[:80]!r}")
        self.banner = Banner(text=line, product=product, version=version.strip())
        del buf[: newline + 1]
        self._scan = 0
        self._reset_tail()
        self._awaiting_banner = False
        return True

    def _reset_tail(self) -> None:
        self._checked = self._line_start = self._lines = 0

    def _check_incomplete(self, start: int) -> None:
        """Limit checks on the unframed tail, looking only at bytes not looked at before.

        ``start`` is where the tail starts, after any empty lines.
        """
        buf = self._buffer
        size = len(buf)
        begin = max(self._checked, start)
        if begin < size:
            self._lines += buf.count(b"\n", begin, size)
            newline = buf.rfind(b"\n", begin, size)
            if newline < 0:
                self._line_start = max(self._line_start, start)
            else:
                # The lines completed by these bytes: measured now, as they would have been
                # while in progress had the bytes come one at a time.
                first = max(self._line_start, start)
                if newline - first > self.max_line_length:
                    lines = bytes(buf[first : newline + 1]).replace(b"\r\n", b"\n").split(b"\n")
                    self._check_lines(0, max(map(len, lines)))
                self._line_start = newline + 1
        self._checked = size
        line = size - self._line_start - (1 if buf.endswith(b"\r") else 0)
        # A legacy answer's --END COMMAND-- line is not one of its lines.
        legacy = buf.startswith(_LEGACY_HEAD, start)
        self._check_lines(self._lines - legacy, line)
        self._check_size(self._line_start - start)

    def _check_size(self, size: int) -> None:
        if size > self.max_packet_size:
            raise LimitExceeded(
                f"packet larger than max_packet_size={self.max_packet_size} bytes",
                limit="max_packet_size",
                value=self.max_packet_size,
            )

    def _check_packet(self, packet: bytes) -> None:
        # Runs only for blocks large enough to hold an offending packet.
        packet = packet[_skip_empty_lines(packet, 0) :]
        self._check_size(len(packet) + 2)
        lines = packet.split(b"\r\n")
        self._check_lines(len(lines), max(map(len, lines)))

    def _check_lines(self, count: int, longest: int) -> None:
        if count > self.max_headers:
            raise LimitExceeded(
                f"packet with more than max_headers={self.max_headers} lines",
                limit="max_headers",
                value=self.max_headers,
            )
        if longest > self.max_line_length:
            raise LimitExceeded(
                f"line longer than max_line_length={self.max_line_length} bytes",
                limit="max_line_length",
                value=self.max_line_length,
            )

    def _close(self) -> None:
        leftover = bytes(self._buffer).strip(b"\r\n")
        if self._awaiting_banner:
            self._error = RemoteProtocolError(
                "the stream ended before the banner"
                if not leftover
                else f"the stream ended inside the banner line: {leftover[:80]!r}"
            )
        elif leftover:
            self._error = RemoteProtocolError(
                f"the stream ended inside a packet ({len(leftover)} bytes unterminated): "
                f"{leftover[:80]!r}"
            )
        self._buffer.clear()
