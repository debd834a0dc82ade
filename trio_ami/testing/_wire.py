"""Wire-level helpers of the fake server: packets, privilege classes, event masks, caller IDs.

Pure: no trio, no I/O, no clock. Packets are framed with the core's
:class:`~trio_ami.sansio.PacketParser` and built with the core's messages
(:meth:`~trio_ami.sansio.Message.from_headers` and ``to_bytes``), so the fake server and its
client speak through one framer and one packet builder. Names and texts mirror how Asterisk's
``manager.c`` spells things.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

from ..sansio import (
    MAX_HEADERS,
    MAX_LINE_BYTES,
    Event,
    Message,
    PacketParser,
    RemoteProtocolError,
    Response,
    ascii_int,  # the core's one rule for numbers from the wire
)

__all__ = [
    "ALL_CLASSES",
    "CAUSE_TEXT",
    "CHANNEL_STATE_DESC",
    "EVENT_CLASSES",
    "PRIVILEGE_CLASSES",
    "HandlerResult",
    "OutEvent",
    "Pairs",
    "Reply",
    "action_name",
    "action_parser",
    "ascii_int",
    "class_names",
    "encode_replies",
    "event_mask_from_text",
    "event_pairs",
    "frame_packets",
    "header_pairs",
    "is_true",
    "input_error",
    "leading_int",
    "legacy_command_bytes",
    "list_marker",
    "make_event",
    "packet_bytes",
    "parse_callerid",
    "parse_privilege",
    "privilege_text",
    "recorded_event",
    "version_info",
]

#: Headers in order, as ``(key, value)`` pairs.
Pairs: TypeAlias = list[tuple[str, str]]
#: One reply packet: a message (``Response``/``Event``), headers as a mapping or as
#: ``(key, value)`` pairs (the first header names the packet, e.g. ``Response: Success``), or
#: raw bytes written verbatim. The action's ``ActionID`` is added to messages and headers that
#: lack one (right after the first line, where Asterisk puts it); raw bytes are never changed.
Reply: TypeAlias = Message | Mapping[str, str] | Sequence[tuple[str, str]] | bytes
#: What a handler returns: one reply, several (a list), or ``None`` for no reply at all.
HandlerResult: TypeAlias = Reply | Sequence[Reply] | None

#: Asterisk's permission classes and their bits (``EVENT_FLAG_*`` in ``manager.h``).
PRIVILEGE_CLASSES: Mapping[str, int] = {
    "system": 1 << 0,
    "call": 1 << 1,
    "log": 1 << 2,
    "verbose": 1 << 3,
    "command": 1 << 4,
    "agent": 1 << 5,
    "user": 1 << 6,
    "config": 1 << 7,
    "dtmf": 1 << 8,
    "reporting": 1 << 9,
    "cdr": 1 << 10,
    "dialplan": 1 << 11,
    "originate": 1 << 12,
    "agi": 1 << 13,
    "cc": 1 << 14,
    "aoc": 1 << 15,
    "test": 1 << 16,
    "security": 1 << 17,
    "message": 1 << 18,
}
#: Every class at once (what ``on`` / ``all`` means in an event mask).
ALL_CLASSES = sum(PRIVILEGE_CLASSES.values())

#: The class Asterisk raises some common events under, for events pushed without a
#: ``Privilege`` header (keys are lower-case event names).
EVENT_CLASSES: Mapping[str, str] = {
    **dict.fromkeys(
        [
            "newchannel",
            "newstate",
            "hangup",
            "hanguprequest",
            "softhanguprequest",
            "dialbegin",
            "dialend",
            "dialstate",
            "bridgecreate",
            "bridgeenter",
            "bridgeleave",
            "bridgedestroy",
            "bridgemerge",
            "localbridge",
            "newcallerid",
            "newconnectedline",
            "newaccountcode",
            "originateresponse",
            "devicestatechange",
            "extensionstatus",
            "hold",
            "unhold",
            "rename",
            "musiconholdstart",
            "musiconholdstop",
            "blindtransfer",
            "attendedtransfer",
            "messagewaiting",
            "chanspystart",
            "chanspystop",
            "mixmonitorstart",
            "mixmonitorstop",
        ],
        "call",
    ),
    **dict.fromkeys(["varset", "newexten"], "dialplan"),
    **dict.fromkeys(["userevent"], "user"),
    **dict.fromkeys(["cdr"], "cdr"),
    **dict.fromkeys(["dtmfbegin", "dtmfend"], "dtmf"),
    **dict.fromkeys(
        ["fullybooted", "reload", "shutdown", "peerstatus", "registry", "contactstatus"],
        "system",
    ),
    **dict.fromkeys(
        [
            "successfulauth",
            "failedacl",
            "invalidaccountid",
            "invalidpassword",
            "challengesent",
            "challengeresponsefailed",
            "requestbadformat",
            "requestnotallowed",
        ],
        "security",
    ),
    **dict.fromkeys(
        [
            "agentcalled",
            "agentconnect",
            "agentcomplete",
            "agentringnoanswer",
            "agentlogin",
            "agentlogoff",
            "queuecallerjoin",
            "queuecallerleave",
            "queuecallerabandon",
            "queuememberstatus",
            "queuememberadded",
            "queuememberremoved",
            "queuememberpause",
        ],
        "agent",
    ),
    **dict.fromkeys(["agiexecstart", "agiexecend", "asyncagistart", "asyncagiend"], "agi"),
}

#: ``ChannelStateDesc`` for each ``ChannelState``.
CHANNEL_STATE_DESC: Mapping[int, str] = {
    0: "Down",
    1: "Rsrvd",
    2: "OffHook",
    3: "Dialing",
    4: "Ring",
    5: "Ringing",
    6: "Up",
    7: "Busy",
    8: "Dialing Offhook",
    9: "Pre-ring",
}

#: ``Cause-txt`` for the hangup causes the simulator uses (``ast_cause2str``).
CAUSE_TEXT: Mapping[int, str] = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    34: "Circuit/channel congestion",
    38: "Network out of order",
}


_TRUE_WORDS = frozenset({"yes", "true", "y", "t", "1", "on"})
_FALSE_WORDS = frozenset({"no", "false", "n", "f", "0", "off"})


# -- classes and masks ------------------------------------------------------------------------
def parse_privilege(value: str) -> int:
    """The class bits named by a ``Privilege`` header (``"call,all"`` -> the ``call`` bit).

    ``all`` is ignored: Asterisk writes it after every class name, it is not part of the
    event's category. Unknown names are ignored too.
    """
    mask = 0
    for name in value.split(","):
        mask |= PRIVILEGE_CLASSES.get(name.strip().lower(), 0)
    return mask


def privilege_text(class_name: str) -> str:
    """The ``Privilege`` header value Asterisk writes for one class: ``"call,all"``."""
    return class_name if "," in class_name else f"{class_name},all"


def event_mask_from_text(value: str) -> int | None:
    """Parse an event mask the way Asterisk does (``strings_to_mask``); ``None`` if invalid.

    A number is taken as the mask itself; ``on``/``yes``/``true`` mean every class;
    ``off``/``no``/``false`` mean none; otherwise the comma-separated class names are OR-ed
    together (unknown names count for nothing, so ``bogus`` gives 0, i.e. events off).
    An empty value is invalid.
    """
    text = value.strip()
    if not text:
        return None
    number = ascii_int(text)
    if number is not None:
        return number
    folded = text.lower()
    if folded in _FALSE_WORDS:
        return 0
    if folded in _TRUE_WORDS:
        return ALL_CLASSES
    mask = 0
    for part in folded.split(","):
        name = part.strip()
        mask |= ALL_CLASSES if name == "all" else PRIVILEGE_CLASSES.get(name, 0)
    return mask


def class_names(mask: int) -> frozenset[str]:
    """The class names whose bits are set in ``mask``."""
    return frozenset(name for name, bit in PRIVILEGE_CLASSES.items() if mask & bit)


def is_true(value: str | None) -> bool:
    """A flag as Asterisk's ``ast_true`` reads it (``yes``, ``true``, ``1``, ``on``...)."""
    return (value or "").strip().lower() in _TRUE_WORDS


