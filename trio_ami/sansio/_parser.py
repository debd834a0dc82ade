"""The incremental AMI packet parser: bytes in, ``Message`` objects out. No I/O.

Packets are framed on bytes and never decoded here: a message keeps its packet's bytes and
decodes what is asked of it, so a multibyte character split across reads is never damaged and
a consumer that reads only event names decodes only those.

The parser is a receive buffer (``_receivebuffer``: the bytes, where each search stopped, the
limit accounting of the packet in progress) read by the reader of the current mode
(``_readers``: the banner, packets in bulk, legacy ``Command`` output), which says which mode
comes next.
"""

from __future__ import annotations

from ._errors import LocalProtocolError, RemoteProtocolError
from ._messages import Banner, Message
from ._readers import READERS, Mode, Reading
from ._receivebuffer import Limits, ReceiveBuffer

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
        limits = Limits(max_packet_size, max_headers, max_line_length)
        # Fails now on an unknown encoding, or one that does not agree with ASCII.
        self._reading = Reading(encoding, limits)
        self.encoding = encoding
        self._receive = ReceiveBuffer(limits)
        self._mode = Mode.BANNER if expect_banner else Mode.PACKETS
        # Framed messages not yet taken: the list is handed over whole by take_messages();
        # next_message() walks it with an index.
        self._messages: list[Message] = []
        self._next = 0
        self._error: RemoteProtocolError | None = None
        self._eof = False
        #: Bytes received so far.
        self.bytes_received = 0

    @property
    def banner(self) -> Banner | None:
        """The server's banner, once received."""
        return self._reading.banner

    @property
    def max_packet_size(self) -> int:
        """Largest packet accepted, in bytes."""
        return self._reading.limits.max_packet_size

    @property
    def max_headers(self) -> int:
        """Most lines in one packet."""
        return self._reading.limits.max_headers

    @property
    def max_line_length(self) -> int:
        """Longest line accepted, in bytes."""
        return self._reading.limits.max_line_length

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
        self._receive.data += data
        try:
            self._frame()
        except RemoteProtocolError as exc:
            self._error = exc
            self._receive.clear()

    @property
    def at_eof(self) -> bool:
        """True once ``b""`` was received and every message has been taken."""
        return self._eof and self._next >= len(self._messages) and self._error is None

    @property
    def buffered_bytes(self) -> int:
        """Bytes received but not yet framed into a message."""
        return len(self._receive)

    @property
    def _buffer(self) -> bytearray:
        # The bytes the receive buffer holds. Given other bytes before any arrived, it searches
        # those: a test counts what its searches examine that way.
        return self._receive.data

    @_buffer.setter
    def _buffer(self, data: bytearray) -> None:
        self._receive = ReceiveBuffer(self._reading.limits, data)

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
        buf, reading, out = self._receive, self._reading, self._messages
        mode = self._mode
        while (following := READERS[mode](buf, reading, out)) is not None:
            mode = following
        self._mode = mode

    def _close(self) -> None:
        leftover = bytes(self._receive.data).strip(b"\r\n")
        if self._mode is Mode.BANNER:
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
        self._receive.clear()
