"""The actions :class:`~trio_ami.testing.FakeAMIServer` answers out of the box.

Each is ``async def action_xxx(session, action) -> None`` and sends its replies itself, with the
texts, header order and list framing of the recordings from real Asterisk 22 and 13 servers (and
of ``manager.c`` where no recording shows a case).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import trio

from ..sansio import Message
from ..sansio._messages import ascii_int
from ._filters import EventFilter, FilterError
from ._wire import (
    PRIVILEGE_CLASSES,
    event_mask_from_text,
    leading_int,
    legacy_command_bytes,
    parse_callerid,
    version_info,
)

if TYPE_CHECKING:
    from ._server import FakeAMIServer, FakeSession
    from ._simulator import SimChannel

__all__ = ["BUILTINS", "default_commands", "default_configs"]

Builtin = Callable[["FakeSession", Message], Awaitable[None]]

_TRUE_WORDS = frozenset({"yes", "true", "y", "t", "1", "on"})
_EXTENSION_STATES = {
    -2: "Removed",
    -1: "Unknown",
    0: "Idle",
    1: "InUse",
    2: "Busy",
    4: "Unavailable",
    8: "Ringing",
    9: "InUse&Ringing",
    16: "Hold",
    17: "InUse&Hold",
}
_ORIGINATE_REASONS = {"Success": 4, "Failure": 0, "Busy": 5, "NoAnswer": 3, "Congestion": 8}


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUE_WORDS


def _is_int(value: str) -> bool:
    return leading_int(value) is not None


def _old_asterisk(server: FakeAMIServer) -> bool:
    """Asterisk 13 and older (AMI 2.x and below)."""
    return version_info(server.ami_version)[:1] < (3,)


def _list_ack(session: FakeSession, action: Message, message: str) -> None:
    session.send([("Response", "Success"), ("EventList", "start"), ("Message", message)], action)


def _list_complete(
    session: FakeSession, action: Message, name: str, count: int, *extra: tuple[str, str]
) -> None:
    session.send(
        [("Event", name), ("EventList", "Complete"), ("ListItems", str(count)), *extra], action
    )


# -- session --------------------------------------------------------------------------------------
async def action_login(session: FakeSession, action: Message) -> None:
    server = session.server
    if session.logged_in:
        session.send_ack(action, "Already authenticated")
        return
    username = server.check_login(session, action)
    if username is None:
        if server.auth_failure_delay > 0:
            await trio.sleep(server.auth_failure_delay)
        session.send_error(action, "Authentication failed")
        session._finish()
        return
    events = action.get("Events")
    if events:
        mask = event_mask_from_text(events)
        if mask is not None:
            session.event_mask = mask
    session.logged_in = True
    session.username = username
    session.send_ack(action, "Authentication accepted")
    if session.event_mask & PRIVILEGE_CLASSES["system"]:
        booted = [("Event", "FullyBooted"), ("Privilege", "system,all")]
        if not _old_asterisk(server):
            uptime = str(server.uptime())
            booted += [("Uptime", uptime), ("LastReload", uptime)]
        session.send([*booted, ("Status", "Fully Booted")])
    server._notify()
    if server.drop_after_login:
        session._finish()
        return
    if server.successful_auth_events:
        server.push_event("SuccessfulAuth", server.successful_auth_event(session))


async def action_logoff(session: FakeSession, action: Message) -> None:
    session.send([("Response", "Goodbye"), ("Message", "Thanks for all the fish.")], action)
    session._finish()


async def action_challenge(session: FakeSession, action: Message) -> None:
    if (action.get("AuthType") or "").lower() != "md5":
        session.send_error(action, "Must specify AuthType")
        return
    if session.challenge is None:
        session.challenge = session.server.new_challenge()
    session.send([("Response", "Success"), ("Challenge", session.challenge)], action)


async def action_ping(session: FakeSession, action: Message) -> None:
    session.send(
        [("Response", "Success"), ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")], action
    )


async def action_events(session: FakeSession, action: Message) -> None:
    mask = event_mask_from_text(action.get("EventMask") or "")
    if mask is None:
        session.send_error(action, "Invalid event mask")
        return
    session.event_mask = mask
    session.send([("Response", "Success"), ("Events", "On" if mask else "Off")], action)


async def action_filter(session: FakeSession, action: Message) -> None:
    if (action.get("Operation") or "").lower() != "add":
        session.send_error(action, "Unknown operation")
        return
    try:
        event_filter = EventFilter.parse(
            action.get("Filter") or "", action.get("MatchCriteria") or ""
        )
    except FilterError as exc:
        session.send_error(action, str(exc))
        return
    session._filters.append(event_filter)
    session.send_ack(action, "Success")


async def action_listcommands(session: FakeSession, action: Message) -> None:
    names = sorted({*BUILTIN_NAMES.values(), *session.server._handlers})
    pairs = [("Response", "Success")]
    pairs += [(name, f"{name} (Priv: <none>)") for name in names]
    session.send(pairs, action)


# -- Command --------------------------------------------------------------------------------------
def _normalize_command(command: str) -> str:
    return " ".join(command.split()).lower()


def _best_prefix(words: list[str], known: list[list[str]]) -> str:
    """The words Asterisk suggests for ``core show help``: it stops at the first word that
    follows a prefix no command starts with (``find_best`` in ``cli.c``)."""
    for count in range(len(words)):
        prefix = words[:count]
        if not any(cmd[:count] == prefix for cmd in known):
            return " ".join(words[: count + 1]) if count else words[0]
        if count == len(words) - 1:
            break
    return " ".join(words)


async def action_command(session: FakeSession, action: Message) -> None:
    server = session.server
    command = action.get("Command") or ""
    if not command.strip():
        session.send_error(action, "No command provided")
        return
    commands = {_normalize_command(key): value for key, value in server.commands.items()}
    entry = commands.get(_normalize_command(command))
    found = entry is not None
    if entry is None:
        words = command.split()
        best = _best_prefix(words, [key.split() for key in commands])
        output = (
            f"No such command '{command}' "
            f"(type 'core show help {best}' for other possible commands)\n"
        )
    else:
        output = entry() if callable(entry) else entry
    if server.legacy_command:
        data = legacy_command_bytes(action.get("ActionID"), output, server.encoding)
        session.send(data, action)
        return
    if output.endswith("\n"):
        output = output[:-1]
    pairs = [("Response", "Success" if found else "Error"), ("Message", "Command output follows")]
    pairs += [("Output", line) for line in output.split("\n")]
    session.send(pairs, action)


def _uptime_text(seconds: int) -> str:
    units = [("year", 31536000), ("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)]
    parts = []
    for name, size in units:
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    if seconds or not parts:
        parts.append(f"{seconds} second{'' if seconds == 1 else 's'}")
    return ", ".join(parts)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def core_show_channels(server: FakeAMIServer) -> str:
    """``core show channels`` as Asterisk prints it (the narrower columns on Asterisk 13)."""
    if _old_asterisk(server):
        row = "{:<20.20} {:<20.20} {:<7.7} {:<30.30}"
    else:
        row = "{:<64.64} {:<32.32} {:<7.7} {:<30.30}"
    lines = [row.format("Channel", "Location", "State", "Application(Data)")]
    channels = server.live_channels()
    for channel in channels:
        location = f"{channel.exten}@{channel.context}:{channel.priority}"
        app = f"{channel.application}({channel.app_data})" if channel.application else "(None)"
        lines.append(row.format(channel.name, location, channel.state_desc, app))
    calls = len({channel.linkedid for channel in channels})
    simulator = server.simulator
    processed = 0 if simulator is None else simulator.calls_processed
    lines.append(f"{_plural(len(channels), 'active channel')}")
    lines.append(f"{_plural(calls, 'active call')}")
    lines.append(f"{_plural(processed, 'call')} processed")
    return "\n".join(lines) + "\n"


def default_commands(server: FakeAMIServer) -> dict[str, str | Callable[[], str]]:
    """The CLI commands a new server knows (extend ``server.commands`` with more)."""

    def version() -> str:
        return (
            f"Asterisk {server.asterisk_version} built by root @ fakepbx on a x86_64 running "
            "Linux on 2026-01-01 00:00:00 UTC\n"
        )

    def uptime() -> str:
        text = _uptime_text(server.uptime())
        return f"System uptime: {text}\nLast reload: {text}\n"

    def channels() -> str:
        return core_show_channels(server)

    return {
        "core show version": version,
        "core show uptime": uptime,
        "core show channels": channels,
        "core reload": "",
        "dialplan reload": "",
        "logger reload": "",
        "module reload": "",
    }


# -- configuration --------------------------------------------------------------------------------
def default_configs(server: FakeAMIServer) -> dict[str, dict[str, list[str]]]:
    """``extensions.conf`` (a small test dialplan) and a ``manager.conf`` of the server's users."""
    manager: dict[str, list[str]] = {
        "general": ["enabled=yes", "port=5038", "bindaddr=127.0.0.1", "displayconnects=yes"]
    }
    for user, secret in server.users.items():
        manager[user] = [
            f"secret={secret}",
            "deny=0.0.0.0/0.0.0.0",
            "permit=127.0.0.1/255.255.255.255",
            "read=all",
            "write=all",
        ]
    return {
        "extensions.conf": {
            "general": ["static=yes", "writeprotect=no"],
            "globals": [],
            "default": ["exten=s,1,NoOp(default context)", "same=n,Hangup()"],
            "test": [
                "exten=100,hint,Custom:test100",
                "exten=100,1,Answer()",
                "same=n,Wait(1)",
                "same=n,Hangup()",
                "exten=200,1,Answer()",
                "same=n,UserEvent(TestEvent,Foo: bar)",
                "same=n,Echo()",
                "exten=300,1,Answer()",
                "same=n,Wait(30)",
                "same=n,Hangup()",
                "exten=400,1,NoOp(dial test)",
                "same=n,Set(TESTVAR=hello)",
                "same=n,Dial(Local/100@test,10)",
                "same=n,Hangup()",
            ],
        },
        "manager.conf": manager,
    }