# -- values -----------------------------------------------------------------------------------
_PHONE_CHARS = frozenset("0123456789+*#-() ")
_ANGLE = re.compile(r"^(.*?)<([^>]*)>\s*$")


def parse_callerid(text: str) -> tuple[str, str]:
    """Split a ``CallerID`` value into ``(name, number)`` like ``ast_callerid_parse``.

    ``"AMI Test" <5551234>`` -> ``("AMI Test", "5551234")``; ``5551234`` -> ``("", "5551234")``;
    ``Reception`` -> ``("Reception", "")``.
    """
    text = text.strip()
    match = _ANGLE.match(text)
    if match:
        name = match.group(1).strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1]
        return name, match.group(2).strip()
    if text and all(ch in _PHONE_CHARS for ch in text):
        return "", "".join(ch for ch in text if ch in _PHONE_CHARS and ch not in "-() ")
    return text.strip('"'), ""


def version_info(version: str) -> tuple[int, ...]:
    """``"2.10.6"`` -> ``(2, 10, 6)``; parsing stops at the first non-numeric part."""
    parts: list[int] = []
    for part in version.split("."):
        number = ascii_int(part)
        if number is None:
            break
        parts.append(number)
    return tuple(parts)


_LEADING_INT = re.compile(r"\s*([+-]?)([0-9]+)", re.ASCII)


