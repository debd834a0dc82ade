"""How a :class:`~trio_ami.testing.FakeAMIServer` behaves, in four frozen groups.

:class:`ServerSettings` holds them: ``flavour`` (which Asterisk it plays), ``login`` (users and
how logins go), ``output`` (how it writes to clients, slow or stuck ones included) and
``originate`` (how originated calls end). A server's settings change as a whole, through
``server.configure(name=value, ...)``: every name is a field of exactly one group.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from ..sansio import Message
from ._wire import version_info

__all__ = [
    "Flavour",
    "HandlerErrors",
    "LoginSettings",
    "OriginateSettings",
    "OutputSettings",
    "ServerSettings",
]

#: What a handler that raises does: fail the test (re-raised when the server stops), or only
#: answer ``Response: Error`` (the exception is kept in ``server.handler_exceptions``).
HandlerErrors = Literal["raise", "respond"]
_DEFAULT_ASTERISK_VERSION = {2: "13.38.3"}


def _encoding(value: str) -> str:
    "".encode(value)  # fail now on an unknown encoding
    return value


def _users(value: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class Flavour:
    """Which Asterisk the server plays."""

    #: The AMI version of the banner; below 3 (Asterisk 13 and older) ``Command`` answers in
    #: the legacy format and ``FullyBooted`` carries no uptime.
    ami_version: str = "11.0.0"
    #: What ``core show version`` reports (``None``: 13.38.3 for AMI 2, else 22.10.1).
    asterisk_version: str | None = None
    #: Whether ``Command`` answers ``Response: Follows`` (``None``: as ``ami_version`` says).
    legacy_command: bool | None = None
    encoding: str = attrs.field(default="utf-8", converter=_encoding)
    #: Bytes sent instead of the banner line (``None``: the banner of ``ami_version``).
    banner: bytes | None = None

    @property
    def old_asterisk(self) -> bool:
        """Asterisk 13 and older (AMI 2.x and below)."""
        return version_info(self.ami_version)[:1] < (3,)

    @property
    def command_is_legacy(self) -> bool:
        """Whether ``Command`` answers in the legacy ``Response: Follows`` format."""
        return self.old_asterisk if self.legacy_command is None else self.legacy_command

    @property
    def version(self) -> str:
        """The Asterisk version ``core show version`` reports."""
        if self.asterisk_version is not None:
            return self.asterisk_version
        major = version_info(self.ami_version)[:1] or (11,)
        return _DEFAULT_ASTERISK_VERSION.get(major[0], "22.10.1")

    def banner_bytes(self) -> bytes:
        """The first bytes a client receives."""
        if self.banner is not None:
            return self.banner
        return f"Asterisk Call Manager/{self.ami_version}\r\n".encode(self.encoding)


@attrs.frozen(kw_only=True)
class LoginSettings:
    """Who may log in, and how a login goes."""

    #: ``username -> secret``.
    users: Mapping[str, str] = attrs.field(factory=lambda: {"admin": "secret"}, converter=_users)
    #: Seconds to wait before answering a failed login (Asterisk waits 1 s).
    auth_failure_delay: float = 0.0
    #: Whether a login raises a ``SuccessfulAuth`` security event, as Asterisk does.
    successful_auth_events: bool = True
    #: Close every session right after its successful login response.
    drop_after_login: bool = False


@attrs.frozen(kw_only=True)
class OutputSettings:
    """How the server writes to its clients."""

    #: Capacity of each session's output queue (packets); overflowing it disconnects.
    session_queue_size: int = attrs.field(default=10_000)
    #: Disconnect a client when one write to it takes longer than this (seconds).
    write_timeout: float | None = None
    #: Sleep this long before each write (seconds); with ``write_chunk_size``, per chunk.
    write_delay: float = 0.0
    #: Split each write into chunks of at most this many bytes.
    write_chunk_size: int | None = None

    @session_queue_size.validator
    def _positive(self, attribute: object, value: int) -> None:
        if value < 1:
            raise ValueError("session_queue_size must be positive")


@attrs.frozen(kw_only=True)
class OriginateSettings:
    """How originated calls end."""

    #: Seconds between an ``Originate`` and its outcome when no simulator runs the call.
    originate_delay: float = 0.0
    #: ``callable(action) -> "Success" | "Failure" | "Busy" | "NoAnswer" | "Congestion"``
    #: deciding how an ``Originate`` ends (also with a simulator); by default it succeeds
    #: unless the channel's destination starts with ``999`` (an extension that does not exist).
    originate_outcome: Callable[[Message], str] | None = None


_GROUPS: dict[str, type[Any]] = {
    "flavour": Flavour,
    "login": LoginSettings,
    "output": OutputSettings,
    "originate": OriginateSettings,
}


@attrs.frozen(kw_only=True)
class ServerSettings:
    """Every setting of a server, grouped (see the module docstring)."""

    flavour: Flavour = attrs.Factory(Flavour)
    login: LoginSettings = attrs.Factory(LoginSettings)
    output: OutputSettings = attrs.Factory(OutputSettings)
    originate: OriginateSettings = attrs.Factory(OriginateSettings)
    handler_errors: HandlerErrors = attrs.field(default="raise")

    @handler_errors.validator
    def _known(self, attribute: object, value: str) -> None:
        if value not in ("raise", "respond"):
            raise ValueError(f"handler_errors must be 'raise' or 'respond', not {value!r}")

    @classmethod
    def build(cls, **values: Any) -> ServerSettings:
        """Settings from flat names (``ami_version=...``, ``write_timeout=...``)."""
        return cls().evolve(**values)

    def value(self, name: str) -> Any:
        """The setting ``name``, whichever group holds it."""
        group = _FIELD_GROUPS.get(name)
        if group is not None:
            return getattr(getattr(self, group), name)
        if name == "handler_errors":
            return self.handler_errors
        raise AttributeError(f"no server setting is named {name!r}")

    def evolve(self, **changes: Any) -> ServerSettings:
        """A copy with the named settings changed (any group's fields, by name)."""
        grouped: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}
        for name, value in changes.items():
            group = _FIELD_GROUPS.get(name)
            if group is not None:
                grouped.setdefault(group, {})[name] = value
            elif name == "handler_errors":
                top[name] = value
            else:
                raise TypeError(f"no server setting is named {name!r}")
        for group, values in grouped.items():
            top[group] = attrs.evolve(getattr(self, group), **values)
        return attrs.evolve(self, **top)


_FIELD_GROUPS = {field.name: group for group, cls in _GROUPS.items() for field in attrs.fields(cls)}
