"""The model of the fake PBX: channels, bridges, device and extension states, variables,
configuration files, CLI commands and peers.

The action handlers and the :class:`~trio_ami.testing.PBXSimulator` read and change it through
its methods. A change that Asterisk reports with an event (a new channel, a state, a variable, a
hangup...) is reported here too, with Asterisk's headers, to every listener added with
:meth:`PBX.add_listener`: the server listens and publishes them to its sessions. No I/O, no
clock: whoever creates a channel says when.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeAlias

import attrs

from ..sansio import Message
from ._wire import CAUSE_TEXT, CHANNEL_STATE_DESC, Pairs

__all__ = [
    "ORIGINATE_OUTCOMES",
    "PBX",
    "Bridge",
    "CallControl",
    "Listener",
    "SimChannel",
    "default_configs",
    "default_iax_peers",
    "default_sip_peers",
    "originate_outcome",
    "originate_response",
]

#: Called with each event the model raises: its name and its headers (after ``Event``).
Listener: TypeAlias = Callable[[str, Pairs], object]

#: How an ``Originate`` can end, and the ``Reason`` its ``OriginateResponse`` carries.
ORIGINATE_OUTCOMES: Mapping[str, int] = {
    "Success": 4,
    "Failure": 0,
    "Busy": 5,
    "NoAnswer": 3,
    "Congestion": 8,
}
_RINGING = 5


class CallControl(Protocol):
    """What runs a channel's call (the simulator's calls): asked to end it."""

    def request_hangup(self, channel: SimChannel, cause: int) -> None:
        """Hang up the call ``channel`` is part of, ``channel`` first, with ``cause``."""


@attrs.define(eq=False)
class SimChannel:
    """A live channel of the model."""

    name: str
    uniqueid: str
    linkedid: str
    state: int = 0
    caller_num: str = "<unknown>"
    caller_name: str = "<unknown>"
    connected_num: str = "<unknown>"
    connected_name: str = "<unknown>"
    context: str = "default"
    exten: str = "s"
    priority: int = 1
    application: str = ""
    app_data: str = ""
    language: str = "en"
    accountcode: str = ""
    #: ``trio.current_time()`` when the channel was created.
    created: float = 0.0
    bridge_id: str = ""
    variables: dict[str, str] = attrs.Factory(dict)
    #: The endpoint (device) behind the channel, e.g. ``"100"`` for ``PJSIP/100-00000001``.
    endpoint: str = ""
    #: The call the channel is part of, which a ``Hangup`` asks to end (``None``: none).
    call: CallControl | None = attrs.field(default=None, repr=False)

    @property
    def tech(self) -> str:
        """The channel technology: ``PJSIP``, ``Local``..."""
        return self.name.partition("/")[0]

    @property
    def device(self) -> str:
        """The device whose state the channel affects, e.g. ``PJSIP/100``."""
        return f"{self.tech}/{self.endpoint}"

    @property
    def state_desc(self) -> str:
        """``ChannelStateDesc``: ``Down``, ``Ring``, ``Ringing``, ``Up``..."""
        return CHANNEL_STATE_DESC.get(self.state, "Unknown")

    def headers(self, prefix: str = "") -> Pairs:
        """The channel snapshot headers events carry, optionally prefixed (``Dest``...)."""
        return [
            (f"{prefix}Channel", self.name),
            (f"{prefix}ChannelState", str(self.state)),
            (f"{prefix}ChannelStateDesc", self.state_desc),
            (f"{prefix}CallerIDNum", self.caller_num),
            (f"{prefix}CallerIDName", self.caller_name),
            (f"{prefix}ConnectedLineNum", self.connected_num),
            (f"{prefix}ConnectedLineName", self.connected_name),
            (f"{prefix}Language", self.language),
            (f"{prefix}AccountCode", self.accountcode),
            (f"{prefix}Context", self.context),
            (f"{prefix}Exten", self.exten),
            (f"{prefix}Priority", str(self.priority)),
            (f"{prefix}Uniqueid", self.uniqueid),
            (f"{prefix}Linkedid", self.linkedid),
        ]

    def get_variable(self, name: str, global_vars: Mapping[str, str]) -> str:
        """A variable as ``Getvar`` reads it: the channel's, some built-ins, then globals."""
        if name in self.variables:
            return self.variables[name]
        builtins = {
            "CHANNEL": self.name,
            "UNIQUEID": self.uniqueid,
            "LINKEDID": self.linkedid,
            "CONTEXT": self.context,
            "EXTEN": self.exten,
            "PRIORITY": str(self.priority),
            "CALLERID(num)": self.caller_num,
            "CALLERID(name)": self.caller_name,
            "CALLERID(all)": f'"{self.caller_name}" <{self.caller_num}>',
        }
        return builtins[name] if name in builtins else global_vars.get(name, "")


