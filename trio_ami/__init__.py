"""trio-ami: an Asterisk Manager Interface (AMI) client for trio, on a sans-IO protocol core.

The names a user of the trio client needs live here; the protocol machinery (the parser, the
state machine's table and inputs, the protocol's items, limits and serializers) stays in
:mod:`trio_ami.sansio`, and the typed helpers' requests in :mod:`trio_ami.sansio.requests`.

Everything is imported on first use, from the one table below: ``import trio_ami.sansio`` (which
runs this file first) must stay free of trio and sockets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Every public name, and the module it comes from.
_EXPORTS: dict[str, str] = {
    # connecting
    "open_ami": "._open",
    "connect_ami": "._open",
    "wrap_ami_stream": "._open",
    "AMIConnection": "._connection",
    "ConnectionStatistics": "._connection",
    "SessionOptions": "._settings",
    "ConnectOptions": "._settings",
    "Settings": "._settings",
    "ClientProtocol": ".sansio",
    "Ending": ".sansio",
    # actions
    "Action": ".sansio",
    "ActionResult": ".sansio",
    # events
    "Subscription": "._subscription",
    "ActionStream": "._subscription",
    "SubscriptionStatistics": "._subscription",
    "OverflowPolicy": "._subscription",
    # messages
    "Message": ".sansio",
    "Event": ".sansio",
    "Response": ".sansio",
    "Banner": ".sansio",
    # errors
    "AMIError": ".sansio",
    "AMIConnectionError": ".sansio",
    "AuthenticationError": ".sansio",
    "ActionFailed": ".sansio",
    "ActionTimeout": ".sansio",
    "ConnectionClosed": ".sansio",
    "ListTooLong": ".sansio",
    "SubscriptionOverflow": ".sansio",
    "ProtocolError": ".sansio",
    "LocalProtocolError": ".sansio",
    "InvalidActionError": ".sansio",
    "RemoteProtocolError": ".sansio",
    "LimitExceeded": ".sansio",
}

if TYPE_CHECKING:  # the same names for type checkers (a test keeps them equal to _EXPORTS)
    __version__: str
    from ._connection import (
        AMIConnection as AMIConnection,
        ConnectionStatistics as ConnectionStatistics,
    )
    from ._open import (
        connect_ami as connect_ami,
        open_ami as open_ami,
        wrap_ami_stream as wrap_ami_stream,
    )
    from ._settings import (
        ConnectOptions as ConnectOptions,
        SessionOptions as SessionOptions,
        Settings as Settings,
    )
    from ._subscription import (
        ActionStream as ActionStream,
        OverflowPolicy as OverflowPolicy,
        Subscription as Subscription,
        SubscriptionStatistics as SubscriptionStatistics,
    )
    from .sansio import (
        Action as Action,
        ActionFailed as ActionFailed,
        ActionResult as ActionResult,
        ActionTimeout as ActionTimeout,
        AMIConnectionError as AMIConnectionError,
        AMIError as AMIError,
        AuthenticationError as AuthenticationError,
        Banner as Banner,
        ClientProtocol as ClientProtocol,
        ConnectionClosed as ConnectionClosed,
        Ending as Ending,
        Event as Event,
        InvalidActionError as InvalidActionError,
        LimitExceeded as LimitExceeded,
        ListTooLong as ListTooLong,
        LocalProtocolError as LocalProtocolError,
        Message as Message,
        ProtocolError as ProtocolError,
        RemoteProtocolError as RemoteProtocolError,
        Response as Response,
        SubscriptionOverflow as SubscriptionOverflow,
    )


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return _installed_version()
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def _installed_version() -> str:
    """The version of the installed distribution: pyproject.toml is its one source."""
    # Imported here: importlib.metadata pulls in email, hence socket, which the core must not.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trio-ami")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "0+unknown"


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, "__version__"])


__all__ = [*_EXPORTS, "__version__"]  # noqa: PLE0604 - the table is the one list
