"""Wire-level helpers for the fake server: packet text, privilege classes, event masks, caller IDs.

Everything here is pure (no I/O, no clock) and mirrors how Asterisk's ``manager.c`` spells things.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ..sansio._messages import ascii_int

__all__ = [
    "ALL_CLASSES",
    "CAUSE_TEXT",
    "CHANNEL_STATE_DESC",
    "EVENT_CLASSES",
    "PRIVILEGE_CLASSES",
    "class_names",
    "event_mask_from_text",
    "header_pairs",
    "leading_int",
    "packet_text",
    "parse_callerid",
    "parse_privilege",
    "privilege_text",
    "version_info",
]

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

_TRUE_WORDS = frozenset({"yes", "true", "y", "t", "1", "on"})
_FALSE_WORDS = frozenset({"no", "false", "n", "f", "0", "off"})

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
    return f"{class_name},all"


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
        if name == "all":
            mask |= ALL_CLASSES
        else:
            mask |= PRIVILEGE_CLASSES.get(name, 0)
    return mask


def class_names(mask: int) -> frozenset[str]:
    """The class names whose bits are set in ``mask``."""
    return frozenset(name for name, bit in PRIVILEGE_CLASSES.items() if mask & bit)


def packet_text(pairs: Iterable[tuple[str, str]]) -> str:
    """One packet as it goes on the wire: ``Key: value`` lines, CR LF ends, blank line last."""
    return "".join([f"{key}: {value}\r\n" for key, value in pairs]) + "\r\n"


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


def header_pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers given as a mapping or as pairs, as a list of pairs."""
    if isinstance(headers, Mapping):
        return [(str(key), str(value)) for key, value in headers.items()]
    return [(str(key), str(value)) for key, value in headers]
