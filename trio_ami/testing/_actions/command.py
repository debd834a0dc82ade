"""``Command``: CLI commands and their output, in the modern and the legacy (Asterisk 13) format."""

from __future__ import annotations

from collections.abc import Callable

from .._wire import legacy_command_bytes
from .context import ActionContext, Host
from .registry import BuiltinAction, builtin

__all__ = ["ACTIONS", "core_show_channels", "default_commands"]


def _normalize(command: str) -> str:
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


@builtin("Command")
def command(ctx: ActionContext) -> None:
    text = ctx.action.get("Command") or ""
    if not text.strip():
        ctx.error("No command provided")
        return
    commands = {_normalize(key): value for key, value in ctx.pbx.commands.items()}
    entry = commands.get(_normalize(text))
    if entry is None:
        best = _best_prefix(text.split(), [key.split() for key in commands])
        output = (
            f"No such command '{text}' (type 'core show help {best}' for other possible commands)\n"
        )
    else:
        output = entry() if callable(entry) else entry
    flavour = ctx.settings.flavour
    if flavour.command_is_legacy:
        data = legacy_command_bytes(ctx.action.get("ActionID"), output, flavour.encoding)
        ctx.session.send(data, ctx.action)
        return
    if output.endswith("\n"):
        output = output[:-1]
    status = "Error" if entry is None else "Success"
    pairs = [("Response", status), ("Message", "Command output follows")]
    pairs += [("Output", line) for line in output.split("\n")]
    ctx.reply(pairs)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _uptime_text(seconds: int) -> str:
    units = [("year", 31536000), ("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)]
    parts = []
    for name, size in units:
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(_plural(count, name))
    if seconds or not parts:
        parts.append(_plural(seconds, "second"))
    return ", ".join(parts)


def core_show_channels(host: Host) -> str:
    """``core show channels`` as Asterisk prints it (the narrower columns on Asterisk 13)."""
    if host.settings.flavour.old_asterisk:
        row = "{:<20.20} {:<20.20} {:<7.7} {:<30.30}"
    else:
        row = "{:<64.64} {:<32.32} {:<7.7} {:<30.30}"
    lines = [row.format("Channel", "Location", "State", "Application(Data)")]
    pbx = host.pbx
    channels = pbx.live_channels()
    for channel in channels:
        location = f"{channel.exten}@{channel.context}:{channel.priority}"
        app = f"{channel.application}({channel.app_data})" if channel.application else "(None)"
        lines.append(row.format(channel.name, location, channel.state_desc, app))
    calls = len({channel.linkedid for channel in channels})
    lines.append(_plural(len(channels), "active channel"))
    lines.append(_plural(calls, "active call"))
    lines.append(f"{_plural(pbx.calls_processed, 'call')} processed")
    return "\n".join(lines) + "\n"


def default_commands(host: Host) -> dict[str, str | Callable[[], str]]:
    """The CLI commands a new server knows; their output follows the server's state."""

    def version() -> str:
        return (
            f"Asterisk {host.settings.flavour.version} built by root @ fakepbx on a x86_64 "
            "running Linux on 2026-01-01 00:00:00 UTC\n"
        )

    def uptime() -> str:
        text = _uptime_text(host.uptime())
        return f"System uptime: {text}\nLast reload: {text}\n"

    def channels() -> str:
        return core_show_channels(host)

    return {
        "core show version": version,
        "core show uptime": uptime,
        "core show channels": channels,
        "core reload": "",
        "dialplan reload": "",
        "logger reload": "",
        "module reload": "",
    }


ACTIONS: tuple[BuiltinAction, ...] = (command,)