def _config(session: FakeSession, action: Message) -> tuple[str, Mapping[str, list[str]]] | None:
    filename = action.get("Filename") or ""
    if not filename:
        session.send_error(action, "Filename not specified")
        return None
    config = session.server.configs.get(filename)
    if config is None:
        session.send_error(action, "Config file not found")
        return None
    return filename, config


async def action_getconfig(session: FakeSession, action: Message) -> None:
    found = _config(session, action)
    if found is None:
        return
    wanted = action.get("Category") or ""
    pairs = [("Response", "Success")]
    number = 0
    for category, lines in found[1].items():
        if wanted and category != wanted:
            continue
        pairs.append((f"Category-{number:06d}", category))
        pairs += [(f"Line-{number:06d}-{i:06d}", line) for i, line in enumerate(lines)]
        number += 1
    if wanted and not number:
        pairs.append(("No categories found", ""))
    session.send(pairs, action)


async def action_getconfigjson(session: FakeSession, action: Message) -> None:
    found = _config(session, action)
    if found is None:
        return
    parts = []
    for category, lines in found[1].items():
        items = []
        for line in lines:
            key, _, value = line.partition("=")
            items.append(f"{json.dumps(key.strip())}:{json.dumps(value.strip())}")
        parts.append(f"{json.dumps(category)}:{{{','.join(items)}}}")
    session.send([("Response", "Success"), ("JSON", "{" + ",".join(parts) + "}")], action)


