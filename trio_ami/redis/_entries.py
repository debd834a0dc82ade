"""What travels through Redis, as bytes: key names, stream entries, action requests, replies.

Pure functions, no I/O: the collector and the worker agree on these and nothing else.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

import attrs

from ..sansio import Action, ActionResult, Event, Response
from ._errors import MalformedEntry

__all__ = [
    "EventEntry",
    "Keys",
    "Reply",
    "RequestEntry",
    "check_server_name",
    "decode_reply",
    "encode_reply",
    "packet_digest",
]


def check_server_name(name: str) -> str:
    """``name`` if it can name a server in key names: printable, no spaces, no ``:``."""
    if not name or not name.isprintable() or any(char in name for char in " :{}"):
        raise ValueError(f"a server name is printable, without spaces, ':' or braces: {name!r}")
    return name


def packet_digest(packet: bytes) -> str:
    """The digest that tells two packets apart in a dedup claim's key."""
    return hashlib.blake2b(packet, digest_size=16).hexdigest()


@attrs.frozen
class Keys:
    """The Redis key names, all under one ``prefix`` (several deployments can share a Redis)."""

    prefix: str = "ami"

    def events(self, server: str) -> str:
        """The stream of ``server``'s events."""
        return f"{self.prefix}:events:{server}"

    def claim(self, server: str, packet: bytes) -> str:
        """The dedup claim of one packet of ``server``."""
        return f"{self.prefix}:seen:{server}:{packet_digest(packet)}"

    def requests(self, server: str) -> str:
        """The stream of actions to send to ``server``."""
        return f"{self.prefix}:actions:{server}"

    def reply(self, request_id: str) -> str:
        """The list the reply to one action request is pushed to."""
        return f"{self.prefix}:reply:{request_id}"


def _text(fields: Mapping[Any, Any], name: bytes) -> str:
    value = fields.get(name)
    if not isinstance(value, bytes):
        raise MalformedEntry(f"no {name.decode()!r} field")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedEntry(f"the {name.decode()!r} field is not UTF-8") from None


