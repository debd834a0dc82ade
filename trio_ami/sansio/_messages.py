"""Messages received from an AMI peer: ``Event``, ``Response``, the ``Banner`` line.

A message keeps the text of its packet (lines joined by ``\\n``) and parses it lazily: reading
``.name`` or a few headers of a message never splits the whole packet, and the complete header
list is built once, on first need. The API behaves the same whichever path answers it.

Header lines are split at the first ``": "``; a line without one is split at its first ``":"``
(``Key:`` gives an empty value); a line without a colon is kept whole as the value of an empty key.
Keys are matched case-insensitively and returned as sent; values are never changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import repeat
from typing import ClassVar, TypeVar, overload

import attrs

__all__ = ["Banner", "Event", "Message", "Response", "message_from_text"]

_T = TypeVar("_T")
_M = TypeVar("_M", bound="Message")
_MISSING = object()
_partition = str.partition
_COLON_SPACE = repeat(": ")  # shared infinite argument stream for map(str.partition, ...)


def _split_colon(line: str) -> tuple[str, str]:
    key, colon, value = line.partition(":")
    return (key, value) if colon else ("", line)


def _split_headers(text: str) -> tuple[tuple[str, str], ...]:
    # One C-level partition per line; the rare line without ": " takes the slow branch.
    return tuple(
        [
            (key, value) if sep else _split_colon(key)
            for key, sep, value in map(_partition, text.split("\n"), _COLON_SPACE)
        ]
    )


@attrs.frozen(repr=False)
class Message(Mapping[str, str]):
    """One AMI packet: an ordered list of ``(key, value)`` headers, repeated keys allowed.

    It is a read-only ``Mapping`` whose keys are case-insensitive: ``msg["channel"]`` returns the
    first ``Channel`` value, ``msg.get_all("ChanVariable")`` every value of a repeated key, and
    ``msg.headers`` the full list in order. Iteration yields each distinct key once, as spelled
    by its first occurrence.
    """

    # The packet's lines joined by "\n", without its terminating blank line.
    _text: str
    # Lazily computed views, not part of the value.
    _headers: tuple[tuple[str, str], ...] = attrs.field(init=False, eq=False)
    _folded: str = attrs.field(init=False, eq=False)
    _index: dict[str, tuple[str, list[str]]] = attrs.field(init=False, eq=False)

    #: The header whose value names the message (``Event`` for events, ``Response`` for responses).
    name_key: ClassVar[str] = ""
    _name_prefix: ClassVar[str] = ""

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_headers(cls: type[_M], headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> _M:
        """Build a message from ``(key, value)`` pairs or a mapping, in order.

        Raises ``ValueError`` for a key or value containing a line break (it could not be sent).
        """
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        for key, value in pairs:
            if "\n" in key or "\r" in key or "\n" in value or "\r" in value:
                raise ValueError(f"header {key!r} contains a line break")
        return cls("\n".join(f"{key}: {value}" for key, value in pairs))

    # -- the naming headers ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The event name or response status (``"Hangup"``, ``"Success"``), ``""`` if absent."""
        text = self._text
        prefix = self._name_prefix
        if prefix and text.startswith(prefix):
            end = text.find("\n")
            return text[len(prefix) :] if end < 0 else text[len(prefix) : end]
        return self.get(self.name_key, "") if self.name_key else ""

    @property
    def action_id(self) -> str | None:
        """The ``ActionID`` header, or ``None``."""
        return self.get("ActionID")

    # -- headers --------------------------------------------------------------------------------
    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Every header as a ``(key, value)`` pair, in the order received."""
        try:
            return self._headers
        except AttributeError:
            headers = _split_headers(self._text)
            object.__setattr__(self, "_headers", headers)
            return headers

    def _lookup(self, key: str) -> object:
        """The first value of ``key`` (case-insensitive), or ``_MISSING``."""
        try:
            entry = self._index.get(key.lower())
        except AttributeError:
            pass
        else:
            return _MISSING if entry is None else entry[1][0]
        text = self._text
        # Fast path: search the case-folded text for the key at the start of a line. Valid when
        # folding keeps offsets (ASCII) and the key cannot straddle a separator.
        if text.isascii() and key and key.isascii() and ":" not in key and "\n" not in key:
            try:
                folded = self._folded
            except AttributeError:
                folded = "\n" + text.lower()
                object.__setattr__(self, "_folded", folded)
            needle = "\n" + key.lower() + ":"
            pos = folded.find(needle)
            if pos < 0:
                return _MISSING
            start = pos + len(needle)  # offset in text of the character after the colon
            if folded[start : start + 1] == " ":  # "Key: value": split at the first ": "
                end = text.find("\n", start)
                return text[start + 1 :] if end < 0 else text[start + 1 : end]
        entry = self._build_index().get(key.lower())
        return _MISSING if entry is None else entry[1][0]

    def _build_index(self) -> dict[str, tuple[str, list[str]]]:
        try:
            return self._index
        except AttributeError:
            pass
        index: dict[str, tuple[str, list[str]]] = {}
        for key, value in self.headers:
            entry = index.get(folded := key.lower())
            if entry is None:
                index[folded] = (key, [value])
            else:
                entry[1].append(value)
        object.__setattr__(self, "_index", index)
        return index

    def __getitem__(self, key: str) -> str:
        value = self._lookup(key)
        if value is _MISSING:
            raise KeyError(key)
        return value  # type: ignore[return-value]

    @overload
    def get(self, key: str, /) -> str | None: ...
    @overload
    def get(self, key: str, /, default: str) -> str: ...
    @overload
    def get(self, key: str, /, default: _T) -> str | _T: ...
    def get(self, key: str, /, default: object = None) -> object:
        """The first value of ``key`` (case-insensitive), or ``default``."""
        value = self._lookup(key)
        return default if value is _MISSING else value

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key`` (case-insensitive), in order; ``[]`` if absent."""
        entry = self._build_index().get(key.lower())
        return [] if entry is None else list(entry[1])

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._lookup(key) is not _MISSING

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._build_index().values())

    def __len__(self) -> int:
        return len(self._build_index())

    # -- output ---------------------------------------------------------------------------------
    def to_bytes(self, encoding: str = "utf-8") -> bytes:
        """The packet as it travels on the wire (``\\r\\n`` line ends, blank line at the end)."""
        return (self._text.replace("\n", "\r\n") + "\r\n\r\n").encode(encoding, "surrogateescape")

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in self.headers)
        return f"{type(self).__name__}({fields})"