async def action_listcategories(session: FakeSession, action: Message) -> None:
    found = _config(session, action)
    if found is None:
        return
    pairs = [("Response", "Success")]
    pairs += [(f"Category-{i:06d}", category) for i, category in enumerate(found[1])]
    if len(pairs) == 1:
        pairs.append(("Error", "no categories found"))
    session.send(pairs, action)


# -- variables ------------------------------------------------------------------------------------
def _variable_request(
    session: FakeSession, action: Message
) -> tuple[str, SimChannel | None] | None:
    """The ``Variable`` named and the channel of the ``Channel`` header (``None``: global), or
    ``None`` after answering the error Asterisk gives."""
    variable = action.get("Variable") or ""
    if not variable:
        session.send_error(action, "No variable specified")
        return None
    name = action.get("Channel") or ""
    if not name:
        return variable, None
    channel = session.server.find_channel(name)
    if channel is None:
        session.send_error(action, "No such channel")
        return None
    return variable, channel


async def action_setvar(session: FakeSession, action: Message) -> None:
    server = session.server
    request = _variable_request(session, action)
    if request is None:
        return
    variable, channel = request
    value = action.get("Value") or ""
    session.send_ack(action, "Variable Set")
    if channel is not None and server.simulator is not None:
        server.simulator.set_variable(channel, variable, value)
        return
    server.global_vars[variable] = value
    server.push_event(
        "VarSet",
        [("Channel", "none"), ("Uniqueid", "none"), ("Variable", variable), ("Value", value)],
    )


