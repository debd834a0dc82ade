"""The incremental AMI packet parser: bytes in, ``Message`` objects out. No I/O.

Packets are framed on bytes and never decoded here: a message keeps its packet's bytes and
decodes what is asked of it, so a multibyte character split across reads is never damaged and
a consumer that reads only event names decodes only those. Every complete packet in the buffer
is framed at once: the parser finds the last packet terminator among the bytes that arrived
since the previous search (it never rescans older bytes) and splits everything before it on the
blank lines in one C-level pass. Bare ``\\n`` line ends, the ``\\r\\n\\n`` ending and stray empty
lines between packets are accepted; a block that has any is first rewritten to ``\\r\\n``.

The legacy ``Command`` answer (``Response: Follows`` / ``Privilege: Command``, raw output,
``--END COMMAND--``) may contain blank lines, so a block holding one is framed packet by packet.

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
        # Offset in the buffer where the next terminator search starts: the bytes before it
        # hold no complete terminator (searches overlap the previous end by two bytes).
        self._scan = 0
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
        if buf.startswith(_LEGACY_START, _skip_empty_lines(buf, 0)):
            self._frame_one_by_one()
            return
        end = _terminator_end(buf, self._scan, len(buf))
        if end < 0:
            self._check_incomplete()
            return
        with memoryview(buf) as view:
            block = bytes(view[:end])
        messages = self._parse_block(block, detect_legacy=True)
        if messages is None:  # a legacy Command answer: its output may hold blank lines
            self._frame_one_by_one()
            return
        del buf[:end]
        if self._messages:
            self._messages.extend(messages)
        else:
            self._messages = messages
        self._scan = 0
        self._reset_tail()
        self._check_incomplete()

    def _parse_block(self, block: bytes, *, detect_legacy: bool) -> list[Message] | None:
        """The messages in bytes holding only whole packets.

        With ``detect_legacy``, ``None`` if a packet may start a legacy Command answer (the
        caller then frames packet by packet, which tells for sure). A limit breach is raised
        after the messages before the offending packet were queued.
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
        if len(block) > self._check_above:
            for index, packet in enumerate(packets):
                try:
                    self._check_packet(packet)
                except LimitExceeded:
                    # The messages before the offending packet stand.
                    self._messages.extend(self._build(packets[:index], detect_legacy) or ())
                    raise
        return self._build(packets, detect_legacy)

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

    def _frame_one_by_one(self) -> None:
        """Frame packets one at a time: used when the buffer holds a legacy Command answer."""
        buf = self._buffer
        pos = 0
        while True:
            pos = _skip_empty_lines(buf, pos)
            if len(buf) - pos < len(_LEGACY_HEAD) and _LEGACY_HEAD.startswith(bytes(buf[pos:])):
                break  # too early to tell a legacy answer from another Follows response
            if buf.startswith(_LEGACY_HEAD, pos):
                end = self._legacy_end(pos)
                if end < 0:
                    break
                self._emit_legacy(bytes(buf[pos:end]))
            else:
                search = max(pos, self._scan)  # no terminator lies wholly before _scan
                terminator = buf.find(b"\n\r\n", search)
                lf = buf.find(b"\n\n", search)
                if terminator < 0 or 0 <= lf < terminator:
                    terminator = lf
                if terminator < 0:
                    break
                end = terminator + (3 if buf[terminator + 1] == 0x0D else 2)
                self._messages.extend(
                    self._parse_block(bytes(buf[pos:end]), detect_legacy=False) or ()
                )
            pos = end
        if pos:
            del buf[:pos]
            self._scan = max(0, self._scan - pos)
            self._reset_tail()  # what is left arrived after the packets just framed
        self._check_incomplete()

    def _legacy_end(self, pos: int) -> int:
        """Offset past the ``--END COMMAND--`` line and blank line of the answer at ``pos``."""
        buf = self._buffer
        search = max(pos, self._scan - len(_LEGACY_END) - 4)
        while True:
            marker = buf.find(_LEGACY_END, search)
            if marker < 0:
                self._scan = max(pos, len(buf) - len(_LEGACY_END))
                return -1
            after_line = _line_end_after(buf, marker + len(_LEGACY_END))
            if after_line == -1:
                self._scan = marker
                return -1
            if after_line >= 0:
                end = _line_end_after(buf, after_line)
                if end == -1:
                    self._scan = marker
                    return -1
                if end >= 0:
                    self._scan = 0
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
            self._check_incomplete()
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

    def _check_incomplete(self) -> None:
        """Limit checks on the unframed tail, looking only at bytes not looked at before."""
        buf = self._buffer
        size = len(buf)
        start = _skip_empty_lines(buf, 0)
        begin = max(self._checked, start)
        if begin < size:
            self._lines += buf.count(b"\n", begin, size)
            newline = buf.rfind(b"\n", begin, size)
            self._line_start = newline + 1 if newline >= 0 else max(self._line_start, start)
        self._checked = size
        line = size - self._line_start - (1 if buf.endswith(b"\r") else 0)
        # A legacy answer's --END COMMAND-- line is not one of its lines.
        legacy = buf.startswith(_LEGACY_HEAD, start)
        self._check_lines(self._lines - legacy, line)
        self._check_size(self._line_start - start)
        self._scan = max(self._scan, size - 2)

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
