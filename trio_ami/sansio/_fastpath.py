"""The speed tricks of the packet layer, in one place, each with the figure that pays for it.

Nothing here changes what a message says: each trick is a shortcut to the answer the plain code
gives. The figures are MB/s of the workload named in ``benchmarks/bench_parser.py``, on its 4 MB
corpus in 64 KiB chunks, with and without the trick, alternated in one process (medians of 9
runs, CPU time; see ``docs/benchmarks.md``), unless another measure is named.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import partial
from itertools import repeat
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import attrs

__all__ = [
    "LINES",
    "NAMES",
    "NAMES_MAX",
    "NAME_MEMO_LENGTH",
    "NEEDLES",
    "SlotView",
    "cached_in",
    "finder",
    "instances",
    "needle",
    "slot_alias",
    "slot_setter",
    "split_headers",
]

_T = TypeVar("_T")
_UNSET: Any = object()
_O = TypeVar("_O")
_V = TypeVar("_V")


# -- lazily computed views ------------------------------------------------------------------------
class SlotView(property, Generic[_O, _V]):
    """A view of a frozen, slotted instance computed on first read and kept in a slot.

    What ``functools.cached_property`` does, without its price on a slotted attrs class: there
    attrs fills the value from a class-level ``__getattr__``, and a class with one takes every
    attribute read of its instances off CPython's fast path (reading ``.name`` went from 277 to
    363 ns and routing fell from 406 to 351 MB/s when it was tried, see commit d59fe55). This
    is a property whose getter reads the slot and fills it on the first read, past the frozen
    ``__setattr__``. A property, not a descriptor with a ``__get__`` of its own: CPython calls a
    property's getter from C, and the full workload ran 5% slower through such a ``__get__``
    (pairwise median of 15 alternated runs against a property).

    ``slot`` names an attrs field with ``init=False`` of the same slotted class (a slot left
    unset until the first read).
    """

    _write: Callable[[_O, _V], None]

    def __init__(self, slot: str, compute: Callable[[_O], _V]) -> None:
        def read(instance: _O) -> _V:
            # getattr() with a default clears the AttributeError of an unset slot in C: a
            # read of a filled slot cost 115 ns so, 177 in a try statement (a toy class).
            value: _V = getattr(instance, slot, _UNSET)
            if value is _UNSET:
                value = compute(instance)
                self._write(instance, value)
            return value

        super().__init__(read)
        self.slot = slot
        self.__doc__ = compute.__doc__  # the class's own would shadow what property keeps

    def __set_name__(self, owner: type[Any], name: str) -> None:
        if "__slots__" not in vars(owner):
            return  # attrs builds the slotted class from this one, and names this view again
        self._write = vars(owner)[self.slot].__set__

    if TYPE_CHECKING:  # what a read gives; property's own getter runs it

        @overload
        def __get__(self, instance: None, owner: type[Any] | None = None) -> SlotView[_O, _V]: ...
        @overload
        def __get__(self, instance: _O, owner: type[Any] | None = None) -> _V: ...
        def __get__(self, instance: _O | None, owner: type[Any] | None = None) -> Any: ...

    def fill(self, instances: Iterable[_O], value: _V) -> None:
        """Give the view of every instance in ``instances`` the value ``value``, now."""
        any(map(self._write, instances, repeat(value)))


def slot_alias(cls: type[Any], name: str, slot: str) -> None:
    """Make ``name`` read the slot ``slot`` of the slotted class ``cls``, as fast as the slot.

    The same slot under another name, with no function between: a loop reading ``message.raw``
    from every message of the corpus cost 36 ns a message so, 109 through a property returning
    the slot (19 for the loop alone, same run).
    """
    setattr(cls, name, vars(cls)[slot])


def cached_in(slot: str) -> Callable[[Callable[[_O], _V]], SlotView[_O, _V]]:
    """Decorates a method computing a view: a :class:`SlotView` kept in ``slot``."""
    return partial(SlotView, slot)


# -- bulk construction ----------------------------------------------------------------------------
# The parser builds messages by the thousand: a bare instance per packet and a store into each
# of its slots, all in C-level map() passes, instead of the generated __init__ (which a frozen
# class runs through object.__setattr__ once per field). Parse only: 328 MB/s with it, 274 with
# cls(packet) per packet.
_Setter = Callable[[Any, Any], None]
_SETTERS: dict[type[Any], tuple[_Setter, list[tuple[str, _Setter, Any]]]] = {}


def _setters(cls: type[Any]) -> tuple[_Setter, list[tuple[str, _Setter, Any]]]:
    """The setter of ``cls``'s first field, and (alias, setter, default) for each other field
    that ``__init__`` sets."""
    slots = {name: value for klass in reversed(cls.__mro__) for name, value in vars(klass).items()}
    first, *others = (field for field in attrs.fields(cls) if field.init)
    rest = [(field.alias, slots[field.name].__set__, field.default) for field in others]
    found = _SETTERS[cls] = (slots[first.name].__set__, rest)
    return found


def instances(cls: type[_T], values: list[Any], **fields: Any) -> list[_T]:
    """Instances of the slotted attrs class ``cls``, one per item of ``values``, without
    running ``__init__``: the first field holds the value, each other one ``fields[alias]``,
    else its default. No converter or validator runs: the caller gives what they would have
    made.
    """
    found = _SETTERS.get(cls) or _setters(cls)
    count = len(values)
    made = list(map(object.__new__, repeat(cls, count)))
    set_first, rest = found
    any(map(set_first, made, values))
    for alias, set_field, default in rest:
        any(map(set_field, made, repeat(fields.get(alias, default), count)))
    return made


# -- names ----------------------------------------------------------------------------------------
# The first line of an event or response -> its name (ASCII names only, so the same in every
# encoding allowed). A PBX sends a few dozen kinds of events: routing reads the name of every
# one, and a dict lookup of the first line beats decoding it. Routing: 313 MB/s with it, 217
# without. Bounded in count and length: names are few and short, but a peer could send any.
NAMES: dict[bytes, str] = {}
NAMES_MAX = 4096
NAME_MEMO_LENGTH = 80


# -- header lines ---------------------------------------------------------------------------------
# Header lines repeat across events ("Privilege: call,all", "Context: from-internal", a call's
# "Channel:" and "Uniqueid:" in each of its events): a memo of line -> (key, value) turns most of
# a packet's split into dictionary lookups. Keys, values and pairs are immutable, so messages
# share them safely. Full: 51.7 MB/s with it, 30.6 without.
# At most 4096 lines of at most 160 characters are kept, whatever the peer sends.
LINES: dict[str, tuple[str, str]] = {}
_LINES_MAX = 4096
_LINE_MEMO_LENGTH = 160


def _split_colon(line: str) -> tuple[str, str]:
    key, colon, value = line.partition(":")
    return (key, value) if colon else ("", line)


def split_headers(text: str) -> tuple[tuple[str, str], ...]:
    """The ``(key, value)`` pairs of a packet's text, lines joined by ``\\r\\n``.

    A line splits at its first ``": "``, else at its first ``":"``; a line without a colon is
    the value of an empty key.
    """
    if not text:
        return ()
    lines = text.split("\r\n")
    pairs: list[tuple[str, str] | None] = list(map(LINES.get, lines))
    index = 0
    while True:
        try:
            index = pairs.index(None, index)
        except ValueError:
            return tuple(pairs)  # type: ignore[arg-type]
        line = lines[index]
        key, sep, value = line.partition(": ")
        pair = pairs[index] = (key, value) if sep else _split_colon(line)
        if len(line) <= _LINE_MEMO_LENGTH:  # long lines are rare: they would only fill it
            if len(LINES) >= _LINES_MAX:
                LINES.clear()
            LINES[line] = pair
        index += 1


# -- lookups --------------------------------------------------------------------------------------
# key -> the bytes that find it at the start of a line in a message's case-folded bytes
# (b"\r\n" + folded key + b":"), or b"" for a key that search cannot answer. A lookup by one
# C-level find in the packet's bytes, with no split at all, is what makes the typical workload
# (name and three headers) cheap; the memo saves building the needle for each. Typical: 118.5
# MB/s with the memo, 84.4 without. Bounded: user code may look up arbitrary keys.
NEEDLES: dict[str, bytes] = {}
_NEEDLES_MAX = 1024


def finder(needles: list[bytes]) -> Callable[[bytes], object]:
    """What finds any of ``needles`` in bytes: a match, or ``None`` when none is there.

    One compiled pattern, called from C, however many needles: to tell whether an event holds a
    claiming action's ActionID, 258 ns a message against 370 for ``needle in raw`` and 442
    through a function looping over the needles (one needle; medians of 9 runs over the corpus).
    An empty needle is found in every packet.
    """
    return re.compile(b"|".join(map(re.escape, needles))).search


def slot_setter(cls: type[_O], slot: str) -> Callable[[_O, Any], None]:
    """What stores a value into the slot ``slot`` of a frozen, slotted instance of ``cls``.

    For the bytes every lookup searches (the packet's, lowered): the lookup reads their slot
    inline with ``getattr()`` and, on the first lookup, computes them inline and stores them with
    this. Routing by name and ActionID (the first lookup of most events) ran at 0.93 of the
    speed of the code before views with a function that read or filled the slot, 0.99 inline
    (pairwise medians of 21 and 15 alternated runs).
    """
    store: Callable[[_O, Any], None] = vars(cls)[slot].__set__
    return store


def needle(key: str) -> bytes:
    """What finds ``key`` at a line's start in ``b"\\r\\n"`` + the lowered packet, or ``b""``,
    put in ``NEEDLES`` (the caller looks there first)."""
    found = b""
    if key and key.isascii() and ":" not in key and "\r" not in key and "\n" not in key:
        found = b"\r\n" + key.lower().encode("ascii") + b":"
    if len(NEEDLES) >= _NEEDLES_MAX:
        NEEDLES.clear()
    NEEDLES[key] = found
    return found