def _number(fields: Mapping[Any, Any], name: bytes) -> float:
    text = _text(fields, name)
    try:
        value = float(text)
    except ValueError:
        raise MalformedEntry(f"the {name.decode()!r} field is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise MalformedEntry(f"the {name.decode()!r} field is not finite: {text!r}")
    return value


@attrs.frozen
class EventEntry:
    """One event as a stream entry: the packet byte for byte, its server, when it arrived."""

    server: str
    #: The packet as Asterisk sent it, without its terminating blank line (``Event.raw``).
    packet: bytes
    #: When the collector received it (seconds since the epoch).
    received: float
    #: The name of the collector that appended it.
    collector: str

    def fields(self) -> dict[bytes, bytes]:
        return {
            b"packet": self.packet,
            b"server": self.server.encode(),
            b"received": repr(self.received).encode(),
            b"collector": self.collector.encode(),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[Any, Any] | None, server: str) -> EventEntry:
        """Read an entry of ``server``'s stream; :class:`MalformedEntry` says what is wrong."""
        if not fields:
            raise MalformedEntry("the entry is empty (trimmed from the stream)")
        packet = fields.get(b"packet")
        if not packet:
            raise MalformedEntry("no 'packet' field")
        if not packet.startswith(b"Event: "):
            raise MalformedEntry(f"the packet is not an event: {packet[:40]!r}")
        named = _text(fields, b"server")
        if named != server:
            raise MalformedEntry(f"an entry of server {named!r} in the stream of {server!r}")
        return cls(server, packet, _number(fields, b"received"), _text(fields, b"collector"))


@attrs.frozen
class RequestEntry:
    """An action for a server, as a stream entry: sent at most once, before ``deadline``."""

    request_id: str
    action: Action
    #: Seconds since the epoch after which the action must not be sent any more.
    deadline: float
    #: As for :meth:`AMIConnection.action`.
    outcome_event: str | None = None
    complete_on: str | None = None
    max_items: int | None = None

    def fields(self) -> dict[bytes, bytes]:
        lines = [f"Action: {self.action.name}"]
        lines += [f"{key}: {value}" for key, value in self.action.headers]
        return {
            b"id": self.request_id.encode(),
            b"action": "\r\n".join(lines).encode("utf-8", "surrogateescape"),
            b"deadline": repr(self.deadline).encode(),
            b"outcome": (self.outcome_event or "").encode(),
            b"complete": (self.complete_on or "").encode(),
            b"max_items": b"" if self.max_items is None else str(self.max_items).encode(),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[Any, Any] | None) -> RequestEntry:
        if not fields:
            raise MalformedEntry("the request is empty")
        request_id = _text(fields, b"id")
        if not request_id or not request_id.isalnum():
            raise MalformedEntry(f"a request id is letters and digits: {request_id!r}")
        headers = Event(fields.get(b"action", b"")).headers
        if not headers or headers[0][0].lower() != "action" or not headers[0][1]:
            raise MalformedEntry("the request names no action")
        try:
            action = Action(headers[0][1], headers[1:])
        except ValueError as exc:
            raise MalformedEntry(f"the request's action is invalid: {exc}") from None
        outcome = _text(fields, b"outcome") or None
        complete = _text(fields, b"complete") or None
        max_items = _text(fields, b"max_items")
        if max_items and not max_items.isdigit():
            raise MalformedEntry(f"max_items is not a count: {max_items!r}")
        deadline = _number(fields, b"deadline")
        return cls(request_id, action, deadline, outcome, complete, int(max_items or 0) or None)


# Tags of a reply's parts.
_RESPONSE, _ITEM, _COMPLETE, _OUTCOME, _ERROR, _FAILURE = b"RICOEF"


@attrs.frozen
class Reply:
    """What comes back for a request: the action's result, or why it was not had."""

    result: ActionResult | None = None
    #: Why there is no result: ``"timeout"``, ``"unavailable"`` (not sent) or ``"invalid"``.
    failure: str | None = None
    message: str = ""


def _parts(blob: bytes) -> list[tuple[int, bytes]]:
    parts = []
    position = 0
    while position < len(blob):
        colon = blob.find(b":", position + 1)
        if colon < 0:
            raise MalformedEntry("a reply part has no length")
        length = blob[position + 1 : colon]
        if not length.isdigit():
            raise MalformedEntry(f"a reply part's length is not a number: {length[:20]!r}")
        end = colon + 1 + int(length)
        if end > len(blob):
            raise MalformedEntry("a reply part is cut short")
        parts.append((blob[position], blob[colon + 1 : end]))
        position = end
    return parts


def encode_reply(reply: Reply) -> bytes:
    """``reply`` as one blob of tagged, length-prefixed parts (a packet may hold anything)."""
    parts: list[tuple[int, bytes]] = []
    result = reply.result
    if result is not None:
        parts.append((_RESPONSE, result.response.raw))
        parts += [(_ITEM, event.raw) for event in result.events]
        for tag, message in (
            (_COMPLETE, result.complete),
            (_OUTCOME, result.outcome),
            (_ERROR, result.error),
        ):
            if message is not None:
                parts.append((tag, message.raw))
    if reply.failure is not None:
        parts.append((_FAILURE, f"{reply.failure}\n{reply.message}".encode()))
    return b"".join(bytes([tag]) + b"%d:" % len(data) + data for tag, data in parts)


def decode_reply(blob: bytes, action: Action) -> Reply:
    """Read what :func:`encode_reply` made, for ``action``."""
    response: Response | None = None
    items: list[Event] = []
    found: dict[int, bytes] = {}
    for tag, data in _parts(blob):
        if tag == _RESPONSE:
            response = Response(data)
        elif tag == _ITEM:
            items.append(Event(data))
        elif tag in (_COMPLETE, _OUTCOME, _ERROR, _FAILURE):
            found[tag] = data
        else:
            raise MalformedEntry(f"unknown reply part {bytes([tag])!r}")
    if _FAILURE in found:
        failure, _, message = found[_FAILURE].decode().partition("\n")
        return Reply(failure=failure, message=message)
    if response is None:
        raise MalformedEntry("a reply with neither a response nor a failure")
    result = ActionResult(
        action,
        response,
        tuple(items),
        complete=Event(found[_COMPLETE]) if _COMPLETE in found else None,
        outcome=Event(found[_OUTCOME]) if _OUTCOME in found else None,
        error=Response(found[_ERROR]) if _ERROR in found else None,
        items_received=len(items),
    )
    return Reply(result=result)