async def action_getvar(session: FakeSession, action: Message) -> None:
    server = session.server
    request = _variable_request(session, action)
    if request is None:
        return
    variable, channel = request
    if channel is not None:
        value = channel.get_variable(variable, server.global_vars)
    else:
        value = server.global_vars.get(variable, "")
    session.send([("Response", "Success"), ("Variable", variable), ("Value", value)], action)


# -- channels -------------------------------------------------------------------------------------
def _duration(channel: SimChannel) -> str:
    seconds = max(0, int(trio.current_time() - channel.created))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


async def action_coreshowchannels(session: FakeSession, action: Message) -> None:
    channels = session.server.live_channels()
    _list_ack(session, action, "Channels will follow")
    for channel in channels:
        session.send(
            [
                ("Event", "CoreShowChannel"),
                *channel.headers(),
                ("Application", channel.application),
                ("ApplicationData", channel.app_data),
                ("Duration", _duration(channel)),
                ("BridgeId", channel.bridge_id),
            ],
            action,
        )
    _list_complete(session, action, "CoreShowChannelsComplete", len(channels))


async def action_status(session: FakeSession, action: Message) -> None:
    server = session.server
    name = action.get("Channel") or ""
    if name:
        channel = server.find_channel(name)
        if channel is None:
            session.send_error(action, "No such channel")
            return
        channels = [channel]
    else:
        channels = server.live_channels()
    wanted = [v.strip() for v in (action.get("Variables") or "").split(",") if v.strip()]
    all_variables = _true(action.get("AllVariables"))
    action_id = action.get("ActionID")
    _list_ack(session, action, "Channel status will follow")
    for channel in channels:
        pairs = [("Event", "Status"), ("Privilege", "Call"), *channel.headers()]
        pairs += [
            ("Type", channel.tech),
            ("DNID", ""),
            ("EffectiveConnectedLineNum", channel.connected_num),
            ("EffectiveConnectedLineName", channel.connected_name),
            ("TimeToHangup", "0"),
            ("BridgeID", channel.bridge_id),
            ("Application", channel.application),
            ("Data", channel.app_data),
            ("Nativeformats", "(ulaw)"),
            ("Readformat", "ulaw"),
            ("Readtrans", ""),
            ("Writeformat", "ulaw"),
            ("Writetrans", ""),
            ("Callgroup", "0"),
            ("Pickupgroup", "0"),
            ("Seconds", str(max(0, int(trio.current_time() - channel.created)))),
        ]
        for variable in wanted:
            pairs.append(("Variable", f"{variable}={channel.get_variable(variable, {})}"))
        if all_variables:
            pairs += [("Variable", f"{k}={v}") for k, v in channel.variables.items()]
        if action_id:
            pairs.append(("ActionID", action_id))
        session.send(pairs)
    count = str(len(channels))
    _list_complete(session, action, "StatusComplete", len(channels), ("Items", count))


async def action_hangup(session: FakeSession, action: Message) -> None:
    server = session.server
    name = action.get("Channel") or ""
    if not name:
        session.send_error(action, "No channel specified")
        return
    cause = ascii_int(action.get("Cause") or "")
    if cause is None or cause > 127:
        cause = 0
    simulator = server.simulator
    if not name.startswith("/"):
        channel = server.find_channel(name)
        if channel is None or simulator is None:
            session.send_error(action, "No such channel")
            return
        simulator.hangup(channel, cause)
        session.send_ack(action, "Channel Hungup")
        return
    if len(name) < 2 or not name.endswith("/"):
        session.send_error(action, "Regex format invalid, Channel param should be /regex/")
        return
    try:
        regex = re.compile(name[1:-1], re.DOTALL)
    except re.error:
        session.send_error(action, f"Regex compile failed on: {name}")
        return
    _list_ack(session, action, "Channels hung up will follow")
    matched = 0
    action_id = action.get("ActionID")
    for channel in server.live_channels():
        if regex.search(channel.name) is None or simulator is None:
            continue
        simulator.hangup(channel, cause)
        matched += 1
        pairs = [("Event", "ChannelHungup"), ("Channel", channel.name)]
        if action_id:
            pairs.append(("ActionID", action_id))
        session.send(pairs)
    _list_complete(session, action, "ChannelsHungupListComplete", matched)


