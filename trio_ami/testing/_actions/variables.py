"""Dialplan variables: ``Setvar`` and ``Getvar``, global or on a channel."""

from __future__ import annotations

from .._pbx import SimChannel
from .context import ActionContext
from .registry import BuiltinAction, builtin

__all__ = ["ACTIONS"]


def _request(ctx: ActionContext) -> tuple[str, SimChannel | None] | None:
    """The ``Variable`` named and the channel of the ``Channel`` header (``None``: global), or
    ``None`` after answering the error Asterisk gives."""
    variable = ctx.action.get("Variable") or ""
    if not variable:
        ctx.error("No variable specified")
        return None
    name = ctx.action.get("Channel") or ""
    if not name:
        return variable, None
    channel = ctx.pbx.find_channel(name)
    if channel is None:
        ctx.error("No such channel")
        return None
    return variable, channel


@builtin("Setvar")
def set_var(ctx: ActionContext) -> None:
    request = _request(ctx)
    if request is None:
        return
    variable, channel = request
    value = ctx.action.get("Value") or ""
    ctx.ack("Variable Set")
    if channel is None:
        ctx.pbx.set_global(variable, value)
    else:
        ctx.pbx.set_variable(channel, variable, value)


@builtin("Getvar")
def get_var(ctx: ActionContext) -> None:
    request = _request(ctx)
    if request is None:
        return
    variable, channel = request
    value = ctx.pbx.get_variable(channel, variable)
    ctx.reply([("Response", "Success"), ("Variable", variable), ("Value", value)])


ACTIONS: tuple[BuiltinAction, ...] = (set_var, get_var)
