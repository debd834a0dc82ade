"""The parser's receive buffer: the bytes not framed yet, where each search stopped, and the
limit accounting of the packet in progress. No I/O.

Every search resumes where the previous one of its kind stopped (bar a few bytes of overlap, for
a delimiter cut between two reads), so each byte is examined a bounded number of times whatever
the chunking. Dropping framed bytes with :meth:`ReceiveBuffer.consume` moves every cursor with
the bytes it points at.

Limits are measured on packets with ``\\r\\n`` line ends: a packet's size counts its lines with
their line ends, not the blank line that ends it; a line's length leaves out its line end; the
header count is the number of lines. An incomplete packet is measured the same way on its
complete lines (and the line in progress, for the line length), so a limit is hit as soon as it
is certain, whatever the chunking.
"""

from __future__ import annotations

import attrs

from ._errors import LimitExceeded

__all__ = ["LINE_ENDS", "Limits", "ReceiveBuffer", "skip_empty_lines"]

_COMMAND_END = b"--END COMMAND--"


#: What an empty line starts with.
LINE_ENDS = (b"\r\n", b"\n")


def skip_empty_lines(buf: bytes | bytearray, pos: int) -> int:
    """Offset of the first byte at or after ``pos`` that does not start an empty line."""
    while buf.startswith(LINE_ENDS, pos):
        pos += 2 if buf[pos] == 0x0D else 1
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


@attrs.frozen
class Limits:
    """What one packet may hold; a breach raises :class:`LimitExceeded` naming the limit."""

    max_packet_size: int
    max_headers: int
    max_line_length: int

    def __attrs_post_init__(self) -> None:
        for name, value in (
            ("max_packet_size", self.max_packet_size),
            ("max_headers", self.max_headers),
            ("max_line_length", self.max_line_length),
        ):
            if value < 1:
                raise ValueError(f"{name} must be positive, not {value}")

    @property
    def check_above(self) -> int:
        """A block no longer than this cannot hold a packet that breaks a limit."""
        return min(self.max_packet_size, self.max_line_length, 2 * self.max_headers)

    def check_size(self, size: int) -> None:
        if size > self.max_packet_size:
            raise LimitExceeded(
                f"packet larger than max_packet_size={self.max_packet_size} bytes",
                limit="max_packet_size",
                value=self.max_packet_size,
            )

    def check_lines(self, count: int, longest: int) -> None:
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

    def check_packet(self, packet: bytes) -> None:
        """Checks a framed packet (``\\r\\n`` line ends, without its blank line)."""
        packet = packet[skip_empty_lines(packet, 0) :]
        self.check_size(len(packet) + 2)
        lines = packet.split(b"\r\n")
        self.check_lines(len(lines), max(map(len, lines)))


class ReceiveBuffer:
    """The bytes received and not framed yet, with the state of the searches through them."""

    def __init__(self, limits: Limits, data: bytearray | None = None) -> None:
        self.limits = limits
        #: The bytes. The parser adds to them, readers search them; only :meth:`consume` drops any.
        self.data = bytearray() if data is None else data
        # Where the next search for a packet terminator (or, before the banner, a line end)
        # starts: the bytes before it were searched, and the last terminator among them ends at
        # _whole. A search overlaps the previous one by two bytes, for a terminator cut in two.
        self._scan = 0
        # Offset just past that last terminator, 0 if none is left.
        self._whole = 0
        # Where the search for the end of the Command answer at the start of the buffer resumes:
        # its --END COMMAND-- line and blank line do not start before it.
        self._end_scan = 0
        # What the limit checks know of the unframed tail: how far it was examined, where its
        # last line starts, how many complete lines it has.
        self._checked = 0
        self._line_start = 0
        self._lines = 0

    def __len__(self) -> int:
        return len(self.data)

    def clear(self) -> None:
        self.data.clear()

    def head(self, end: int) -> bytes:
        """A copy of ``data[:end]``."""
        with memoryview(self.data) as view:
            return bytes(view[:end])

    def consume(self, end: int) -> None:
        """Drop ``data[:end]``, framed; the cursors follow the bytes they point at."""
        del self.data[:end]
        self._scan = max(0, self._scan - end)
        self._whole = max(0, self._whole - end)
        self._end_scan = 0  # a Command answer at the start of the buffer is new
        self._checked = self._line_start = self._lines = 0

    # -- searches -------------------------------------------------------------------------------
    def find_line_end(self) -> int:
        """Offset of the first ``\\n``, or -1 (the bytes searched are not searched again)."""
        data = self.data
        newline = data.find(b"\n", self._scan)
        self._scan = len(data) if newline < 0 else 0
        return newline

    def whole_packets_end(self) -> int:
        """Offset just past the last packet terminator in the buffer, 0 if there is none.

        A packet ends with an empty line: ``\\n\\n`` or ``\\n\\r\\n`` on the wire.
        """
        data = self.data
        size = len(data)
        start = self._scan
        crlf = data.rfind(b"\n\r\n", start, size)
        if crlf < 0:
            lf = data.rfind(b"\n\n", start, size)
            end = lf + 2 if lf >= 0 else -1
        else:
            # Only a "\n\n" after that one could end later: no need to scan the whole range.
            lf = data.rfind(b"\n\n", crlf + 2, size)
            end = lf + 2 if lf >= 0 else crlf + 3
        self._scan = max(start, size - 2)
        if end >= 0:
            self._whole = end
        return self._whole

    def command_end(self, start: int) -> int:
        """Offset past the ``--END COMMAND--`` line and blank line of the Command answer at
        ``start``, or -1 while it is incomplete."""
        data = self.data
        search = max(start, self._end_scan)
        while True:
            marker = data.find(_COMMAND_END, search)
            if marker < 0:
                self._end_scan = max(start, len(data) - len(_COMMAND_END))
                return -1
            after_line = _line_end_after(data, marker + len(_COMMAND_END))
            if after_line == -1:
                self._end_scan = marker
                return -1
            if after_line >= 0:
                end = _line_end_after(data, after_line)
                if end == -1:
                    self._end_scan = marker
                    return -1
                if end >= 0:
                    return end
            search = marker + 1  # the marker text inside the output: keep looking

    # -- limits ---------------------------------------------------------------------------------
    def check_tail(self, start: int, uncounted: int = 0) -> None:
        """Limit checks on the packet in progress at ``start`` (after any empty lines), looking
        only at bytes not looked at before. ``uncounted`` lines are not among its headers.
        """
        data = self.data
        size = len(data)
        begin = max(self._checked, start)
        if begin < size:
            self._lines += data.count(b"\n", begin, size)
            newline = data.rfind(b"\n", begin, size)
            if newline < 0:
                self._line_start = max(self._line_start, start)
            else:
                # The lines completed by these bytes: measured now, as they would have been
                # while in progress had the bytes come one at a time.
                first = max(self._line_start, start)
                if newline - first > self.limits.max_line_length:
                    lines = bytes(data[first : newline + 1]).replace(b"\r\n", b"\n").split(b"\n")
                    self.limits.check_lines(0, max(map(len, lines)))
                self._line_start = newline + 1
        self._checked = size
        line = size - self._line_start - (1 if data.endswith(b"\r") else 0)
        limits = self.limits
        # Compared here first: this runs for every read, the checks raise only on a breach.
        if self._lines - uncounted > limits.max_headers or line > limits.max_line_length:
            limits.check_lines(self._lines - uncounted, line)
        if self._line_start - start > limits.max_packet_size:
            limits.check_size(self._line_start - start)
