"""Channels: ``CoreShowChannels``, ``Status``, ``Hangup``, ``Redirect``."""

from __future__ import annotations

import re

import trio

from .._pbx import SimChannel
from .._wire import ascii_int, is_true
from .context import ActionContext
from .registry import BuiltinAction, builtin

__all__ = ["ACTIONS"]


def _seconds(channel: SimChannel) -> int:
    return max(0, int(trio.current_time() - channel.created))


@builtin("CoreShowChannels")
def core_show_channels(ctx: ActionContext) -> None:
    channels = ctx.pbx.live_channels()
    ctx.list_start("Channels will follow")
    for channel in channels:
        seconds = _seconds(channel)
        ctx.reply(
            [
                ("Event", "CoreShowChannel"),
                *channel.headers(),
                ("Application", channel.application),
                ("ApplicationData", channel.app_data),
                (
                    "Duration",
                    f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}",
                ),
                ("BridgeId", channel.bridge_id),
            ]
        )
    ctx.list_complete("CoreShowChannelsComplete", len(channels))


@builtin("Status")
def status(ctx: ActionContext) -> None:
    action = ctx.action
    name = action.get("Channel") or ""
    if name:
        channel = ctx.pbx.find_channel(name)
        if channel is None:
            ctx.error("No such channel")
            return
        channels = [channel]
    else:
        channels = ctx.pbx.live_channels()
    wanted = [v.strip() for v in (action.get("Variables") or "").split(",") if v.strip()]
    all_variables = is_true(action.get("AllVariables"))
    action_id = action.get("ActionID")
    ctx.list_start("Channel status will follow")
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
            ("Seconds", str(_seconds(channel))),
        ]
        pairs += [("Variable", f"{v}={channel.get_variable(v, {})}") for v in wanted]
        if all_variables:
            pairs += [("Variable", f"{k}={v}") for k, v in channel.variables.items()]
        if action_id:
            pairs.append(("ActionID", action_id))  # Asterisk puts it last in Status items
        ctx.send_unanswered(pairs)
    ctx.list_complete("StatusComplete", len(channels), ("Items", str(len(channels))))


@builtin("Hangup")
def hangup(ctx: ActionContext) -> None:
    name = ctx.action.get("Channel") or ""
    if not name:
        ctx.error("No channel specified")
        return
    cause = ascii_int(ctx.action.get("Cause") or "")
    if cause is None or cause > 127:
        cause = 0
    pbx = ctx.pbx
    if not name.startswith("/"):
        channel = pbx.find_channel(name)
        if channel is None:
            ctx.error("No such channel")
            return
        pbx.hangup(channel, cause)
        ctx.ack("Channel Hungup")
        return
    if len(name) < 2 or not name.endswith("/"):
        ctx.error("Regex format invalid, Channel param should be /regex/")
        return
    try:
        regex = re.compile(name[1:-1], re.DOTALL)
    except re.error:
        ctx.error(f"Regex compile failed on: {name}")
        return
    ctx.list_start("Channels hung up will follow")
    matched = 0
    action_id = ctx.action.get("ActionID")
    for channel in pbx.live_channels():
        if regex.search(channel.name) is None:
            continue
        pbx.hangup(channel, cause)
        matched += 1
        pairs = [("Event", "ChannelHungup"), ("Channel", channel.name)]
        if action_id:
            pairs.append(("ActionID", action_id))
        ctx.send_unanswered(pairs)
    ctx.list_complete("ChannelsHungupListComplete", matched)


_REQUIRED = (
    ("Channel", "Channel not specified"),
    ("Context", "Context not specified"),
    ("Exten", "Exten not specified"),
    ("Priority", "Priority not specified"),
)


def _priority(text: str) -> int | None:
    number = ascii_int(text.strip())
    return None if number is None or number < 1 else number


@builtin("Redirect")
def redirect(ctx: ActionContext) -> None:
    action = ctx.action
    fields = {key: action.get(key) or "" for key, _ in _REQUIRED}
    for key, message in _REQUIRED:
        if not fields[key]:
            ctx.error(message)
            return
    priority = _priority(fields["Priority"])
    if priority is None:
        ctx.error("Priority is invalid")
        return
    extra_name = action.get("ExtraChannel") or ""
    extra_context = action.get("ExtraContext") or ""
    extra_exten = action.get("ExtraExten") or ""
    extra_priority = action.get("ExtraPriority") or ""
    extra_number: int | None = priority
    if extra_name and extra_context:
        if not extra_exten:
            ctx.error("ExtraExten not specified")
            return
        if not extra_priority:
            ctx.error("ExtraPriority not specified")
            return
        extra_number = _priority(extra_priority)
        if extra_number is None:
            ctx.error("ExtraPriority is invalid")
            return
    pbx = ctx.pbx
    target = (fields["Context"], fields["Exten"], priority)
    channel = pbx.find_channel(fields["Channel"])
    if channel is None:
        ctx.error(f"Channel does not exist: {fields['Channel']}")
        return
    if not extra_name:
        ctx.ack("Redirect successful")
        pbx.redirect(channel, *target)
        return
    extra = pbx.find_channel(extra_name)
    if extra is None:
        ctx.error(f"ExtraChannel does not exist: {extra_name}")
        return
    ctx.ack("Dual Redirect successful")
    pbx.redirect(channel, *target)
    if extra_context and extra_number is not None:
        pbx.redirect(extra, extra_context, extra_exten, extra_number)
    else:
        pbx.redirect(extra, *target)


ACTIONS: tuple[BuiltinAction, ...] = (core_show_channels, status, hangup, redirect)