@attrs.define(eq=False)
class Bridge:
    """A basic two-party bridge."""

    uniqueid: str
    members: list[SimChannel] = attrs.Factory(list)
    destroyed: bool = False

    def headers(self) -> Pairs:
        """The bridge snapshot headers events carry."""
        return [
            ("BridgeUniqueid", self.uniqueid),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
            ("BridgeNumChannels", str(len(self.members))),
            ("BridgeVideoSourceMode", "none"),
        ]


class PBX:
    """The state of the fake PBX (see the module docstring).

    Tests configure it through its data: ``commands`` (CLI command -> output, text or a
    callable), ``configs`` (``filename -> {category: ["key=value", ...]}``), ``global_vars``,
    ``hints`` (``"exten@context" -> "PJSIP/100"``), ``sip_peers`` / ``iax_peers`` (each the
    headers of a ``PeerEntry``) and ``pjsip_endpoints`` (``None``: the registered extensions).
    """

    def __init__(self) -> None:
        #: CLI commands (lower-case, single spaces) and their output, text or a callable.
        self.commands: dict[str, str | Callable[[], str]] = {}
        #: Configuration files for ``GetConfig``: ``filename -> {category: ["key=value"]}``.
        self.configs: dict[str, dict[str, list[str]]] = {}
        #: Global dialplan variables.
        self.global_vars: dict[str, str] = {}
        #: Hints for ``ExtensionState``: ``"exten@context" -> "PJSIP/100"``.
        self.hints: dict[str, str] = {}
        #: ``SIPpeers`` / ``IAXpeerlist`` entries.
        self.sip_peers: list[dict[str, str]] = default_sip_peers()
        self.iax_peers: list[dict[str, str]] = default_iax_peers()
        #: Endpoints ``PJSIPShowEndpoints`` lists; ``None``: the registered extensions.
        self.pjsip_endpoints: list[str] | None = None
        #: Live channels by name, in order of creation.
        self.channels: dict[str, SimChannel] = {}
        #: Calls counted by ``core show channels`` ("calls processed").
        self.calls_processed = 0
        self._extensions: list[str] = ["100", "101", "102"]
        self._extension_context = ""
        self._bridges: dict[str, Bridge] = {}
        self._device_states: dict[str, str] = {}
        self._listeners: list[Listener] = []
        self._originate_seq = 0

    # -- listeners ------------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(name, headers)`` for every event the model raises from now on."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener`` (it must have been added)."""
        self._listeners.remove(listener)

    def emit(self, name: str, pairs: Pairs) -> None:
        """Raise the event ``name`` with ``pairs`` (its headers after ``Event``)."""
        for listener in tuple(self._listeners):
            listener(name, pairs)

    # -- extensions and devices -----------------------------------------------------------------
    def register_extensions(self, extensions: Sequence[str], context: str) -> None:
        """Make ``extensions`` the PJSIP endpoints, each with hint ``PJSIP/<exten>`` in
        ``context``."""
        self._extensions = list(extensions)
        self._extension_context = context

    def endpoints(self) -> list[str]:
        """The PJSIP endpoints: ``pjsip_endpoints`` if set, else the registered extensions."""
        return list(self._extensions if self.pjsip_endpoints is None else self.pjsip_endpoints)

    def hint(self, exten: str, context: str) -> str:
        """The hint of ``exten@context`` (``""``: none): from ``hints``, else ``PJSIP/<exten>``
        for a registered extension."""
        hint = self.hints.get(f"{exten}@{context}", "")
        if not hint and context == self._extension_context and exten in self._extensions:
            hint = f"PJSIP/{exten}"
        return hint

    def device_state(self, device: str) -> str:
        """``NOT_INUSE``, ``RINGING``, ``INUSE`` or ``RINGINUSE`` for a device (``PJSIP/100``)."""
        states = [ch.state for ch in self.channels.values() if ch.device == device]
        if not states:
            return "NOT_INUSE"
        ringing = any(state == _RINGING for state in states)
        in_use = any(state != _RINGING for state in states)
        if ringing and in_use:
            return "RINGINUSE"
        return "RINGING" if ringing else "INUSE"

    def hint_state(self, hint: str) -> int:
        """The extension state number of a hint (0 idle, 1 in use, 8 ringing, 9 both)."""
        state = 0
        for device in hint.split("&"):
            current = self.device_state(device.strip())
            if current in ("INUSE", "RINGINUSE"):
                state |= 1
            if current in ("RINGING", "RINGINUSE"):
                state |= 8
        return state

    def _device_changed(self, device: str) -> None:
        if device.startswith("Local/"):
            return
        state = self.device_state(device)
        if self._device_states.get(device, "NOT_INUSE") != state:
            self._device_states[device] = state
            self.emit("DeviceStateChange", [("Device", device), ("State", state)])

    # -- channels -------------------------------------------------------------------------------
    def live_channels(self) -> list[SimChannel]:
        """The live channels, in order of creation."""
        return list(self.channels.values())

    def find_channel(self, name: str) -> SimChannel | None:
        """A live channel by name or uniqueid (names compare case-insensitively)."""
        channel = self.channels.get(name)
        if channel is not None:
            return channel
        folded = name.lower()
        for channel in self.channels.values():
            if channel.name.lower() == folded or channel.uniqueid == name:
                return channel
        return None

    def endpoint_channels(self, endpoint: str) -> list[SimChannel]:
        """The live PJSIP channels of ``endpoint``."""
        return [
            ch for ch in self.channels.values() if ch.endpoint == endpoint and ch.tech == "PJSIP"
        ]

    def add_channel(self, channel: SimChannel) -> SimChannel:
        """A new channel: ``Newchannel``, and its device's state if it changes."""
        self.channels[channel.name] = channel
        self.emit("Newchannel", channel.headers())
        self._device_changed(channel.device)
        return channel

    def set_state(self, channel: SimChannel, state: int) -> None:
        """The channel's state changes (``Newstate``; 5 ringing, 6 up)."""
        channel.state = state
        self.emit("Newstate", channel.headers())
        self._device_changed(channel.device)

    def newexten(self, channel: SimChannel) -> None:
        """The channel runs its current dialplan step (``Newexten``)."""
        self.emit(
            "Newexten",
            [
                *channel.headers(),
                ("Extension", channel.exten),
                ("Application", channel.application),
                ("AppData", channel.app_data),
            ],
        )

    def varset(self, channel: SimChannel, name: str, value: str) -> None:
        """Report a variable the dialplan sets on ``channel`` (``VarSet``), as ``DIALSTATUS``."""
        self.emit("VarSet", [*channel.headers(), ("Variable", name), ("Value", value)])

    def set_variable(self, channel: SimChannel, name: str, value: str) -> None:
        """Set a channel variable (``VarSet``)."""
        channel.variables[name] = value
        self.varset(channel, name, value)

    def set_global(self, name: str, value: str) -> None:
        """Set a global variable (``VarSet`` on no channel)."""
        self.global_vars[name] = value
        self.emit(
            "VarSet",
            [("Channel", "none"), ("Uniqueid", "none"), ("Variable", name), ("Value", value)],
        )

    def get_variable(self, channel: SimChannel | None, name: str) -> str:
        """A variable as ``Getvar`` reads it, on ``channel`` or global (``None``)."""
        if channel is None:
            return self.global_vars.get(name, "")
        return channel.get_variable(name, self.global_vars)

    def redirect(self, channel: SimChannel, context: str, exten: str, priority: int) -> None:
        """Send ``channel`` to ``exten@context:priority``, out of its bridge if any."""
        bridge = self._bridges.get(channel.bridge_id)
        if bridge is not None and channel in bridge.members:
            self.bridge_leave(bridge, channel)
        channel.context, channel.exten, channel.priority = context, exten, priority
        channel.application, channel.app_data = "NoOp", ""
        self.newexten(channel)

    def hangup(self, channel: SimChannel, cause: int = 0) -> None:
        """Hang up ``channel`` as the ``Hangup`` action does: its call, if it has one, ends;
        else the channel alone goes (``SoftHangupRequest``, ``Hangup``)."""
        if channel.call is not None:
            channel.call.request_hangup(channel, cause)
            return
        self.emit("SoftHangupRequest", [*channel.headers(), ("Cause", "16")])
        self.hangup_channel(channel, cause)

    def hangup_channel(self, channel: SimChannel, cause: int) -> None:
        """The channel is gone: out of its bridge, ``Hangup`` with ``cause``. Once only."""
        if self.channels.get(channel.name) is not channel:
            return
        bridge = self._bridges.get(channel.bridge_id)
        if bridge is not None and channel in bridge.members:
            self.bridge_leave(bridge, channel)
        del self.channels[channel.name]
        self.emit(
            "Hangup",
            [
                *channel.headers(),
                ("Cause", str(cause)),
                ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown")),
            ],
        )
        self._device_changed(channel.device)

    def is_live(self, channel: SimChannel) -> bool:
        """Whether ``channel`` is still up."""
        return self.channels.get(channel.name) is channel

    # -- bridges --------------------------------------------------------------------------------
    def bridge(self, uniqueid: str, channels: Iterable[SimChannel]) -> Bridge:
        """Bridge ``channels`` together (``BridgeCreate``, ``BridgeEnter`` each, and each
        one's ``BRIDGEPEER``)."""
        bridge = Bridge(uniqueid)
        self._bridges[uniqueid] = bridge
        self.emit("BridgeCreate", bridge.headers())
        members = list(channels)
        for channel in members:
            bridge.members.append(channel)
            channel.bridge_id = uniqueid
            self.emit("BridgeEnter", [*bridge.headers(), *channel.headers()])
        for channel in members:
            peer = next((m for m in members if m is not channel), None)
            if peer is not None:
                self.varset(channel, "BRIDGEPEER", peer.name)
        return bridge

    def bridge_leave(self, bridge: Bridge, channel: SimChannel) -> None:
        """``channel`` leaves ``bridge`` (``BridgeLeave``)."""
        bridge.members.remove(channel)
        channel.bridge_id = ""
        self.emit("BridgeLeave", [*bridge.headers(), *channel.headers()])

    def destroy_bridge(self, bridge: Bridge) -> None:
        """Empty ``bridge`` and destroy it (``BridgeDestroy``). Once only."""
        if bridge.destroyed:
            return
        for channel in list(bridge.members):
            self.bridge_leave(bridge, channel)
        bridge.destroyed = True
        self._bridges.pop(bridge.uniqueid, None)
        self.emit("BridgeDestroy", bridge.headers())

    # -- calls ----------------------------------------------------------------------------------
    def count_call(self) -> None:
        """One more call for ``core show channels`` ("calls processed")."""
        self.calls_processed += 1

    def restart(self) -> None:
        """Start again as a restarted Asterisk does: every call ends, the variables and the
        call count are forgotten; the configuration stays."""
        for channel in self.live_channels():
            self.hangup(channel, 0)
        self.global_vars.clear()
        self.calls_processed = 0

    def next_originate_id(self) -> int:
        """A sequence number for channels named by an ``Originate`` that no simulator runs."""
        self._originate_seq += 1
        return self._originate_seq