async def action_redirect(session: FakeSession, action: Message) -> None:
    server = session.server
    fields = {key: action.get(key) or "" for key in ("Channel", "Context", "Exten", "Priority")}
    for key, message in (
        ("Channel", "Channel not specified"),
        ("Context", "Context not specified"),
        ("Exten", "Exten not specified"),
        ("Priority", "Priority not specified"),
    ):
        if not fields[key]:
            session.send_error(action, message)
            return
    priority = ascii_int(fields["Priority"].strip())
    if priority is None or priority < 1:
        session.send_error(action, "Priority is invalid")
        return
    extra_name = action.get("ExtraChannel") or ""
    extra_context = action.get("ExtraContext") or ""
    extra_exten = action.get("ExtraExten") or ""
    extra_priority = action.get("ExtraPriority") or ""
    extra_number = priority
    if extra_name and extra_context:
        if not extra_exten:
            session.send_error(action, "ExtraExten not specified")
            return
        if not extra_priority:
            session.send_error(action, "ExtraPriority not specified")
            return
        number = ascii_int(extra_priority.strip())
        if number is None or number < 1:
            session.send_error(action, "ExtraPriority is invalid")
            return
        extra_number = number
    channel = server.find_channel(fields["Channel"])
    simulator = server.simulator
    if channel is None or simulator is None:
        session.send_error(action, f"Channel does not exist: {fields['Channel']}")
        return
    if not extra_name:
        session.send_ack(action, "Redirect successful")
        simulator.redirect(channel, fields["Context"], fields["Exten"], priority)
        return
    extra = server.find_channel(extra_name)
    if extra is None:
        session.send_error(action, f"ExtraChannel does not exist: {extra_name}")
        return
    session.send_ack(action, "Dual Redirect successful")
    simulator.redirect(channel, fields["Context"], fields["Exten"], priority)
    if extra_context:
        simulator.redirect(extra, extra_context, extra_exten, extra_number)
    else:
        simulator.redirect(extra, fields["Context"], fields["Exten"], priority)


# -- Originate ------------------------------------------------------------------------------------
def originate_outcome(server: FakeAMIServer, action: Message) -> str:
    """How an ``Originate`` ends: ``Success``, ``Failure``, ``Busy``, ``NoAnswer`` or
    ``Congestion`` (``server.originate_outcome`` decides; by default destinations starting
    with ``999`` do not exist and fail)."""
    if server.originate_outcome is not None:
        outcome = server.originate_outcome(action)
    else:
        destination = (action.get("Channel") or "").partition("/")[2]
        outcome = "Failure" if destination.startswith("999") else "Success"
    for known in _ORIGINATE_REASONS:
        if outcome.lower() == known.lower():
            return known
    raise ValueError(
        f"originate_outcome returned {outcome!r}; expected one of {_ORIGINATE_REASONS}"
    )


def originate_response(
    action: Message, outcome: str, channel: str, uniqueid: str, *, num: str, name: str
) -> list[tuple[str, str]]:
    """The headers of an ``OriginateResponse`` event (after ``Event`` and ``Privilege``)."""
    pairs: list[tuple[str, str]] = []
    action_id = action.get("ActionID")
    if action_id:
        pairs.append(("ActionID", action_id))
    pairs += [("Response", "Success" if outcome == "Success" else "Failure"), ("Channel", channel)]
    if action.get("Application"):
        pairs += [
            ("Application", action.get("Application") or ""),
            ("Data", action.get("Data") or ""),
        ]
    else:
        pairs += [("Context", action.get("Context") or ""), ("Exten", action.get("Exten") or "")]
    pairs += [
        ("Reason", str(_ORIGINATE_REASONS[outcome])),
        ("Uniqueid", uniqueid),
        ("CallerIDNum", num or "<unknown>"),
        ("CallerIDName", name or "<unknown>"),
    ]
    return pairs


