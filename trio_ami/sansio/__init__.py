"""The sans-IO core of trio-ami: the AMI protocol with no sockets, no event loop and no clock.

Everything here works on bytes and objects only, so it serves trio, asyncio, threads or a plain
blocking socket alike. Importing it imports no I/O library.
"""

from . import requests
from ._actions import (
    MAX_HEADERS,
    MAX_LINE_BYTES,
    Action,
    Headers,
    HeaderValue,
    event_mask,
    serialize_headers,
)
from ._auth import md5_key
from ._errors import (
    ActionFailed,
    ActionTimeout,
    AMIConnectionError,
    AMIError,
    AuthenticationError,
    ConnectionClosed,
    InvalidActionError,
    LimitExceeded,
    ListTooLong,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    SubscriptionOverflow,
)
from ._items import (
    ActionAborted,
    ActionCompleted,
    ActionResult,
    BannerReceived,
    ConnectionTerminated,
    ListItem,
    LoginFailed,
    LoginSucceeded,
    ProtocolItem,
    ProtocolStatistics,
    UnexpectedMessage,
)
from ._messages import Banner, Event, Message, Response, ascii_int, message_from_text
from ._parser import (
    DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_LINE_LENGTH,
    DEFAULT_MAX_PACKET_SIZE,
    PacketParser,
)
from ._pending import LIST_ACTIONS
from ._protocol import DEFAULT_MAX_LIST_ITEMS, ClientProtocol
from ._state import TRANSITIONS, Ending, Input, State
from .requests import Request

__all__ = [
    "Request",
    "requests",
    "DEFAULT_MAX_LIST_ITEMS",
    "LIST_ACTIONS",
    "ActionAborted",
    "ActionCompleted",
    "ActionResult",
    "BannerReceived",
    "ClientProtocol",
    "ConnectionTerminated",
    "ListItem",
    "LoginFailed",
    "LoginSucceeded",
    "ProtocolItem",
    "ProtocolStatistics",
    "UnexpectedMessage",
    "TRANSITIONS",
    "Ending",
    "Input",
    "State",
    "Action",
    "HeaderValue",
    "Headers",
    "MAX_HEADERS",
    "MAX_LINE_BYTES",
    "ascii_int",
    "event_mask",
    "serialize_headers",
    "md5_key",
    "AMIConnectionError",
    "AMIError",
    "ActionFailed",
    "ActionTimeout",
    "AuthenticationError",
    "Banner",
    "ConnectionClosed",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_LINE_LENGTH",
    "DEFAULT_MAX_PACKET_SIZE",
    "Event",
    "InvalidActionError",
    "LimitExceeded",
    "ListTooLong",
    "LocalProtocolError",
    "Message",
    "PacketParser",
    "ProtocolError",
    "RemoteProtocolError",
    "Response",
    "SubscriptionOverflow",
    "message_from_text",
]
