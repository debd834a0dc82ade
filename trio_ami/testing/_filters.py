"""Session event filters, as the ``Filter`` action (and ``eventfilter`` in ``manager.conf``) define.

A legacy filter is a regular expression searched in the whole event as it goes on the wire
(``Event: Hangup\\r\\nPrivilege: call,all\\r\\n...``); a leading ``!`` makes it an exclude
filter. Asterisk 21+ also accepts *advanced* filters: a ``MatchCriteria`` such as
``action(exclude),name(Newexten),header(Channel),method(starts_with)`` with the pattern.

How a session combines them (``should_send_event`` in ``manager.c``): no filters pass everything;
include filters only pass an event matching any of them; exclude filters only pass an event
matching none of them; with both, an event must match an include filter and no exclude filter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

__all__ = ["EventFilter", "FilterError", "should_send"]

_METHODS = ("regex", "exact", "starts_with", "ends_with", "contains", "none")


class FilterError(ValueError):
    """A filter Asterisk would refuse; the message is the one Asterisk answers with."""


@attrs.frozen
class EventFilter:
    """One compiled event filter of a session."""

    #: The filter as the client gave it (``Filter`` header value), e.g. ``!Event: Newexten``.
    text: str
    #: True for an exclude filter.
    exclude: bool
    #: How ``pattern`` is matched: ``regex``, ``exact``, ``starts_with``, ``ends_with``,
    #: ``contains`` or ``none`` (advanced filters only).
    method: str = "regex"
    #: The pattern, without the leading ``!``.
    pattern: str = ""
    #: Advanced filters: only events with this name are considered.
    event_name: str | None = None
    #: Advanced filters: match against the values of this header (``Channel:``) only.
    header: str | None = None
    _regex: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, text: str, criteria: str = "") -> EventFilter:
        """Build a filter from the ``Filter`` (and optional ``MatchCriteria``) header values.

        Raises :class:`FilterError` with Asterisk's message when the filter is malformed.
        """
        pattern = text
        exclude = False
        if pattern.startswith("!"):
            exclude = True
            pattern = pattern[1:]
        method = "regex"
        event_name: str | None = None
        header: str | None = None
        criteria = criteria.strip()
        if criteria:
            exclude, method, event_name, header = _parse_criteria(criteria, exclude)
            if not pattern and method != "none":
                raise FilterError(_FORMAT_ERROR)
            if pattern and method == "none":
                raise FilterError(_FORMAT_ERROR)
            if event_name is None and header is None and method == "none":
                raise FilterError(_FORMAT_ERROR)
        elif not pattern:
            raise FilterError(_FORMAT_ERROR)
        regex = None
        if method == "regex" and pattern:
            try:
                regex = re.compile(pattern, re.DOTALL)
            except re.error:
                raise FilterError(
                    "Filter did not compile.  Check the syntax of the filter given."
                ) from None
        return cls(
            text=text,
            exclude=exclude,
            method=method,
            pattern=pattern,
            event_name=event_name,
            header=header,
            regex=regex,
        )

    def matches(self, name: str, eventdata: str) -> bool:
        """Whether the event named ``name`` whose wire text is ``eventdata`` matches."""
        if self.event_name is not None and self.event_name != name:
            return False
        if self.header is None:
            return self._match_value(eventdata)
        for line in eventdata.split("\r\n"):
            if line.startswith(self.header):
                value = line[len(self.header) :].lstrip(" \t")
                if value and self._match_value(value):
                    return True
        return False

    def _match_value(self, value: str) -> bool:
        method = self.method
        if method == "regex":
            return self._regex is None or self._regex.search(value) is not None
        if method == "exact":
            return value == self.pattern
        if method == "starts_with":
            return value.startswith(self.pattern)
        if method == "ends_with":
            return value.endswith(self.pattern)
        if method == "contains":
            return self.pattern in value
        return True  # "none": the name/header restriction alone decides


_FORMAT_ERROR = "Filter was formatted incorrectly.  Check the syntax of the filter given."


def _parse_criteria(criteria: str, exclude: bool) -> tuple[bool, str, str | None, str | None]:
    """Parse ``action(...),name(...),header(...),method(...)`` (any order, at least one)."""
    text = criteria
    if text.lower().startswith("eventfilter"):
        text = text[len("eventfilter") :].strip()
        if text.startswith("(") and text.endswith(")"):
            text = text[1:-1]
    method = "none"
    event_name: str | None = None
    header: str | None = None
    found = False
    for option in re.findall(r"([a-z_]+)\(([^)]*)\)", text):
        key, value = option[0], option[1].strip()
        found = True
        if key == "action":
            if value not in ("include", "exclude"):
                raise FilterError(_FORMAT_ERROR)
            exclude = value == "exclude"
        elif key == "name":
            if not value:
                raise FilterError(_FORMAT_ERROR)
            event_name = value
        elif key == "header":
            if not value:
                raise FilterError(_FORMAT_ERROR)
            header = value if value.endswith(":") else value + ":"
        elif key == "method":
            if value not in _METHODS:
                raise FilterError(_FORMAT_ERROR)
            method = value
        else:
            raise FilterError(_FORMAT_ERROR)
    leftover = re.sub(r"[a-z_]+\([^)]*\)", "", text).strip(" ,")
    if not found or leftover:
        raise FilterError(_FORMAT_ERROR)
    return exclude, method, event_name, header


def should_send(filters: Sequence[EventFilter], name: str, eventdata: str) -> bool:
    """Whether an event passes a session's filters (see the module docstring)."""
    includes = [f for f in filters if not f.exclude]
    excludes = [f for f in filters if f.exclude]
    if includes and not any(f.matches(name, eventdata) for f in includes):
        return False
    return not any(f.matches(name, eventdata) for f in excludes)
