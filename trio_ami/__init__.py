"""trio-ami: an Asterisk Manager Interface (AMI) client for trio, on a sans-IO protocol core.

The protocol core lives in :mod:`trio_ami.sansio` and imports no I/O library; its public names
are re-exported here. The trio client is imported on first use, so that ``import
trio_ami.sansio`` (which runs this file first) stays free of trio and sockets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .sansio import (
    DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_LINE_LENGTH,
    DEFAULT_MAX_LIST_ITEMS,
    DEFAULT_MAX_PACKET_SIZE,
    LIST_ACTIONS,
    MAX_HEADERS,
    MAX_LINE_BYTES,
    TRANSITIONS,
    Action,
    ActionAborted,
    ActionCompleted,
    ActionFailed,
    ActionResult,
    ActionTimeout,
    AMIConnectionError,
    AMIError,
    AuthenticationError,
    Banner,
    BannerReceived,
    ClientProtocol,
    ConnectionClosed,
    ConnectionTerminated,
    Ending,
    Event,
    Headers,
    HeaderValue,
    Input,
    InvalidActionError,
    LimitExceeded,
    ListItem,
    ListTooLong,
    LocalProtocolError,
    LoginFailed,
    LoginSucceeded,
    Message,
    PacketParser,
    ProtocolError,
    ProtocolItem,
    ProtocolStatistics,
    RemoteProtocolError,
    Response,
    State,
    SubscriptionOverflow,
    UnexpectedMessage,
    message_from_text,
    serialize_headers,
)

if TYPE_CHECKING:
    from ._connection import (
        ActionStream,
        AMIConnection,
        ConnectionStatistics,
        connect_ami,
        open_ami,
        wrap_ami_stream,
    )
    from ._subscription import (
        OverflowPolicy,
        Subscription,
        SubscriptionStatistics,
    )

__version__ = "0.1.0"

_LAZY = {
    "ActionStream": "._connection",
    "AMIConnection": "._connection",
    "connect_ami": "._connection",
    "ConnectionStatistics": "._connection",
    "open_ami": "._connection",
    "wrap_ami_stream": "._connection",
    "OverflowPolicy": "._subscription",
    "Subscription": "._subscription",
    "SubscriptionStatistics": "._subscription",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_LINE_LENGTH",
    "DEFAULT_MAX_LIST_ITEMS",
    "DEFAULT_MAX_PACKET_SIZE",
    "LIST_ACTIONS",
    "MAX_HEADERS",
    "MAX_LINE_BYTES",
    "TRANSITIONS",
    "Action",
    "ActionAborted",
    "ActionCompleted",
    "ActionFailed",
    "ActionResult",
    "ActionStream",
    "ActionTimeout",
    "AMIConnection",
    "AMIConnectionError",
    "AMIError",
    "AuthenticationError",
    "Banner",
    "BannerReceived",
    "ClientProtocol",
    "connect_ami",
    "ConnectionClosed",
    "ConnectionStatistics",
    "ConnectionTerminated",
    "Ending",
    "Event",
    "Headers",
    "HeaderValue",
    "Input",
    "InvalidActionError",
    "LimitExceeded",
    "ListItem",
    "ListTooLong",
    "LocalProtocolError",
    "LoginFailed",
    "LoginSucceeded",
    "Message",
    "message_from_text",
    "open_ami",
    "OverflowPolicy",
    "PacketParser",
    "ProtocolError",
    "ProtocolItem",
    "ProtocolStatistics",
    "RemoteProtocolError",
    "Response",
    "serialize_headers",
    "State",
    "Subscription",
    "SubscriptionOverflow",
    "SubscriptionStatistics",
    "UnexpectedMessage",
    "wrap_ami_stream",
    "__version__",
]