async def _run_originate(
    session: FakeSession, action: Message, outcome: str, emit_response: bool
) -> bool:
    server = session.server
    simulator = server.simulator
    if simulator is not None:
        return await simulator.originate(
            action,
            outcome,
            emit_response=emit_response,
            nursery=server.background_nursery(session),
        )
    if server.originate_delay > 0:
        await trio.sleep(server.originate_delay)
    requested = action.get("Channel") or ""
    if outcome == "Success":
        seq = server.next_originate_id()
        suffix = ";1" if requested.lower().startswith("local/") else ""
        channel = f"{requested}-{seq:08x}{suffix}"
        uniqueid = f"{1_700_000_000 + server.uptime()}.{seq}"
    else:
        channel, uniqueid = requested, "<unknown>"
    name, num = parse_callerid(action.get("CallerID") or "")
    if emit_response:
        server.push_event(
            "OriginateResponse",
            originate_response(action, outcome, channel, uniqueid, num=num, name=name),
        )
    return outcome == "Success"


async def action_originate(session: FakeSession, action: Message) -> None:
    server = session.server
    channel = action.get("Channel") or ""
    if not channel:
        session.send_error(action, "Channel not specified")
        return
    priority = action.get("Priority") or ""
    if priority and not _is_int(priority):
        session.send_error(action, "Invalid priority")
        return
    timeout = action.get("Timeout") or ""
    if timeout and not _is_int(timeout):
        session.send_error(action, "Invalid timeout")
        return
    if "/" not in channel:
        session.send_error(action, "Invalid channel")
        return
    is_async = _true(action.get("Async"))
    has_exten = bool(action.get("Exten") and action.get("Context") and priority)
    if not is_async and not action.get("Application") and not has_exten:
        session.send_error(action, "Originate with 'Exten' requires 'Context' and 'Priority'")
        return
    try:
        outcome = originate_outcome(server, action)
    except Exception as exc:  # a bad originate_outcome hook: report it like a handler error
        server.handler_errors.append(exc)
        session.send_error(action, f"Internal error in the test handler: {exc!r}")
        return
    if is_async:
        session.send_ack(action, "Originate successfully queued")

        async def later() -> None:
            await _run_originate(session, action, outcome, True)

        server.spawn(session, later)
        return
    if await _run_originate(session, action, outcome, False):
        session.send_ack(action, "Originate successfully queued")
    else:
        session.send_error(action, "Originate failed")


# -- peers, endpoints, extension state ------------------------------------------------------------
def default_sip_peers() -> list[dict[str, str]]:
    """chan_sip peers ``alice`` and ``bob``, as recorded from Asterisk 13."""
    common = {
        "AutoForcerport": "yes",
        "Forcerport": "no",
        "AutoComedia": "no",
        "Comedia": "no",
        "VideoSupport": "no",
        "TextSupport": "no",
        "ACL": "no",
        "Status": "Unmonitored",
        "RealtimeDevice": "no",
    }
    peers = []
    for name, address, port, dynamic, description in (
        ("alice", "-none-", "0", "yes", "Test peer Alice"),
        ("bob", "127.0.0.1", "5170", "no", "Static peer Bob"),
    ):
        peers.append(
            {
                "Channeltype": "SIP",
                "ObjectName": name,
                "ChanObjectType": "peer",
                "IPaddress": address,
                "IPport": port,
                "Dynamic": dynamic,
                **common,
                "Description": description,
                "Accountcode": "",
            }
        )
    return peers


def default_iax_peers() -> list[dict[str, str]]:
    """One unregistered IAX2 peer."""
    return [
        {
            "Channeltype": "IAX",
            "ObjectName": "iaxpeer",
            "ChanObjectType": "peer",
            "IPaddress": "(null)",
            "IPport": "0",
            "Dynamic": "yes",
            "Trunk": "no",
            "Encryption": "no",
            "Status": "Unmonitored",
            "Description": "",
        }
    ]


async def _peer_list(
    session: FakeSession, action: Message, message: str, peers: list[dict[str, str]]
) -> None:
    _list_ack(session, action, message)
    for peer in peers:
        session.send([("Event", "PeerEntry"), *peer.items()], action)
    _list_complete(session, action, "PeerlistComplete", len(peers))


async def action_sippeers(session: FakeSession, action: Message) -> None:
    await _peer_list(session, action, "Peer status list will follow", session.server.sip_peers)


async def action_iaxpeerlist(session: FakeSession, action: Message) -> None:
    await _peer_list(session, action, "IAX Peer status list will follow", session.server.iax_peers)


