"""trio-ami: an Asterisk Manager Interface (AMI) client for trio, on a sans-IO protocol core.

The protocol core lives in :mod:`trio_ami.sansio` and imports no I/O library; its public names
are re-exported here.
"""

from .sansio import (
    DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_LINE_LENGTH,
    DEFAULT_MAX_PACKET_SIZE,
    MAX_HEADERS,
    MAX_LINE_BYTES,
    Action,
    ActionFailed,
    ActionTimeout,
    AMIConnectionError,
    AMIError,
    AuthenticationError,
    Banner,
    ConnectionClosed,
    Event,
    Headers,
    HeaderValue,
    InvalidActionError,
    LimitExceeded,
    LocalProtocolError,
    Message,
    PacketParser,
    ProtocolError,
    RemoteProtocolError,
    Response,
    SubscriptionOverflow,
    message_from_text,
    serialize_headers,
)

__version__ = "0.1.0"

__all__ = [
    "AMIConnectionError",
    "AMIError",
    "Action",
    "ActionFailed",
    "ActionTimeout",
    "AuthenticationError",
    "Banner",
    "ConnectionClosed",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_LINE_LENGTH",
    "DEFAULT_MAX_PACKET_SIZE",
    "Event",
    "HeaderValue",
    "Headers",
    "InvalidActionError",
    "LimitExceeded",
    "LocalProtocolError",
    "MAX_HEADERS",
    "MAX_LINE_BYTES",
    "Message",
    "PacketParser",
    "ProtocolError",
    "RemoteProtocolError",
    "Response",
    "SubscriptionOverflow",
    "message_from_text",
    "serialize_headers",
    "__version__",
]
