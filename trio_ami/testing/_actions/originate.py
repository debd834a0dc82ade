"""``Originate``: the answer, and the call's outcome (``OriginateResponse`` when ``Async``)."""

from __future__ import annotations

import trio

from ...sansio import Message
from .._pbx import originate_outcome, originate_response
from .._wire import is_true, leading_int, parse_callerid
from .context import ActionContext, UserCodeError
from .registry import BuiltinAction, builtin

__all__ = ["ACTIONS", "decide_outcome"]


def decide_outcome(ctx: ActionContext) -> str:
    """How the ``Originate`` ends: ``originate_outcome`` decides; by default destinations
    starting with ``999`` do not exist and fail. A failing hook raises :class:`UserCodeError`."""
    hook = ctx.settings.originate.originate_outcome
    action = ctx.action
    if hook is None:
        destination = (action.get("Channel") or "").partition("/")[2]
        return "Failure" if destination.startswith("999") else "Success"
    try:
        return originate_outcome(hook(action))
    except Exception as exc:
        raise UserCodeError(exc) from exc


async def _run(ctx: ActionContext, outcome: str, emit_response: bool) -> bool:
    """Run the call (the simulator's, else a made-up channel); True once it is answered."""
    action = ctx.action
    simulator = ctx.host.simulator
    if simulator is not None:
        return await simulator.originate(
            action, outcome, emit_response=emit_response, nursery=ctx.nursery
        )
    delay = ctx.settings.originate.originate_delay
    if delay > 0:
        await trio.sleep(delay)
    if emit_response:
        _made_up_response(ctx, action, outcome)
    return outcome == "Success"


def _made_up_response(ctx: ActionContext, action: Message, outcome: str) -> None:
    requested = action.get("Channel") or ""
    if outcome == "Success":
        seq = ctx.pbx.next_originate_id()
        suffix = ";1" if requested.lower().startswith("local/") else ""
        channel = f"{requested}-{seq:08x}{suffix}"
        uniqueid = f"{1_700_000_000 + ctx.host.uptime()}.{seq}"
    else:
        channel, uniqueid = requested, "<unknown>"
    name, num = parse_callerid(action.get("CallerID") or "")
    pairs = originate_response(action, outcome, channel, uniqueid, num=num, name=name)
    ctx.pbx.emit("OriginateResponse", pairs)


def _invalid(action: Message) -> str | None:
    """The error Asterisk answers a malformed ``Originate`` with, else ``None``."""
    channel = action.get("Channel") or ""
    if not channel:
        return "Channel not specified"
    priority = action.get("Priority") or ""
    if priority and leading_int(priority) is None:
        return "Invalid priority"
    timeout = action.get("Timeout") or ""
    if timeout and leading_int(timeout) is None:
        return "Invalid timeout"
    if "/" not in channel:
        return "Invalid channel"
    has_exten = bool(action.get("Exten") and action.get("Context") and priority)
    if not is_true(action.get("Async")) and not action.get("Application") and not has_exten:
        return "Originate with 'Exten' requires 'Context' and 'Priority'"
    return None


@builtin("Originate")
async def originate(ctx: ActionContext) -> None:
    error = _invalid(ctx.action)
    if error is not None:
        ctx.error(error)
        return
    outcome = decide_outcome(ctx)
    if is_true(ctx.action.get("Async")):
        ctx.ack("Originate successfully queued")

        async def later() -> None:
            await _run(ctx, outcome, True)

        ctx.spawn(later)
        return
    if await _run(ctx, outcome, False):
        ctx.ack("Originate successfully queued")
    else:
        ctx.error("Originate failed")


ACTIONS: tuple[BuiltinAction, ...] = (originate,)
