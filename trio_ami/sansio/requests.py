"""The typed helpers, without I/O: each builds its action and reads its result.

Every runtime gets the same helpers this way: the trio client's ``ami.originate(...)`` is one line
over :func:`originate`, and an asyncio or blocking adapter does the same::

    request = requests.originate("PJSIP/100", context="internal", exten="200", wait=True)
    action_id, data = request.send(protocol)          # the bytes to write
    ...                                               # until ActionCompleted for action_id
    outcome = request.read(item.result)               # raises ActionFailed if it failed

A :class:`Request` knows its :class:`Action`, how it completes (``outcome_event``), how much
longer than an ordinary action it may take (``extra_time``, the ring time of a waited
Originate), and how to read its result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs

from ._actions import Action, Headers, HeaderValue, event_mask
from ._errors import ActionFailed
from ._items import ActionResult
from ._messages import Event, Response
from ._protocol import ClientProtocol

__all__ = [
    "ASTERISK_RING_TIMEOUT",
    "Request",
    "command",
    "core_show_channels",
    "event_mask",
    "events",
    "extension_state",
    "filter",
    "get_config",
    "get_config_json",
    "get_var",
    "iax_peers",
    "originate",
    "parse_config",
    "pjsip_endpoints",
    "ping",
    "redirect",
    "set_var",
    "sip_peers",
    "status",
    "user_event",
]

T = TypeVar("T")

#: How long Asterisk lets an originated call ring when the Originate gives no Timeout, in s.
ASTERISK_RING_TIMEOUT = 30.0


def _whole(result: ActionResult) -> ActionResult:
    return result


@attrs.frozen
class Request(Generic[T]):
    """One helper call: the action to send, how it completes and how its result is read."""

    action: Action
    #: Turns the complete result into what the helper returns.
    reader: Callable[[ActionResult], T]
    #: The event that reports the outcome (``"OriginateResponse"``), if the action waits for one.
    outcome_event: str | None = None
    #: Seconds it may take beyond an ordinary action (the ring time of a waited Originate).
    extra_time: float = 0.0

    def send(self, protocol: ClientProtocol) -> tuple[str, bytes]:
        """Register the action with ``protocol``: its ActionID and the bytes to send."""
        return protocol.send_action(self.action, outcome_event=self.outcome_event)

    def read(self, result: ActionResult, *, check: bool = True) -> T:
        """What the helper returns for ``result``; raises :class:`ActionFailed` if the action
        failed, unless ``check=False``."""
        failure = result.failure
        if check and failure is not None:
            raise ActionFailed(failure, result, result.message)
        return self.reader(result)


def _request(
    name: str,
    headers: Headers,
    reader: Callable[[ActionResult], T],
    *,
    outcome_event: str | None = None,
    extra_time: float = 0.0,
) -> Request[T]:
    return Request(Action(name, headers), reader, outcome_event, extra_time)


def _response(result: ActionResult) -> Response:
    return result.response


def _events(result: ActionResult) -> list[Event]:
    return list(result.events)


def _nothing(result: ActionResult) -> None:
    return None


# -- helpers -------------------------------------------------------------------------------------
def ping() -> Request[Response]:
    """``Ping``; the server answers ``Ping: Pong``."""
    return _request("Ping", {}, _response)


def command(command: str) -> Request[list[str]]:
    """Run a CLI command: its output lines, the same on every AMI version. A command Asterisk
    refuses fails (``ActionFailed.result.output`` holds what it printed)."""
    return _request("Command", {"Command": command}, lambda result: result.output)


def originate(
    channel: str,
    *,
    context: str | None = None,
    exten: str | None = None,
    priority: int | str | None = None,
    application: str | None = None,
    data: str | None = None,
    ring_timeout: float | None = None,
    caller_id: str | None = None,
    variables: Mapping[str, str] | None = None,
    account: str | None = None,
    codecs: Sequence[str] | None = None,
    early_media: bool | None = None,
    channel_id: str | None = None,
    other_channel_id: str | None = None,
    wait: bool = False,
    extra: Mapping[str, HeaderValue] | None = None,
) -> Request[ActionResult]:
    """Originate a call to ``channel``, connected to ``context``/``exten``/``priority`` or to
    ``application``/``data``; ``ring_timeout`` is how long it may ring, in seconds (Asterisk's
    default is :data:`~trio_ami.sansio.requests.ASTERISK_RING_TIMEOUT`).

    With ``wait=True`` the call is queued (``Async: true``) and the result is complete when the
    ``OriginateResponse`` event reports the outcome (``result.outcome``); a failed outcome fails
    the request. ``extra_time`` is then the ring time: a caller that bounds the wait should allow
    that much more than for an ordinary action.
    """
    if (application is None) == (exten is None):
        raise ValueError("originate to either exten (with context, priority) or application")
    headers: dict[str, HeaderValue] = {
        "Channel": channel,
        "Context": context,
        "Exten": exten,
        "Priority": priority,
        "Application": application,
        "Data": data,
        "Timeout": None if ring_timeout is None else round(ring_timeout * 1000),
        "CallerID": caller_id,
        "Account": account,
        "Codecs": ",".join(codecs) if codecs else None,
        "EarlyMedia": early_media,
        "ChannelId": channel_id,
        "OtherChannelId": other_channel_id,
        "Async": True if wait else None,
        "Variable": [f"{key}={value}" for key, value in (variables or {}).items()] or None,
    }
    if extra:
        headers.update(extra)
    if not wait:
        return _request("Originate", headers, _whole)
    ring = ASTERISK_RING_TIMEOUT if ring_timeout is None else ring_timeout
    return _request(
        "Originate", headers, _whole, outcome_event="OriginateResponse", extra_time=ring
    )


def redirect(
    channel: str,
    context: str,
    exten: str,
    priority: int | str = 1,
    *,
    extra_channel: str | None = None,
    extra_context: str | None = None,
    extra_exten: str | None = None,
    extra_priority: int | str | None = None,
) -> Request[Response]:
    """Transfer ``channel`` (and optionally a second one) to a dialplan location."""
    headers: dict[str, HeaderValue] = {
        "Channel": channel,
        "Context": context,
        "Exten": exten,
        "Priority": priority,
        "ExtraChannel": extra_channel,
        "ExtraContext": extra_context,
        "ExtraExten": extra_exten,
        "ExtraPriority": extra_priority,
    }
    return _request("Redirect", headers, _response)


def set_var(variable: str, value: str, *, channel: str | None = None) -> Request[None]:
    """Set a channel variable, or a global one when ``channel`` is not given."""
    headers = {"Channel": channel, "Variable": variable, "Value": value}
    return _request("Setvar", headers, _nothing)


def get_var(variable: str, *, channel: str | None = None) -> Request[str]:
    """A channel (or global) variable's value; ``""`` when it is not set."""
    headers = {"Channel": channel, "Variable": variable}
    return _request("Getvar", headers, lambda result: result.response.get("Value", ""))


