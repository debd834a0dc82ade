"""Find a secret anywhere an error or an item could show it.

``assert_no_secret(obj, secret, ...)`` walks ``obj`` recursively (an exception, a protocol item, a
message, a list of them...) and fails naming every place where one of the secrets shows: the
``str``, ``repr`` and ``args`` of an exception and its ``__cause__``, ``__context__``,
``__notes__`` and grouped exceptions; the fields of attrs classes; ``__dict__`` and slots;
mappings, sequences, sets; bytes. A secret is looked for as text, as the escaped text ``repr``
shows, as bytes (UTF-8 and Latin-1, surrogateescape) and, for text with line breaks, each line
of 4 characters or more. Give derived values (an MD5 key) as further secrets.

``tests/`` is on ``sys.path`` (``pythonpath`` in pyproject.toml), so any test imports it with
``from helpers.secrets import assert_no_secret``.
"""

from __future__ import annotations

import contextlib
import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = ["assert_no_secret", "secret_forms", "where_secrets_show"]

_MAX_DEPTH = 40


def secret_forms(secret: str | bytes) -> tuple[set[str], set[bytes]]:
    """The text and byte strings under which ``secret`` may show."""
    texts: set[str] = set()
    blobs: set[bytes] = set()
    if isinstance(secret, bytes):
        blobs.add(secret)
        blobs.add(repr(secret)[2:-1].encode())
        texts.add(repr(secret)[2:-1])
        texts.add(secret.decode("utf-8", "surrogateescape"))
        texts.add(secret.decode("latin-1"))
    else:
        texts.add(secret)
        texts.add(repr(secret)[1:-1])
        texts.add(ascii(secret)[1:-1])
        for encoding in ("utf-8", "latin-1"):
            with contextlib.suppress(UnicodeEncodeError):
                blobs.add(secret.encode(encoding, "surrogateescape"))
        blobs.add(secret.encode("utf-8", "surrogatepass"))
        blobs.update(text.encode("ascii", "backslashreplace") for text in list(texts))
    # A secret with a line break could show cut at it; each longer piece must not show either.
    for text in list(texts):
        texts.update(piece for piece in re.split(r"[\r\n]+|\\r|\\n", text) if len(piece) >= 4)
    texts.discard("")
    blobs.discard(b"")
    return texts, blobs


def where_secrets_show(obj: object, *secrets: str | bytes) -> list[str]:
    """Every place in ``obj`` (walked recursively) where one of ``secrets`` shows."""
    texts: set[str] = set()
    blobs: set[bytes] = set()
    for secret in secrets:
        more_texts, more_blobs = secret_forms(secret)
        texts |= more_texts
        blobs |= more_blobs
    found: list[str] = []
    seen: set[int] = set()

    def check_text(text: str, path: str) -> None:
        found.extend(f"{path}: {needle!r}" for needle in texts if needle in text)

    def check_bytes(data: bytes, path: str) -> None:
        found.extend(f"{path}: {needle!r}" for needle in blobs if needle in data)

    def walk(value: Any, path: str, depth: int) -> None:
        if isinstance(value, str):
            check_text(value, path)
            return
        if isinstance(value, (bytes, bytearray, memoryview)):
            check_bytes(bytes(value), path)
            check_text(repr(bytes(value)), f"repr({path})")
            return
        if value is None or isinstance(value, (bool, int, float, enum.Enum)):
            return
        if id(value) in seen or depth > _MAX_DEPTH:
            return
        seen.add(id(value))
        check_text(repr(value), f"repr({path})")
        check_text(str(value), f"str({path})")
        if isinstance(value, BaseException):
            walk(value.args, f"{path}.args", depth + 1)
            walk(value.__cause__, f"{path}.__cause__", depth + 1)
            walk(value.__context__, f"{path}.__context__", depth + 1)
            walk(getattr(value, "__notes__", None), f"{path}.__notes__", depth + 1)
            walk(getattr(value, "exceptions", None), f"{path}.exceptions", depth + 1)
        if attrs.has(type(value)):
            for field in attrs.fields(type(value)):
                walk(getattr(value, field.name, None), f"{path}.{field.name}", depth + 1)
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(key, f"{path} key", depth + 1)
                walk(item, f"{path}[{key!r}]", depth + 1)
        elif isinstance(value, Iterable) and isinstance(value, (list, tuple, set, frozenset)):
            for n, item in enumerate(value):
                walk(item, f"{path}[{n}]", depth + 1)
        for name, item in _own_attributes(value):
            walk(item, f"{path}.{name}", depth + 1)

    walk(obj, "obj", 0)
    return found


def _own_attributes(value: object) -> list[tuple[str, object]]:
    """The instance attributes of ``value``: its ``__dict__`` and every slot that is set."""
    pairs = list(getattr(value, "__dict__", {}).items())
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name in ("__dict__", "__weakref__"):
                continue
            try:
                pairs.append((name, getattr(value, name)))
            except AttributeError:
                continue
    return pairs


def assert_no_secret(obj: object, *secrets: str | bytes) -> None:
    """Fail, naming the places, if one of ``secrets`` shows anywhere in ``obj``."""
    found = where_secrets_show(obj, *secrets)
    assert not found, "secret shows at:\n" + "\n".join(found)