def leading_int(text: str) -> int | None:
    """The integer ``text`` starts with, as Asterisk's ``sscanf(text, "%d")`` reads it: spaces,
    a sign, ASCII digits, then anything (``" 2nd"`` is 2); ``None`` if it starts with none."""
    match = _LEADING_INT.match(text)
    if match is None:
        return None
    number = ascii_int(match.group(2))
    if number is None:
        return None
    return -number if match.group(1) == "-" else number


def header_pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> Pairs:
    """Headers given as a mapping or as pairs (or nothing), as a list of pairs."""
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(key), str(value)) for key, value in items]


# -- packets out ------------------------------------------------------------------------------
def packet_bytes(pairs: Iterable[tuple[str, str]], encoding: str) -> bytes:
    """One packet as it goes on the wire, built by the core: ``Key: value`` lines with CR LF
    ends and a blank line. Raises ``ValueError`` for a line break in a header (it would
    smuggle another packet in)."""
    return Message.from_headers(pairs).to_bytes(encoding)


def legacy_command_bytes(action_id: str | None, output: str, encoding: str) -> bytes:
    """The legacy (Asterisk 13) ``Command`` answer: ``Response: Follows``, ``Privilege:
    Command``, the ActionID if one was sent, the raw output lines, ``--END COMMAND--``."""
    head = "Response: Follows\nPrivilege: Command"
    if action_id:
        head += f"\nActionID: {action_id}"
    if output.endswith("\n"):
        output = output[:-1]
    lines = tuple(output.split("\n")) if output else ()
    return Response(head, lines).to_bytes(encoding)


def _with_second_header(message: Message, key: str, value: str, encoding: str) -> bytes:
    """``message`` with ``key: value`` inserted after its first line, where Asterisk puts
    ``ActionID`` and ``Privilege``."""
    pairs = list(message.headers)
    pairs.insert(1, (key, value))
    return packet_bytes(pairs, encoding)


def _is_pairs(value: object) -> bool:
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(
            isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
            for item in value
        )
    )


def encode_replies(result: HandlerResult, action_id: str | None, encoding: str) -> list[bytes]:
    """The packets of a handler's result (see :data:`Reply`), each carrying ``action_id``
    unless it has an ActionID already or is raw bytes or a legacy ``Command`` answer."""
    if result is None:
        return []
    if isinstance(result, (bytes, bytearray, Message, Mapping)) or _is_pairs(result):
        replies: list[Reply] = [result]  # type: ignore[list-item]
    elif isinstance(result, (list, tuple)):
        replies = list(result)
    else:
        raise TypeError(f"not a reply: {result!r}")
    return [_encode_reply(reply, action_id, encoding) for reply in replies]


def _encode_reply(reply: Reply, action_id: str | None, encoding: str) -> bytes:
    if isinstance(reply, (bytes, bytearray)):
        return bytes(reply)
    if isinstance(reply, Message):
        if not action_id or "ActionID" in reply:
            return reply.to_bytes(encoding)
        if isinstance(reply, Response) and reply.is_legacy_command:
            return reply.to_bytes(encoding)
        return _with_second_header(reply, "ActionID", action_id, encoding)
    if isinstance(reply, Mapping) or _is_pairs(reply):
        pairs = header_pairs(reply)
        if action_id and not any(k.lower() == "actionid" for k, _ in pairs):
            pairs.insert(1, ("ActionID", action_id))
        return packet_bytes(pairs, encoding)
    raise TypeError(f"not a reply: {reply!r}")


# -- events out -------------------------------------------------------------------------------
class OutEvent:
    """An event ready to go out: its wire bytes and what sessions decide on it with."""

    __slots__ = ("_text", "category", "data", "encoding", "name")

    def __init__(self, name: str, data: bytes, category: int, encoding: str) -> None:
        self.name = name
        self.data = data
        self.category = category
        self.encoding = encoding
        self._text: str | None = None

    def eventdata(self) -> str:
        """The event as text, as filters see it (decoded once, on first need)."""
        if self._text is None:
            self._text = self.data.decode(self.encoding, "surrogateescape")
        return self._text


_CATEGORIES: dict[str, int] = {}