def status(channel: str | None = None) -> Request[list[Event]]:
    """``Status`` events for one channel or all of them."""
    return _request("Status", {"Channel": channel}, _events)


def core_show_channels() -> Request[list[Event]]:
    """One ``CoreShowChannel`` event per active channel."""
    return _request("CoreShowChannels", {}, _events)


def sip_peers() -> Request[list[Event]]:
    """chan_sip peers (``PeerEntry`` events)."""
    return _request("SIPpeers", {}, _events)


def iax_peers() -> Request[list[Event]]:
    """IAX2 peers (``PeerEntry`` events)."""
    return _request("IAXpeerlist", {}, _events)


def pjsip_endpoints() -> Request[list[Event]]:
    """PJSIP endpoints (``EndpointList`` events)."""
    return _request("PJSIPShowEndpoints", {}, _events)


def parse_config(response: Response) -> dict[str, list[str]]:
    """A ``GetConfig`` response as ``{category: [line, ...]}``, lines as ``key=value``.

    Asterisk numbers categories (``Category-000000``) and their lines (``Line-000000-000001``);
    a line whose category was not announced is left out.
    """
    categories: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for key, value in response.headers:
        kind, _, number = key.partition("-")
        if kind == "Category":
            names[number] = value
            categories[value] = []
        elif kind == "Line":
            name = names.get(number.partition("-")[0])
            if name is not None:
                categories[name].append(value)
    return categories


def get_config(filename: str, *, category: str | None = None) -> Request[dict[str, list[str]]]:
    """A configuration file as ``{category: [line, ...]}`` (see
    :func:`~trio_ami.sansio.requests.parse_config`)."""
    headers = {"Filename": filename, "Category": category}
    return _request("GetConfig", headers, lambda result: parse_config(result.response))


def get_config_json(filename: str, *, category: str | None = None) -> Request[Any]:
    """A configuration file as the JSON object Asterisk builds (``GetConfigJSON``)."""
    headers = {"Filename": filename, "Category": category}
    return _request(
        "GetConfigJSON", headers, lambda result: json.loads(result.response.get("JSON", "{}"))
    )


def extension_state(exten: str, context: str) -> Request[Response]:
    """The hint state of an extension (``Status``, ``StatusText``)."""
    return _request("ExtensionState", {"Exten": exten, "Context": context}, _response)


def user_event(name: str, headers: Headers | None = None) -> Request[Response]:
    """Raise a ``UserEvent`` named ``name`` carrying ``headers``."""
    pairs: list[tuple[str, HeaderValue]] = [("UserEvent", name)]
    if headers:
        pairs.extend(headers.items() if isinstance(headers, Mapping) else headers)
    return _request("UserEvent", pairs, _response)


def events(mask: bool | str | Sequence[str]) -> Request[Response]:
    """Set the server-side event mask (see :func:`~trio_ami.sansio.event_mask`)."""
    return _request("Events", {"EventMask": event_mask(mask)}, _response)


def filter(expression: str, *, operation: str = "Add") -> Request[Response]:
    """Add a server-side event filter (``Event: Hangup``, ``!Event: Newexten``)."""
    return _request("Filter", {"Operation": operation, "Filter": expression}, _response)