_DEVICE_STATE_TEXT = {
    "NOT_INUSE": "Not in use",
    "INUSE": "In use",
    "RINGING": "Ringing",
    "RINGINUSE": "Ring+Inuse",
    "BUSY": "Busy",
    "UNAVAILABLE": "Unavailable",
    "ONHOLD": "On Hold",
}


async def action_pjsipshowendpoints(session: FakeSession, action: Message) -> None:
    server = session.server
    simulator = server.simulator
    endpoints = server.pjsip_endpoints
    if endpoints is None:
        endpoints = list(simulator.extensions) if simulator is not None else ["100", "101", "102"]
    if not endpoints:
        session.send_error(action, "No endpoints found")
        return
    _list_ack(session, action, "A listing of Endpoints follows, presented as EndpointList events")
    for endpoint in endpoints:
        state = "NOT_INUSE" if simulator is None else simulator.device_state(endpoint)
        active = [] if simulator is None else simulator.endpoint_channels(endpoint)
        session.send(
            [
                ("Event", "EndpointList"),
                ("ObjectType", "endpoint"),
                ("ObjectName", endpoint),
                ("Transport", "transport-udp"),
                ("Aor", endpoint),
                ("Auths", endpoint),
                ("OutboundAuths", ""),
                ("Contacts", f"{endpoint}/sip:{endpoint}@127.0.0.1:5060,"),
                ("DeviceState", _DEVICE_STATE_TEXT.get(state, "Unknown")),
                ("ActiveChannels", ",".join(ch.name for ch in active)),
            ],
            action,
        )
    _list_complete(session, action, "EndpointListComplete", len(endpoints))


async def action_extensionstate(session: FakeSession, action: Message) -> None:
    server = session.server
    exten = action.get("Exten") or ""
    if not exten:
        session.send_error(action, "Extension not specified")
        return
    context = action.get("Context") or "default"
    hint = server.hints.get(f"{exten}@{context}", "")
    simulator = server.simulator
    if not hint and simulator is not None:
        hint = simulator.hint(exten, context)
    if not hint:
        status = -1
    elif simulator is not None:
        status = simulator.hint_state(hint)
    else:
        status = 0
    session.send(
        [
            ("Response", "Success"),
            ("Message", "Extension Status"),
            ("Exten", exten),
            ("Context", context),
            ("Hint", hint),
            ("Status", str(status)),
            ("StatusText", _EXTENSION_STATES.get(status, "Unknown")),
        ],
        action,
    )


async def action_userevent(session: FakeSession, action: Message) -> None:
    name = action.get("UserEvent") or ""
    body = [(k, v) for k, v in action.headers if k.lower() not in ("userevent", "action")]
    session.send_ack(action, "Event Sent")
    session.server.push_event("UserEvent", [("Privilege", "user,all"), ("UserEvent", name), *body])


BUILTINS: dict[str, Builtin] = {
    "login": action_login,
    "logoff": action_logoff,
    "challenge": action_challenge,
    "ping": action_ping,
    "events": action_events,
    "filter": action_filter,
    "listcommands": action_listcommands,
    "command": action_command,
    "coreshowchannels": action_coreshowchannels,
    "status": action_status,
    "hangup": action_hangup,
    "redirect": action_redirect,
    "originate": action_originate,
    "setvar": action_setvar,
    "getvar": action_getvar,
    "getconfig": action_getconfig,
    "getconfigjson": action_getconfigjson,
    "listcategories": action_listcategories,
    "sippeers": action_sippeers,
    "iaxpeerlist": action_iaxpeerlist,
    "pjsipshowendpoints": action_pjsipshowendpoints,
    "extensionstate": action_extensionstate,
    "userevent": action_userevent,
}

#: The built-in actions' names as Asterisk spells them.
BUILTIN_NAMES: dict[str, str] = {
    name.lower(): name
    for name in (
        "Login",
        "Logoff",
        "Challenge",
        "Ping",
        "Events",
        "Filter",
        "ListCommands",
        "Command",
        "CoreShowChannels",
        "Status",
        "Hangup",
        "Redirect",
        "Originate",
        "Setvar",
        "Getvar",
        "GetConfig",
        "GetConfigJSON",
        "ListCategories",
        "SIPpeers",
        "IAXpeerlist",
        "PJSIPShowEndpoints",
        "ExtensionState",
        "UserEvent",
    )
}
