"""The incremental AMI packet parser: bytes in, ``Message`` objects out. No I/O.

Framing is done on bytes, before decoding, so a multibyte character split across reads is
never damaged. Every complete packet in the buffer is framed in one pass: the parser finds the
last packet terminator among the bytes that arrived since the previous search (it never rescans
older bytes), decodes everything up to it at once, folds ``\\r\\n`` line ends into ``\\n`` and
splits on the blank lines. Bare ``\\n`` line ends, the ``\\r\\n\\n`` ending and stray empty lines
between packets are accepted.

The legacy ``Command`` answer (``Response: Follows`` / ``Privilege: Command``, raw output,
``--END COMMAND--``) may contain blank lines, so a block holding one is framed packet by packet.
"""

from __future__ import annotations

from collections import deque

from ._errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from ._messages import Banner, Event, Message, Response, message_from_text

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
_LEGACY_END = b"--END COMMAND--"
_BANNER_PRODUCT = "Asterisk Call Manager"


def _terminator_end(buf: bytes | bytearray, start: int, end: int) -> int:
    """Offset just past the last packet terminator in ``buf[start:end]``, or -1.

    A packet ends with an empty line: ``\\n\\n`` or ``\\n\\r\\n`` on the wire.
    """
    crlf = buf.rfind(b"\n\r\n", start, end)
    lf = buf.rfind(b"\n\n", start, end)
    if crlf < 0 and lf < 0:
        return -1
    return max(crlf + 3 if crlf >= 0 else -1, lf + 2 if lf >= 0 else -1)


def _line_end_after(buf: bytes | bytearray, pos: int) -> int:
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
    turn it off to parse what a client sends. Text is decoded with ``encoding``; bytes that are
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
        "".encode(encoding)  # fail now on an unknown encoding
        self.encoding = encoding
        self.max_packet_size = max_packet_size
        self.max_headers = max_headers
        self.max_line_length = max_line_length
        # A block of text no longer than this cannot hold a packet that breaks a limit.
        self._check_above = min(max_packet_size, max_line_length, 2 * max_headers)
        #: The server's banner, once received.
        self.banner: Banner | None = None
        self._awaiting_banner = expect_banner
        self._buffer = bytearray()
        # Offset in the buffer where the next terminator search starts: the bytes before it
        # hold no complete terminator (searches overlap the previous end by two bytes).
        self._scan = 0
        # Offset of the start of the current (incomplete) line, for max_line_length.
        self._line_start = 0
        self._messages: deque[Message] = deque()
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
        return self._eof and not self._messages and self._error is None

    @property
    def buffered_bytes(self) -> int:
        """Bytes received but not yet framed into a message."""
        return len(self._buffer)

    # -- output ---------------------------------------------------------------------------------
    def next_message(self) -> Message | None:
        """The next complete message, or ``None`` if more bytes are needed (or the stream ended).

        Raises the stream's error once the messages before it have been taken.
        """
        if self._messages:
            return self._messages.popleft()
        if self._error is not None:
            raise self._error
        return None

    def take_messages(self) -> list[Message]:
        """Every complete message received so far (possibly none), in order.

        Raises the stream's error once the messages before it have been taken.
        """
        messages = list(self._messages)
        self._messages.clear()
        if not messages and self._error is not None:
            raise self._error
        return messages

    # -- framing --------------------------------------------------------------------------------
    def _frame(self) -> None:
        buf = self._buffer
        if self._awaiting_banner and not self._take_banner():
            return
        start = 0
        while start < len(buf) and buf[start] in b"\r\n":  # empty lines between packets
            start += 1
        if buf.startswith(_LEGACY_START, start):
            self._frame_one_by_one()
            return
        end = _terminator_end(buf, self._scan, len(buf))
        if end < 0:
            self._check_incomplete()
            return
        if buf.find(_LEGACY_START, 0, end) >= 0:
            self._frame_one_by_one()
            return
        block = buf[:end]
        del buf[:end]
        self._scan = self._line_start = 0
        self._emit_block(block)
        self._check_incomplete()

    def _emit_block(self, block: bytearray) -> None:
        """Turn bytes holding only whole packets into messages."""
        text = block.decode(self.encoding, "surrogateescape")
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        packets = text.split("\n\n")
        if "\n\n\n" in text or text.startswith("\n"):  # stray empty lines between packets
            packets = [packet.strip("\n") for packet in packets]
            packets = [packet for packet in packets if packet]
        else:
            packets.pop()  # the block ends with a terminator: the last piece is empty
        if len(text) > self._check_above:
            for packet in packets:
                self._check_packet(packet)
        append = self._messages.append
        for packet in packets:
            if packet.startswith("Event: "):
                append(Event(packet))
            elif packet.startswith("Response: "):
                append(Response(packet))
            else:
                append(message_from_text(packet))

    def _frame_one_by_one(self) -> None:
        """Frame packets one at a time: used when the buffer holds a legacy Command answer."""
        buf = self._buffer
        pos = 0
        while True:
            while pos < len(buf) and buf[pos] in b"\r\n":  # empty lines between packets
                pos += 1
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
                self._emit_block(buf[pos:end])
            pos = end
        del buf[:pos]
        self._scan = max(0, self._scan - pos)
        self._line_start = max(0, self._line_start - pos)
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
        self._check_size(len(packet))
        text = packet.decode(self.encoding, "surrogateescape")
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
        body = rest[: rest.rfind(_LEGACY_END.decode())]
        body = body.replace("\r\n", "\n")
        lines = body.split("\n")
        if lines and not lines[-1]:
            lines.pop()
        self._check_lines(len(lines) + len(heads), max(map(len, lines), default=0))
        self._messages.append(Response("\n".join(heads), tuple(lines)))

    # -- banner and limits ----------------------------------------------------------------------
    def _take_banner(self) -> bool:
        buf = self._buffer
        newline = buf.find(b"\n", self._scan)
        if newline < 0:
            self._scan = len(buf)
            self._check_incomplete()
            return False
        line = bytes(buf[:newline]).rstrip(b"\r").decode(self.encoding, "surrogateescape")
        product, slash, version = line.partition("/")
        if not slash or not product.startswith(_BANNER_PRODUCT):
            raise RemoteProtocolError(f"not an Asterisk Manager Interface banner: {line[:80]!r}")
        self.banner = Banner(text=line, product=product, version=version.strip())
        del buf[: newline + 1]
        self._scan = self._line_start = 0
        self._awaiting_banner = False
        return True

    def _check_incomplete(self) -> None:
        """Limit checks on the unframed tail, looking only at bytes not looked at before."""
        buf = self._buffer
        size = len(buf)
        self._check_size(size)
        newline = buf.rfind(b"\n", max(self._line_start, self._scan))
        if newline >= 0:
            self._line_start = newline + 1
        if size - self._line_start > self.max_line_length:
            raise LimitExceeded(
                f"line longer than max_line_length={self.max_line_length} bytes",
                limit="max_line_length",
                value=self.max_line_length,
            )
        self._scan = max(self._scan, size - 2)

    def _check_size(self, size: int) -> None:
        if size > self.max_packet_size:
            raise LimitExceeded(
                f"packet larger than max_packet_size={self.max_packet_size} bytes",
                limit="max_packet_size",
                value=self.max_packet_size,
            )

    def _check_packet(self, packet: str) -> None:
        # Runs only for blocks large enough to hold an offending packet. Sizes are measured on
        # the decoded text, which is never longer than the bytes it came from.
        self._check_size(len(packet))
        lines = packet.split("\n")
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
