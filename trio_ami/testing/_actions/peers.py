"""Peers, endpoints and extension states: ``SIPpeers``, ``IAXpeerlist``,
``PJSIPShowEndpoints``, ``ExtensionState``."""

from __future__ import annotations

from collections.abc import Sequence

from .context import ActionContext
from .registry import BuiltinAction, builtin

__all__ = ["ACTIONS"]

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
_DEVICE_STATE_TEXT = {
    "NOT_INUSE": "Not in use",
    "INUSE": "In use",
    "RINGING": "Ringing",
    "RINGINUSE": "Ring+Inuse",
    "BUSY": "Busy",
    "UNAVAILABLE": "Unavailable",
    "ONHOLD": "On Hold",
}


def _peer_list(ctx: ActionContext, message: str, peers: Sequence[dict[str, str]]) -> None:
    ctx.list_start(message)
    for peer in peers:
        ctx.reply([("Event", "PeerEntry"), *peer.items()])
    ctx.list_complete("PeerlistComplete", len(peers))


@builtin("SIPpeers")
def sip_peers(ctx: ActionContext) -> None:
    _peer_list(ctx, "Peer status list will follow", ctx.pbx.sip_peers)


@builtin("IAXpeerlist")
def iax_peer_list(ctx: ActionContext) -> None:
    _peer_list(ctx, "IAX Peer status list will follow", ctx.pbx.iax_peers)


@builtin("PJSIPShowEndpoints")
def pjsip_show_endpoints(ctx: ActionContext) -> None:
    pbx = ctx.pbx
    endpoints = pbx.endpoints()
    if not endpoints:
        ctx.error("No endpoints found")
        return
    ctx.list_start("A listing of Endpoints follows, presented as EndpointList events")
    for endpoint in endpoints:
        state = pbx.device_state(f"PJSIP/{endpoint}")
        active = pbx.endpoint_channels(endpoint)
        ctx.reply(
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
            ]
        )
    ctx.list_complete("EndpointListComplete", len(endpoints))


@builtin("ExtensionState")
def extension_state(ctx: ActionContext) -> None:
    exten = ctx.action.get("Exten") or ""
    if not exten:
        ctx.error("Extension not specified")
        return
    context = ctx.action.get("Context") or "default"
    hint = ctx.pbx.hint(exten, context)
    status = ctx.pbx.hint_state(hint) if hint else -1
    ctx.reply(
        [
            ("Response", "Success"),
            ("Message", "Extension Status"),
            ("Exten", exten),
            ("Context", context),
            ("Hint", hint),
            ("Status", str(status)),
            ("StatusText", _EXTENSION_STATES.get(status, "Unknown")),
        ]
    )


ACTIONS: tuple[BuiltinAction, ...] = (
    sip_peers,
    iax_peer_list,
    pjsip_show_endpoints,
    extension_state,
)