def _category(privilege: str) -> int:
    category = _CATEGORIES.get(privilege)
    if category is None:
        category = parse_privilege(privilege)
        if len(_CATEGORIES) < 1024:
            _CATEGORIES[privilege] = category
    return category


def event_pairs(name: str, pairs: Pairs, privilege: str | None = None) -> tuple[Pairs, str]:
    """An event's headers as Asterisk writes them, and its ``Privilege`` value.

    A ``Privilege`` among ``pairs`` is kept; else ``privilege`` (a class, ``"call"``) or the
    usual class of a well-known event is added as ``Privilege: call,all``; an event of no
    known class gets none (``""``).
    """
    for key, value in pairs:
        if key.lower() == "privilege":
            return [("Event", name), *pairs], value.strip()
    class_name = privilege if privilege is not None else EVENT_CLASSES.get(name.lower())
    if not class_name:
        return [("Event", name), *pairs], ""
    value = privilege_text(class_name)
    return [("Event", name), ("Privilege", value), *pairs], value


def make_event(
    event: str | Message,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
    privilege: str | None,
    encoding: str,
) -> OutEvent:
    """An event to push: a name with headers, or a whole message (see
    :meth:`~trio_ami.testing.FakeAMIServer.push_event`)."""
    if isinstance(event, Message):
        name = event.get("Event") or event.name
        value = event.get("Privilege")
        if value is not None:
            data = event.to_bytes(encoding)
        elif privilege is not None:
            value = privilege_text(privilege)
            data = _with_second_header(event, "Privilege", value, encoding)
        else:
            value = EVENT_CLASSES.get(name.lower(), "")
            data = event.to_bytes(encoding)
        return OutEvent(name, data, _category(value), encoding)
    pairs, value = event_pairs(event, header_pairs(headers), privilege)
    return OutEvent(event, packet_bytes(pairs, encoding), _category(value), encoding)


def recorded_event(name: str, pairs: Pairs) -> Event:
    """The event ``name`` with ``pairs`` as a client receives it (``Privilege`` added)."""
    return Event.from_headers(event_pairs(name, pairs)[0])


# -- packets in -------------------------------------------------------------------------------
def action_parser(encoding: str) -> PacketParser:
    """A parser for what clients send: no banner, and limits far above Asterisk's, so that
    an action over Asterisk's limits is answered with Asterisk's error instead of dropped."""
    return PacketParser(
        expect_banner=False,
        encoding=encoding,
        max_packet_size=1024 * 1024,
        max_line_length=64 * 1024,
        max_headers=10_000,
    )


def input_error(action: Message, encoding: str) -> str | None:
    """The error Asterisk answers an action over its input limits with, else ``None``: the
    core's limits (:data:`~trio_ami.sansio.MAX_HEADERS` lines, lines shorter than
    :data:`~trio_ami.sansio.MAX_LINE_BYTES` bytes with their CR LF)."""
    lines = action.headers
    if len(lines) > MAX_HEADERS:
        return "Too many lines in message or allocation failure"
    for key, value in lines:
        if len(f"{key}: {value}\r\n".encode(encoding, "surrogateescape")) >= MAX_LINE_BYTES:
            return "Failed to parse message: line too long"
    return None


def action_name(action: Message) -> str:
    """The action's name: its first non-blank ``Action`` header, stripped (``""``: none)."""
    for value in action.get_all("Action"):
        if value.strip():
            return value.strip()
    return ""


def list_marker(packet: bytes, encoding: str = "utf-8") -> str:
    """The ``EventList`` value of one packet as sent, lower-cased (``"start"``,
    ``"complete"``), or ``""``: none, or not a whole packet."""
    parser = PacketParser(expect_banner=False, encoding=encoding)
    parser.receive_data(packet)
    try:
        message = parser.next_message()
    except RemoteProtocolError:
        return ""
    if message is None:
        return ""
    return (message.get("EventList") or "").strip().lower()


def frame_packets(data: bytes, encoding: str = "utf-8") -> list[bytes]:
    """Cut a server's output (after its banner) into packets, exactly as sent: each piece is
    what the core's parser framed as one message, with any stray empty lines before it; bytes
    left over at the end (an incomplete packet) come last."""
    parser = PacketParser(expect_banner=False, encoding=encoding)
    packets: list[bytes] = []
    start = pos = 0
    while pos < len(data):
        newline = data.find(b"\n", pos)
        end = len(data) if newline < 0 else newline + 1
        parser.receive_data(data[pos:end])
        pos = end
        # A packet ends with a line end; one line ends at most one packet.
        if parser.next_message() is not None:
            packets.append(data[start:pos])
            start = pos
    if start < len(data):
        packets.append(data[start:])
    return packets
