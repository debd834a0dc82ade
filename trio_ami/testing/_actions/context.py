"""What a built-in action handler works with: :class:`ActionContext`.

A handler sees its session through :class:`SessionView` and the server through :class:`Host`,
both public protocols that :class:`~trio_ami.testing.FakeSession` and
:class:`~trio_ami.testing.FakeAMIServer` meet; it reads and changes the PBX through the model's
methods. It never touches anyone's private state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

import attrs
import trio

from ...sansio import Message
from .._filters import EventFilter
from .._pbx import PBX
from .._settings import ServerSettings
from .._wire import HandlerResult, Pairs

__all__ = ["ActionContext", "CallEngine", "Host", "SessionView", "UserCodeError"]


class UserCodeError(Exception):
    """Raised by a built-in when a hook given by the test (``originate_outcome``) failed: the
    server treats the hook's exception, :attr:`error`, as an error of a test handler."""

    def __init__(self, error: Exception) -> None:
        super().__init__(repr(error))
        self.error = error


class SessionView(Protocol):
    """What a handler may read and do on the session an action came on."""

    @property
    def id(self) -> int: ...
    @property
    def logged_in(self) -> bool: ...
    @property
    def username(self) -> str | None: ...
    @property
    def event_mask(self) -> int: ...
    @property
    def challenge(self) -> str | None: ...
    @property
    def local_address(self) -> str: ...
    @property
    def remote_address(self) -> str: ...

    def send(self, reply: HandlerResult, action: Message | None = None) -> None: ...
    def finish(self) -> None: ...
    def log_in(self, username: str) -> None: ...
    def set_event_mask(self, mask: int) -> None: ...
    def add_filter(self, event_filter: EventFilter) -> None: ...
    def set_challenge(self, challenge: str) -> None: ...


class CallEngine(Protocol):
    """What runs originated calls (the simulator)."""

    async def originate(
        self,
        action: Message,
        outcome: str,
        *,
        emit_response: bool = True,
        nursery: trio.Nursery | None = None,
    ) -> bool: ...


class Host(Protocol):
    """What a handler may read and do on the server."""

    @property
    def settings(self) -> ServerSettings: ...
    @property
    def pbx(self) -> PBX: ...
    @property
    def simulator(self) -> CallEngine | None: ...

    def push_event(
        self,
        event: str | Message,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        *,
        privilege: str | None = None,
    ) -> int: ...
    def new_challenge(self) -> str: ...
    def consume_login_refusal(self) -> bool: ...
    def uptime(self) -> int: ...
    def action_names(self) -> list[str]: ...


@attrs.frozen
class ActionContext:
    """One action being handled: the action, its session, the server, and where background
    work (the outcome of an async ``Originate``) runs."""

    host: Host
    session: SessionView
    action: Message
    nursery: trio.Nursery | None = None

    @property
    def pbx(self) -> PBX:
        return self.host.pbx

    @property
    def settings(self) -> ServerSettings:
        return self.host.settings

    def reply(self, pairs: Pairs) -> None:
        """Answer with one packet (the ActionID goes after its first line)."""
        self.session.send(pairs, self.action)

    def error(self, message: str) -> None:
        """Answer ``Response: Error`` with ``Message: <message>``."""
        self.reply([("Response", "Error"), ("Message", message)])

    def ack(self, message: str | None = None) -> None:
        """Answer ``Response: Success`` (with ``Message: <message>`` if given)."""
        pairs = [("Response", "Success")]
        if message is not None:
            pairs.append(("Message", message))
        self.reply(pairs)

    def list_start(self, message: str) -> None:
        """Answer that an event list follows."""
        self.reply([("Response", "Success"), ("EventList", "start"), ("Message", message)])

    def list_complete(self, name: str, count: int, *extra: tuple[str, str]) -> None:
        """End an event list of ``count`` items with the event ``name``."""
        self.reply([("Event", name), ("EventList", "Complete"), ("ListItems", str(count)), *extra])

    def send_unanswered(self, pairs: Pairs) -> None:
        """Send a packet as it is: no ActionID is added."""
        self.session.send(pairs)

    def spawn(self, async_fn: Callable[[], Awaitable[object]]) -> None:
        """Run ``async_fn`` in the background (see :attr:`nursery`)."""
        if self.nursery is None:
            raise RuntimeError("no nursery to run a background task in")
        self.nursery.start_soon(async_fn)
