"""Messages received from an AMI peer: ``Event``, ``Response``, the ``Banner`` line.

A message keeps the bytes of its packet, lines joined by ``\\r\\n`` as on the wire, and decodes
lazily: reading ``.name`` or a few headers decodes only those values, and the complete header
list is built once, on first need. The API behaves the same whichever path answers it.

Header lines are split at the first ``": "``; a line without one is split at its first ``":"``
(``Key:`` gives an empty value); a line without a colon is kept whole as the value of an empty key.
Keys are matched ignoring case and returned as sent; values are never changed. Bytes that are
not valid in the encoding become lone surrogates (``surrogateescape``).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

import attrs

from . import _fastpath
from ._fastpath import (
    NAME_MEMO_LENGTH,
    NAMES_MAX,
    cached_in,
    instances,
    needle,
    slot_alias,
    slot_setter,
    split_headers,
)

__all__ = [
    "Banner",
    "Event",
    "Message",
    "Response",
    "ascii_int",
    "message_class",
    "check_encoding",
    "message_from_text",
]

_T = TypeVar("_T")
_M = TypeVar("_M", bound="Message")
_MISSING: Any = object()
# The memos shared by every message, bound here by assignment: CPython 3.11 calls a method of a
# name bound by an import without its fast path (each _NAMES.get() made a bound method: reading
# an event's name cost 465 ns so, 437 bound this way, same run).
_NAMES = _fastpath.NAMES
_NEEDLES = _fastpath.NEEDLES
_DEFAULT_ENCODING = "utf-8"
_ESCAPE = "surrogateescape"

# No count on the wire is longer; int() refuses far longer ones (4300 digits) with ValueError.
_MAX_DIGITS = 64


def ascii_int(text: str) -> int | None:
    """``text`` as an integer if it is ASCII decimal digits only (``"42"``), else ``None``.

    Every number read from the wire goes through here. ``str.isdigit()`` also accepts ``"²"``,
    which ``int()`` then refuses, and ``int()`` reads ``"٣"``, ``" 3"`` or ``"+3"``: no peer
    means any of them as a number. More than 64 digits is no number either.
    """
    if text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS:
        return int(text)
    return None


def _to_raw(packet: str | bytes) -> bytes:
    """A packet given as text (lines joined by ``\\n``) or wire bytes, as stored."""
    if isinstance(packet, bytes):
        return packet
    return packet.replace("\n", "\r\n").encode(_DEFAULT_ENCODING, "surrogateescape")


def _rebuild(cls: type[_M], raw: bytes, extra: tuple[Any, ...], encoding: str | None = None) -> _M:
    message = cls(raw, *extra)
    if encoding is not None:
        cls.encoding.fill((message,), encoding)
    return message


_ASCII_PROBE = "".join(map(chr, range(128)))


def check_encoding(encoding: str) -> str | None:
    """``None`` for UTF-8 (by any of its names), else ``encoding``, which messages then keep.

    ``LookupError`` for an unknown encoding; ``ValueError`` for one that does not encode ASCII
    as ASCII (AMI frames on ASCII bytes).
    """
    if codecs.lookup(encoding).name == _DEFAULT_ENCODING:
        return None
    if _ASCII_PROBE.encode(encoding, "replace") != _ASCII_PROBE.encode("ascii"):
        raise ValueError(f"{encoding!r} does not encode ASCII as ASCII; AMI needs it to")
    return encoding


@attrs.frozen(repr=False)
class Message(Mapping[str, str]):
    """One AMI packet: an ordered list of ``(key, value)`` headers, repeated keys allowed.

    It is a read-only ``Mapping`` whose keys ignore case: ``msg["channel"]`` returns the first
    ``Channel`` value, ``msg.get_all("ChanVariable")`` every value of a repeated key, and
    ``msg.headers`` the full list in order. Iteration yields each distinct key once, as spelled
    by its first occurrence. Build one from text (``Event("Event: Hangup\\nChannel: X")``), from
    wire bytes, or with :meth:`from_headers`. Two messages are equal when they are of the same
    kind and hold the same packet, whatever encoding they decode it with.
    """

    # The packet's bytes, lines joined by b"\r\n", without its terminating blank line.
    _raw: bytes = attrs.field(converter=_to_raw)
    # The slots of the lazily computed views (SlotView), not part of the value.
    _codec: str = attrs.field(init=False, eq=False)
    _lowered: bytes = attrs.field(init=False, eq=False)
    _headers_slot: tuple[tuple[str, str], ...] = attrs.field(init=False, eq=False)
    _index_slot: dict[str, tuple[str, list[str]]] = attrs.field(init=False, eq=False)

    #: The header whose value names the message (``Event`` for events, ``Response`` for responses).
    name_key: ClassVar[str] = ""

    if TYPE_CHECKING:  # at run time, the slot of _raw under a public name (see slot_alias)

        @property
        def raw(self) -> bytes:
            """The packet's bytes: its lines joined by ``\\r\\n``, without the final blank line."""

    # -- lazily computed views ------------------------------------------------------------------
    @cached_in("_codec")
    def encoding(self) -> str:
        """The encoding the packet's bytes are decoded with."""
        # A message of another encoding is given it when built; any other reads UTF-8 here, so
        # that bulk construction makes no pass for it.
        return _DEFAULT_ENCODING

    @cached_in("_headers_slot")
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Every header as a ``(key, value)`` pair, in the order received."""
        return split_headers(self._decode(self._raw))

    @cached_in("_index_slot")
    def _index(self) -> dict[str, tuple[str, list[str]]]:
        index: dict[str, tuple[str, list[str]]] = {}
        for key, value in self.headers:
            entry = index.get(folded := key.lower())
            if entry is None:
                index[folded] = (key, [value])
            else:
                entry[1].append(value)
        return index

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_headers(cls: type[_M], headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> _M:
        """Build a message from ``(key, value)`` pairs or a mapping, in order.

        Raises ``ValueError`` for a line break anywhere, or ``": "`` in a key: such a header could
        not travel as it is.
        """
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        for key, value in pairs:
            if "\n" in key or "\r" in key or "\n" in value or "\r" in value:
                raise ValueError(f"header {key!r} contains a line break")
            if ": " in key:
                raise ValueError(f"header key {key!r} contains ': ', where it would be split")
        return cls("\n".join(f"{key}: {value}" for key, value in pairs))

    @classmethod
    def from_packets(
        cls: type[_M], packets: list[bytes], encoding: str | None = None, **fields: Any
    ) -> list[_M]:
        """One message of this class per packet (wire bytes, as :attr:`raw` holds them), built
        in bulk: what the parser does with every block it frames. ``fields`` are the other
        arguments of the class (``legacy_output`` for a response).

        ``encoding`` is ``None`` for UTF-8, else an encoding already known to be usable (one
        that encodes ASCII as ASCII); nothing is checked here.
        """
        messages = instances(cls, packets, **fields)
        if encoding is not None:
            cls.encoding.fill(messages, encoding)
        return messages

    def _decode(self, data: bytes) -> str:
        if data.isascii():  # the same in every encoding allowed, and fastest as Latin-1
            return data.decode("latin-1")
        # The slot of the encoding view, read as it is: a message's first decoding would
        # otherwise fill it with "utf-8", which costs more than the decoding of most values.
        return data.decode(getattr(self, "_codec", _DEFAULT_ENCODING), _ESCAPE)

    # -- the naming headers ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The event name or response status (``"Hangup"``, ``"Success"``), ``""`` if absent."""
        return self.get(self.name_key, "") if self.name_key else ""

    def _name_after(self, prefix: bytes) -> str:
        # The common case, made cheap: the naming header comes first, and first lines map to
        # names through a memo. Memo keys are first lines with their line end: a packet of one
        # line (no line end) looks up a slice that no key can equal, and takes the slow path.
        raw = self._raw
        first = raw[: raw.find(b"\r\n") + 2]
        name = _NAMES.get(first)
        if name is not None:
            return name
        if not raw.startswith(prefix):
            return self.get(self.name_key, "")
        end = raw.find(b"\r\n")
        value = raw[len(prefix) :] if end < 0 else raw[len(prefix) : end]
        try:
            name = value.decode("ascii")
        except UnicodeDecodeError:
            return self._decode(value)
        if end >= 0 and len(_NAMES) < NAMES_MAX and len(first) <= NAME_MEMO_LENGTH:
            _NAMES[first] = name
        return name

    @property
    def action_id(self) -> str | None:
        """The ``ActionID`` header, or ``None``."""
        return self.get("ActionID")

    # -- headers --------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> str:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value  # type: ignore[no-any-return]

    @overload
    def get(self, key: str, /) -> str | None: ...
    @overload
    def get(self, key: str, /, default: str) -> str: ...
    @overload
    def get(self, key: str, /, default: _T) -> str | _T: ...
    def get(self, key: str, /, default: object = None) -> object:
        """The first value of ``key`` (any case), or ``default``."""
        found = _NEEDLES.get(key)
        if found is None:
            found = needle(key)
        if found:
            # Fast path: find the key at the start of a line in the case-folded bytes. "Key:
            # value" at the first match is the answer; anything else there ("Key:value") is left
            # to the full split.
            # The packet's bytes lowered after a line end (folding ASCII keeps every offset),
            # kept for the next lookups; read and filled inline (see slot_setter).
            folded: bytes | None = getattr(self, "_lowered", None)
            if folded is None:
                folded = b"\r\n" + self._raw.lower()
                _store_lowered(self, folded)
            pos = folded.find(found)
            if pos < 0:
                return default
            start = pos + len(found)  # after the colon, in folded; the raw offset is start - 2
            if folded[start : start + 1] == b" ":
                raw = self._raw
                end = raw.find(b"\r\n", start - 1)
                value = raw[start - 1 :] if end < 0 else raw[start - 1 : end]
                try:
                    return value.decode("ascii")  # the same in every encoding allowed
                except UnicodeDecodeError:
                    return self._decode(value)
        entry = self._index.get(key.lower())
        return default if entry is None else entry[1][0]

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key`` (any case), in order; ``[]`` if absent."""
        entry = self._index.get(key.lower())
        return [] if entry is None else list(entry[1])

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._index.values())

    def __len__(self) -> int:
        return len(self._index)

    # -- output ---------------------------------------------------------------------------------
    def to_bytes(self, encoding: str | None = None) -> bytes:
        """The packet as it travels on the wire (``\\r\\n`` line ends, blank line at the end)."""
        raw = self._raw
        if encoding is not None and encoding != self.encoding:
            raw = self._decode(raw).encode(encoding, "surrogateescape")
        return raw + b"\r\n\r\n"

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in self.headers)
        return f"{type(self).__name__}({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The lazy views are left out: they are rebuilt on demand.
        return (_rebuild, (type(self), self._raw, (), check_encoding(self.encoding)))


@attrs.frozen(repr=False)
class Event(Message):
    """An ``Event:`` packet: a broadcast event, or an item of an action's event list."""

    name_key: ClassVar[str] = "Event"

    @property
    def name(self) -> str:
        """The event's name (``"Hangup"``), ``""`` if it has none."""
        # The memo hit inlined: this is read for every event that arrives.
        raw = self._raw
        name = _NAMES.get(raw[: raw.find(b"\r\n") + 2])
        return self._name_after(b"Event: ") if name is None else name


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

    @property
    def name(self) -> str:
        """The response status (``"Success"``, ``"Error"``), ``""`` if it has none."""
        return self._name_after(b"Response: ")

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

    def to_bytes(self, encoding: str | None = None) -> bytes:
        if self._legacy_output is None:
            return super().to_bytes(encoding)
        encoding = encoding or self.encoding
        head = self._decode(self._raw) + "\r\n"
        body = "".join(line + "\n" for line in self._legacy_output)
        return (head + body + "--END COMMAND--\r\n\r\n").encode(encoding, "surrogateescape")

    def __repr__(self) -> str:
        if self._legacy_output is None:
            return super().__repr__()
        return f"{super().__repr__()[:-1]}, output={list(self._legacy_output)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        extra = (self._legacy_output,)
        return (_rebuild, (type(self), self._raw, extra, check_encoding(self.encoding)))


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
            number = ascii_int(part)
            if number is None:
                break
            parts.append(number)
        return tuple(parts)


_KINDS: dict[bytes, type[Message]] = {b"event": Event, b"response": Response}


def message_class(raw: bytes) -> type[Message]:
    """The message class for a packet, by the key of its first line."""
    first = raw.partition(b"\r\n")[0]
    key, colon, _ = first.partition(b":")
    return _KINDS.get(key.strip().lower(), Message) if colon else Message


def message_from_text(text: str | bytes) -> Message:
    """Classify one packet (text with ``\\n`` line ends, or wire bytes) by its first header."""
    raw = _to_raw(text)
    return message_class(raw)(raw)


_store_lowered = slot_setter(Message, "_lowered")
slot_alias(Message, "raw", "_raw")
