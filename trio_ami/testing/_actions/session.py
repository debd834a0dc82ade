"""Logging in and out, and what a session asks for itself: Ping, the event mask, filters, the
list of commands, user events."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import trio

from ...sansio import md5_key
from .._filters import EventFilter, FilterError
from .._wire import PRIVILEGE_CLASSES, Pairs, event_mask_from_text
from .context import ActionContext, SessionView
from .registry import BuiltinAction, builtin

__all__ = ["ACTIONS", "check_credentials", "successful_auth_event"]


def check_credentials(ctx: ActionContext) -> str | None:
    """The username if the Login carries valid credentials (plain, or MD5 against the
    session's challenge), else ``None``."""
    action = ctx.action
    username = action.get("Username") or ""
    secret = ctx.settings.login.users.get(username)
    if secret is None:
        return None
    if (action.get("AuthType") or "").lower() == "md5":
        key = action.get("Key") or ""
        challenge = ctx.session.challenge
        if not key or not challenge:
            return None
        expected = md5_key(challenge, secret, ctx.settings.flavour.encoding)
        return username if key.lower() == expected else None
    return username if action.get("Secret") == secret else None


def successful_auth_event(session: SessionView) -> Pairs:
    """The headers of the ``SuccessfulAuth`` event for ``session``'s login."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    return [
        ("Privilege", "security,all"),
        ("EventTV", now),
        ("Severity", "Informational"),
        ("Service", "AMI"),
        ("EventVersion", "1"),
        ("AccountID", session.username or ""),
        ("SessionID", f"0x{0x7F61C0000000 + session.id * 0x10A0:x}"),
        ("LocalAddress", session.local_address),
        ("RemoteAddress", session.remote_address),
        ("UsingPassword", "0"),
        ("SessionTV", now),
    ]


@builtin("Login", before_login=True)
async def login(ctx: ActionContext) -> None:
    session, settings = ctx.session, ctx.settings.login
    if session.logged_in:
        ctx.ack("Already authenticated")
        return
    # A refusal is spent on any attempt, whatever its credentials.
    refused = ctx.host.consume_login_refusal()
    username = check_credentials(ctx)
    if username is None or refused:
        if settings.auth_failure_delay > 0:
            await trio.sleep(settings.auth_failure_delay)
        ctx.error("Authentication failed")
        session.finish()
        return
    mask = event_mask_from_text(ctx.action.get("Events") or "")
    if mask is not None:
        session.set_event_mask(mask)
    session.log_in(username)
    ctx.ack("Authentication accepted")
    if session.event_mask & PRIVILEGE_CLASSES["system"]:
        booted = [("Event", "FullyBooted"), ("Privilege", "system,all")]
        if not ctx.settings.flavour.old_asterisk:
            uptime = str(ctx.host.uptime())
            booted += [("Uptime", uptime), ("LastReload", uptime)]
        ctx.send_unanswered([*booted, ("Status", "Fully Booted")])
    if settings.drop_after_login:
        session.finish()
        return
    if settings.successful_auth_events:
        ctx.host.push_event("SuccessfulAuth", successful_auth_event(session))


@builtin("Logoff", before_login=True)
def logoff(ctx: ActionContext) -> None:
    ctx.reply([("Response", "Goodbye"), ("Message", "Thanks for all the fish.")])
    ctx.session.finish()


@builtin("Challenge", before_login=True)
def challenge(ctx: ActionContext) -> None:
    if (ctx.action.get("AuthType") or "").lower() != "md5":
        ctx.error("Must specify AuthType")
        return
    session = ctx.session
    if session.challenge is None:
        session.set_challenge(ctx.host.new_challenge())
    ctx.reply([("Response", "Success"), ("Challenge", session.challenge or "")])


@builtin("Ping")
def ping(ctx: ActionContext) -> None:
    ctx.reply([("Response", "Success"), ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")])


@builtin("Events")
def events(ctx: ActionContext) -> None:
    mask = event_mask_from_text(ctx.action.get("EventMask") or "")
    if mask is None:
        ctx.error("Invalid event mask")
        return
    ctx.session.set_event_mask(mask)
    ctx.reply([("Response", "Success"), ("Events", "On" if mask else "Off")])


@builtin("Filter")
def filter_(ctx: ActionContext) -> None:
    action = ctx.action
    if (action.get("Operation") or "").lower() != "add":
        ctx.error("Unknown operation")
        return
    try:
        event_filter = EventFilter.parse(
            action.get("Filter") or "", action.get("MatchCriteria") or ""
        )
    except FilterError as exc:
        ctx.error(str(exc))
        return
    ctx.session.add_filter(event_filter)
    ctx.ack("Success")


@builtin("ListCommands")
def list_commands(ctx: ActionContext) -> None:
    pairs = [("Response", "Success")]
    pairs += [(name, f"{name} (Priv: <none>)") for name in sorted(ctx.host.action_names())]
    ctx.reply(pairs)


@builtin("UserEvent")
def user_event(ctx: ActionContext) -> None:
    action = ctx.action
    name = action.get("UserEvent") or ""
    body = [(k, v) for k, v in action.headers if k.lower() not in ("userevent", "action")]
    ctx.ack("Event Sent")
    ctx.host.push_event("UserEvent", [("Privilege", "user,all"), ("UserEvent", name), *body])


ACTIONS: tuple[BuiltinAction, ...] = (
    login,
    logoff,
    challenge,
    ping,
    events,
    filter_,
    list_commands,
    user_event,
)
