"""Actions, the requests a client sends, and their serializer.

An action is validated completely before a single byte is produced: the server reads keys up to
the first colon, ends lines at CR LF, drops lines of 1024 bytes or more and ignores headers past
the 128th, so anything that would be cut or misread is refused with ``InvalidActionError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias, overload

import attrs

from ._errors import InvalidActionError

__all__ = [
    "MAX_HEADERS",
    "MAX_LINE_BYTES",
    "Action",
    "HeaderValue",
    "Headers",
    "event_mask",
    "serialize_headers",
]

#: Asterisk reads at most this many header lines per action (``Action:`` included).
MAX_HEADERS = 128
#: Asterisk drops an input line once it reaches this many bytes (line end included).
MAX_LINE_BYTES = 1024

#: What a header value may be given as: text, a number, a flag (``true``/``false``), or a
#: sequence of those (a list, a tuple...) for a repeated key (``Variable``; an empty one sends
#: nothing). ``None`` leaves the header out. A ``str`` is one value, never a sequence of
#: characters; ``bytes`` are refused. ``Sequence`` (not ``list``) so that a ``list[str]`` or a
#: ``dict[str, list[str]]`` type-checks.
HeaderValue: TypeAlias = "str | int | bool | Sequence[str | int | bool] | None"
#: Headers as given to ``Action``: a mapping or ``(key, value)`` pairs.
Headers: TypeAlias = "Mapping[str, HeaderValue] | Iterable[tuple[str, HeaderValue]]"


#: Headers whose values are credentials (a Login's ``Secret``, or the ``Key`` derived from it):
#: no error message shows them, and the protocol keeps them masked.
_CREDENTIALS = frozenset({"secret", "key"})
_MASK = "********"


def _shown(key: str, value: object) -> str:
    """``value`` as an error message may show it: masked if ``key`` holds a credential."""
    return repr(_MASK) if key.lower() in _CREDENTIALS else repr(value)


def _text(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    kind = type(value).__name__
    raise InvalidActionError(
        f"header {key!r}: a value must be str, int or bool, not {kind} {_shown(key, value)}"
    )


def _pairs(headers: Headers) -> tuple[tuple[str, str], ...]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    pairs: list[tuple[str, str]] = []
    for key, value in items:
        if not isinstance(key, str) or not key:
            raise InvalidActionError(f"header keys must be non-empty strings, not {key!r}")
        if value is None:
            continue
        if isinstance(value, (str, int)):  # the common case first: ABC checks are slower
            pairs.append((key, _text(key, value)))
        elif isinstance(value, (list, tuple)) or (
            isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray))
        ):
            pairs.extend((key, _text(key, item)) for item in value)
        else:
            pairs.append((key, _text(key, value)))  # refused
    return tuple(pairs)


def _encode(key: str, part: str, what: str, encoding: str) -> bytes:
    """``part`` (the key or the value of header ``key``) as bytes, or a typed error."""
    try:
        return part.encode(encoding, "surrogateescape")
    except UnicodeEncodeError:
        pass
    # Raised outside the handler: the codec's error holds the text, which may be a secret.
    shown = repr(key) if what == "key" else _shown(key, part)
    raise InvalidActionError(
        f"header {key!r}: the {what} cannot be encoded in {encoding!r}: {shown}"
    )


def _line_from_parts(key: str, value: str, encoding: str) -> bytes:
    """The line, built part by part to say what is wrong with it, if anything."""
    key_bytes = _encode(key, key, "key", encoding)
    value_bytes = _encode(key, value, "value", encoding)
    for data, what in ((key_bytes, "key"), (value_bytes, "value")):
        if b"\r" in data or b"\n" in data:
            shown = repr(key) if what == "key" else _shown(key, value)
            raise InvalidActionError(
                f"header {key!r}: the {what} contains a line break, which would inject a "
                f"second action into the stream: {shown}"
            )
    # Nothing wrong: an encoding that does not write CR LF as ASCII; AMI frames on ASCII.
    return b"%s: %s\r\n" % (key_bytes, value_bytes)


def _check_line(key: str, value: str, encoding: str) -> bytes:
    if not key or not isinstance(key, str):
        raise InvalidActionError(f"header keys must be non-empty strings, not {key!r}")
    try:
        line = f"{key}: {value}\r\n".encode(encoding, "surrogateescape")
    except UnicodeEncodeError:
        line = b""
    # Line breaks are looked for in the bytes, which are what the server splits lines on: the
    # only CR and LF must be the line's end. Anything else takes the slow path, which says why.
    end = len(line) - 2
    if line.find(b"\r") != end or line.find(b"\n") != end + 1:
        line = _line_from_parts(key, value, encoding)
    if ":" in key or key != key.strip():
        raise InvalidActionError(f"header key {key!r} may not contain ':' or surrounding spaces")
    if len(line) >= MAX_LINE_BYTES:
        raise InvalidActionError(
            f"header {key!r}: the line is {len(line)} bytes; Asterisk drops lines of "
            f"{MAX_LINE_BYTES} bytes or more"
        )
    return line


def serialize_headers(pairs: Iterable[tuple[str, str]], encoding: str = "utf-8") -> bytes:
    """Encode validated ``(key, value)`` lines and the blank line that ends a packet."""
    return b"".join([_check_line(key, value, encoding) for key, value in pairs]) + b"\r\n"


# init=False: the __init__ below declares one signature per form of headers. With the union of
# both, mypy infers a literal dict of mixed values as dict[str, object] and refuses it.
@attrs.frozen(init=False)
class Action:
    """An AMI action: its name, its headers in order (repeated keys allowed) and an ActionID.

    ``Action("Originate", {"Channel": "PJSIP/100", "Variable": ["a=1", "b=2"], "Async": True})``
    builds it from a mapping (a sequence value repeats its key, ``None`` drops the header,
    ``True``/``False`` become ``true``/``false``) or from ``(key, value)`` pairs. An ``ActionID``
    among the headers becomes ``action_id``. Leave ``action_id`` unset to have the protocol
    assign a unique one.
    """

    name: str
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)
    action_id: str | None = None

    @overload
    def __init__(
        self, name: str, headers: Mapping[str, HeaderValue] = ..., action_id: str | None = None
    ) -> None: ...
    @overload
    def __init__(
        self,
        name: str,
        headers: Iterable[tuple[str, HeaderValue]],
        action_id: str | None = None,
    ) -> None: ...
    def __init__(self, name: str, headers: Headers = (), action_id: str | None = None) -> None:
        self.__attrs_init__(name, headers, action_id)

    def __attrs_post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise InvalidActionError(f"an action needs a name, not {self.name!r}")
        kept = []
        action_id = self.action_id
        for key, value in self.headers:
            folded = key.lower()
            if folded == "action":
                raise InvalidActionError("give the action's name as its name, not as a header")
            if folded == "actionid":
                if action_id is not None and action_id != value:
                    raise InvalidActionError("two different ActionIDs given")
                action_id = value
            else:
                kept.append((key, value))
        object.__setattr__(self, "headers", tuple(kept))
        object.__setattr__(self, "action_id", action_id)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of header ``key`` (case-insensitive), or ``default``."""
        folded = key.lower()
        for name, value in self.headers:
            if name.lower() == folded:
                return value
        return default

    def with_action_id(self, action_id: str) -> Action:
        """A copy of this action carrying ``action_id``."""
        return self.__class__(self.name, self.headers, action_id)

    def masked(self) -> Action:
        """A copy with its credentials (``Secret``, and ``Key``, derived from the secret)
        masked: what may be kept, logged or shown."""
        headers = [(k, _MASK if k.lower() in _CREDENTIALS else v) for k, v in self.headers]
        return self.__class__(self.name, headers, self.action_id)

    def lines(self) -> list[tuple[str, str]]:
        """The header lines in the order they are sent: ``Action``, ``ActionID``, the rest."""
        lines = [("Action", self.name)]
        if self.action_id is not None:
            lines.append(("ActionID", self.action_id))
        lines.extend(self.headers)
        return lines

    def to_bytes(self, encoding: str = "utf-8") -> bytes:
        """The action as sent on the wire; raises ``InvalidActionError`` if it cannot be sent."""
        lines = self.lines()
        if len(lines) > MAX_HEADERS:
            raise InvalidActionError(
                f"{self.name}: {len(lines)} header lines; Asterisk reads at most {MAX_HEADERS}"
            )
        return serialize_headers(lines, encoding)


def event_mask(mask: bool | str | Sequence[str]) -> str:
    """The text of an event mask (``Events:`` on Login, ``EventMask:`` on Events): ``True``/
    ``False`` for all/none, or classes (``["call", "system"]`` gives ``"call,system"``)."""
    if isinstance(mask, bool):
        return "on" if mask else "off"
    return mask if isinstance(mask, str) else ",".join(mask)