@attrs.frozen(repr=False)
class Event(Message):
    """An ``Event:`` packet: a broadcast event, or an item of an action's event list."""

    name_key: ClassVar[str] = "Event"
    _name_prefix: ClassVar[str] = "Event: "


@attrs.frozen(repr=False)
class Response(Message):
    """A ``Response:`` packet answering one action.

    ``output`` holds the lines of ``Command`` output in both formats: the ``Output:`` headers of
    Asterisk 14 and later, or the raw text of the legacy ``Response: Follows`` format, which the
    parser keeps here rather than among the headers.
    """

    # Lines of legacy (Response: Follows) Command output, None for any other response.
    _legacy_output: tuple[str, ...] | None = None

    name_key: ClassVar[str] = "Response"
    _name_prefix: ClassVar[str] = "Response: "

    @property
    def output(self) -> list[str]:
        """Lines of ``Command`` output, in order (empty when the response carries none)."""
        if self._legacy_output is not None:
            return list(self._legacy_output)
        return self.get_all("Output")

    @property
    def is_legacy_command(self) -> bool:
        """True for the legacy ``Response: Follows`` ... ``--END COMMAND--`` format."""
        return self._legacy_output is not None

    @property
    def is_error(self) -> bool:
        """True for ``Response: Error``."""
        return self.name.lower() == "error"

    def to_bytes(self, encoding: str = "utf-8") -> bytes:
        if self._legacy_output is None:
            return super().to_bytes(encoding)
        head = self._text.replace("\n", "\r\n") + "\r\n"
        body = "".join(line + "\n" for line in self._legacy_output)
        return (head + body + "--END COMMAND--\r\n\r\n").encode(encoding, "surrogateescape")

    def __repr__(self) -> str:
        if self._legacy_output is None:
            return super().__repr__()
        return f"{super().__repr__()[:-1]}, output={list(self._legacy_output)!r})"


@attrs.frozen
class Banner:
    """The line a server greets with, e.g. ``Asterisk Call Manager/11.0.0``."""

    #: The whole line, without its line end.
    text: str
    #: The product part before the slash, e.g. ``"Asterisk Call Manager"``.
    product: str
    #: The AMI version after the slash, e.g. ``"11.0.0"`` (Asterisk 22) or ``"2.10.6"`` (13).
    version: str

    @property
    def version_info(self) -> tuple[int, ...]:
        """The version as integers, for comparisons: ``(2, 10, 6)``; non-numeric parts stop it."""
        parts: list[int] = []
        for part in self.version.split("."):
            if not part.isdigit():
                break
            parts.append(int(part))
        return tuple(parts)


_KINDS: dict[str, type[Message]] = {"event": Event, "response": Response}


def message_from_text(text: str) -> Message:
    """Classify one packet's text (lines joined by ``\\n``) by its first header."""
    if text.startswith("Event: "):
        return Event(text)
    if text.startswith("Response: "):
        return Response(text)
    first = text.partition("\n")[0]
    key = first.partition(":")[0].strip().lower()
    return _KINDS.get(key, Message)(text)
