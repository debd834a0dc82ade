"""Recorded AMI sessions: loading them, and cutting them up for replay.

A recording ``NAME`` is up to three files side by side (``tests/data/`` has real ones):
``NAME.raw`` every byte the server sent, banner first; ``NAME.sent`` every byte the client sent;
``NAME.transcript.txt`` both directions in order, one line per TCP read or write::

    t=   0.002 >> b'Action: Login\\r\\n...'
    t=   0.003 << b'Response: Success\\r\\n...'
    t=   1.506 << b'<EOF>'

Pure: files are read once, on loading; nothing here knows trio.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import attrs

from ..sansio import Message
from ._wire import frame_packets

__all__ = ["Capture", "ReplayScript", "Replayer", "load_capture", "read_transcript"]

_SUFFIXES = (".transcript.txt", ".raw", ".sent")
_RECORD = re.compile(r"t=\s*[\d.]+ (>>|<<) (b.*)$")
_EOF = b"<EOF>"
_ACTION_ID_LINE = re.compile(rb"ActionID: ([^\r\n]*)\r\n")


def read_transcript(path: str | Path) -> tuple[tuple[str, bytes], ...]:
    """The ``(direction, bytes)`` records of a transcript, in order: ``">>"`` for what the
    client sent, ``"<<"`` for one read of what the server sent; the server's close is
    ``("<<", b"")``."""
    records = []
    for line in Path(path).read_text().splitlines():
        match = _RECORD.match(line)
        if match is None:
            continue
        data = ast.literal_eval(match.group(2))
        if not isinstance(data, bytes):
            raise TypeError(f"{path}: not a bytes literal: {line!r}")
        records.append((match.group(1), b"" if data == _EOF else data))
    return tuple(records)


@attrs.frozen
class Capture:
    """One recorded session (a file missing on disk reads as empty)."""

    #: The recording's name: its path without the suffixes, e.g. ``.../asterisk13/ping``.
    name: str
    #: Every byte the server sent, banner first.
    raw: bytes
    #: Every byte the client sent.
    sent: bytes
    #: The transcript's ``(direction, bytes)`` records, in order: ``">>"`` for what the client
    #: sent, ``"<<"`` for one read of what the server sent; the server's close is ``("<<", b"")``.
    transcript: tuple[tuple[str, bytes], ...]

    @property
    def actions(self) -> list[bytes]:
        """What the client sent, one write (one action) at a time."""
        return [data for direction, data in self.transcript if direction == ">>"]

    @property
    def reads(self) -> list[bytes]:
        """What the server sent, one recorded TCP read at a time."""
        return [data for direction, data in self.transcript if direction == "<<" and data]

    @property
    def closed(self) -> bool:
        """Whether the server closed the connection at the end."""
        return ("<<", b"") in self.transcript

    @property
    def banner(self) -> bytes:
        """The banner line, line end included."""
        return self.raw[: self.raw.find(b"\n") + 1]

    def packets(self) -> list[bytes]:
        """The server's packets after the banner, each exactly as sent, framed by the core's
        parser."""
        return frame_packets(self.raw[len(self.banner) :])


def load_capture(path: str | Path) -> Capture:
    """Load the recording at ``path``: its name (``tests/data/ping``) or any of its files."""
    text = str(path)
    for suffix in _SUFFIXES:
        text = text.removesuffix(suffix)
    stem = Path(text)

    def read(suffix: str) -> bytes:
        file = stem.with_name(stem.name + suffix)
        return file.read_bytes() if file.exists() else b""

    transcript = stem.with_name(stem.name + ".transcript.txt")
    records = read_transcript(transcript) if transcript.exists() else ()
    if not (records or read(".raw") or read(".sent")):
        raise FileNotFoundError(f"no recording at {stem} (.raw, .sent or .transcript.txt)")
    return Capture(text, read(".raw"), read(".sent"), records)


@attrs.frozen
class ReplayScript:
    """A server's recorded output cut for replaying: the banner, then one group per response
    (the response and the packets that followed it, up to the next response)."""

    banner: bytes
    groups: tuple[bytes, ...]
    #: Whether each group waits for an action from the client (else all is sent at once).
    paced: bool

    @classmethod
    def from_raw(cls, raw: bytes, *, paced: bool) -> ReplayScript:
        newline = raw.find(b"\n")
        banner, rest = (raw, b"") if newline < 0 else (raw[: newline + 1], raw[newline + 1 :])
        groups: list[list[bytes]] = []
        answered = True  # whether the last group holds a response
        for packet in frame_packets(rest):
            # Stray empty lines (old chan_sip) come before the packet they precede.
            response = packet.lstrip(b"\r\n").startswith(b"Response:")
            if not groups or (response and answered):
                groups.append([])
                answered = False
            groups[-1].append(packet)
            answered = answered or response
        return cls(banner, tuple(b"".join(group) for group in groups), paced)


class Replayer:
    """Answers a client's actions from a :class:`ReplayScript`, in order, giving each
    recorded ActionID the one the client used in its place."""

    def __init__(self, script: ReplayScript, encoding: str) -> None:
        self._groups = list(script.groups)
        self._encoding = encoding
        self._ids: dict[bytes, bytes] = {}

    @property
    def exhausted(self) -> bool:
        """True once every recorded group was sent."""
        return not self._groups

    def answer(self, action: Message) -> bytes:
        """The next recorded group, for ``action``; ``b""`` once the script is exhausted."""
        if not self._groups:
            return b""
        group = self._groups.pop(0)
        recorded = _ACTION_ID_LINE.search(group)
        client_id = action.get("ActionID")
        if recorded is not None and client_id:
            self._ids[recorded.group(1)] = client_id.encode(self._encoding, "surrogateescape")
        if not self._ids:
            return group
        return _ACTION_ID_LINE.sub(self._rewrite, group)

    def _rewrite(self, match: re.Match[bytes]) -> bytes:
        return b"ActionID: " + self._ids.get(match.group(1), match.group(1)) + b"\r\n"