def originate_outcome(value: str) -> str:
    """An outcome as spelled in :data:`ORIGINATE_OUTCOMES`, whatever its case; ``ValueError``
    for anything else."""
    for known in ORIGINATE_OUTCOMES:
        if value.lower() == known.lower():
            return known
    raise ValueError(f"originate outcome {value!r}; expected one of {list(ORIGINATE_OUTCOMES)}")


def originate_response(
    action: Message, outcome: str, channel: str, uniqueid: str, *, num: str, name: str
) -> Pairs:
    """The headers of an ``OriginateResponse`` event (after ``Event`` and ``Privilege``)."""
    pairs: Pairs = []
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
        ("Reason", str(ORIGINATE_OUTCOMES[outcome])),
        ("Uniqueid", uniqueid),
        ("CallerIDNum", num or "<unknown>"),
        ("CallerIDName", name or "<unknown>"),
    ]
    return pairs


# -- what a new server holds ----------------------------------------------------------------------
def default_configs(users: Mapping[str, str]) -> dict[str, dict[str, list[str]]]:
    """``extensions.conf`` (a small test dialplan) and a ``manager.conf`` of ``users``."""
    manager: dict[str, list[str]] = {
        "general": ["enabled=yes", "port=5038", "bindaddr=127.0.0.1", "displayconnects=yes"]
    }
    for user, secret in users.items():
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
    return [
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
        for name, address, port, dynamic, description in (
            ("alice", "-none-", "0", "yes", "Test peer Alice"),
            ("bob", "127.0.0.1", "5170", "no", "Static peer Bob"),
        )
    ]


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
