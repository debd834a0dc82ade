"""The faults of a whole fake server that a reconnecting client is tested against: a restart
on the same port, a black hole (a half-open link), logins refused for a while; and the listening
sockets a restart closes and opens again.

:class:`ServerFaults` is a part of :class:`~trio_ami.testing.FakeAMIServer` (its base class):
it works on the server's sessions, model and listening sockets, which the server declares.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import attrs
import trio

from ._pbx import PBX
from ._session import ActionFaults, FakeSession

__all__ = ["Listening", "RunState", "ServerFaults"]


@attrs.define
class RunState:
    """What changes in a running server: what the faults set, and an event for whoever waits
    for a change."""

    #: Whether sessions are put in a black hole.
    black_hole: bool = False
    #: Logins still to refuse.
    login_refusals: int = 0
    #: When the PBX (re)started, for its uptime.
    started: float = attrs.Factory(time.monotonic)
    #: Set (and replaced) at each change (see ``FakeAMIServer.wait_until``).
    changed: trio.Event = attrs.Factory(trio.Event)


class Listening:
    """The listening sockets of one ``listen_tcp`` block, which a restart closes and opens
    again on the same address. Connections are served in the block's nursery, so closing the
    sockets ends no session."""

    def __init__(
        self,
        listeners: list[trio.SocketListener],
        serve: Callable[[trio.SocketStream], Awaitable[object]],
    ) -> None:
        sockname = listeners[0].socket.getsockname()
        #: The address bound, kept across restarts.
        self.host = str(sockname[0])
        self.port = int(sockname[1])
        self._listeners = listeners
        self._serve = serve
        self._nursery: trio.Nursery | None = None
        self._accepting: trio.CancelScope | None = None
        self._stopped = trio.Event()
        self._closed = False

    @property
    def is_open(self) -> bool:
        """Whether connections are accepted now."""
        return bool(self._listeners)

    def start(self, nursery: trio.Nursery) -> None:
        """Accept connections, serving each in ``nursery``."""
        self._nursery = nursery
        self._accept_soon()

    def _accept_soon(self) -> None:
        assert self._nursery is not None
        scope, stopped = trio.CancelScope(), trio.Event()
        self._accepting, self._stopped = scope, stopped
        self._nursery.start_soon(self._accept, self._listeners, scope, stopped)

    async def _accept(
        self, listeners: list[trio.SocketListener], scope: trio.CancelScope, stopped: trio.Event
    ) -> None:
        try:
            with scope:
                await trio.serve_listeners(self._serve, listeners, handler_nursery=self._nursery)
        finally:
            for listener in listeners:
                await trio.aclose_forcefully(listener)
            stopped.set()

    async def stop(self) -> None:
        """Stop accepting and close the sockets: connecting is refused from now on."""
        listeners, self._listeners = self._listeners, []
        if self._accepting is None:  # never started: nothing accepts on them
            for listener in listeners:
                await trio.aclose_forcefully(listener)
        elif listeners:
            self._accepting.cancel()
            await self._stopped.wait()

    async def reopen(self) -> None:
        """Listen again on the same address (nothing once the block is over)."""
        if self._listeners or self._closed or self._nursery is None:
            return
        self._listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        self._accept_soon()

    async def aclose(self) -> None:
        """Close for good (the end of the block)."""
        self._closed = True
        listeners, self._listeners = self._listeners, []
        if self._accepting is not None:
            self._accepting.cancel()
        for listener in listeners:
            await trio.aclose_forcefully(listener)


class ServerFaults(ActionFaults):
    """Faults of a whole server (see the module docstring); with those of
    :class:`~trio_ami.testing.FakeSession` for one session."""

    __slots__ = ()
    pbx: PBX
    _sessions: dict[int, FakeSession]
    _listenings: list[Listening]
    _counts: dict[str, int]
    _run_state: RunState

    def _notify(self) -> None:
        state = self._run_state
        state.changed.set()
        state.changed = trio.Event()

    def disconnect_all(self, *, reset: bool = False) -> None:
        """Close every session abruptly (``reset=True``: TCP RST where possible)."""
        for session in list(self._sessions.values()):
            session.close(reset=reset)

    async def restart(self, *, delay: float = 0.0, keep_state: bool = True) -> None:
        """Restart the server as Asterisk restarts: stop listening (connecting is refused),
        close every session abruptly, wait ``delay`` seconds, then listen again on the same
        address; returns once it listens again.

        ``keep_state=False`` is a restart of the whole PBX: every call ends (no session hears
        of it), the variables set meanwhile and the call count are forgotten and the uptime
        starts again; the configuration (``commands``, ``configs``, ``hints``, peers, users)
        and the scripted handlers stay. ``keep_state=True`` (the default) keeps the model as
        it is, as when only the manager interface went away. Over :meth:`serve_stream` there
        is nothing to listen on: the sessions are closed, and that is all.
        """
        if delay < 0:
            raise ValueError(f"restart: delay must be 0 or more, not {delay}")
        listenings = list(self._listenings)
        for listening in listenings:
            await listening.stop()
        self._notify()
        self.disconnect_all()
        self._counts["restarts"] += 1
        if not keep_state:
            self.pbx.restart()
            self._run_state.started = time.monotonic()
        await trio.sleep(delay)
        for listening in listenings:
            await listening.reopen()
        self._notify()

    @property
    def listening(self) -> bool:
        """Whether the server accepts connections now (``False`` while a restart waits)."""
        return any(listening.is_open for listening in self._listenings)

    def black_hole(self) -> None:
        """Put every session, and every session that connects from now on, in a black hole
        until :meth:`lift_black_hole`: the connections stay open, but nothing is read or
        written (see :meth:`FakeSession.black_hole`); a client connecting meanwhile gets no
        banner. Only a keepalive with a deadline tells a client its link is dead."""
        self._run_state.black_hole = True
        for session in self._sessions.values():
            session.black_hole()

    def lift_black_hole(self) -> None:
        """End the black hole of every session (those of :meth:`FakeSession.black_hole`
        too): what was sent meanwhile is read, what was queued is written."""
        self._run_state.black_hole = False
        for session in self._sessions.values():
            session.lift_black_hole()

    @property
    def black_holed(self) -> bool:
        """Whether the server puts its sessions in a black hole."""
        return self._run_state.black_hole

    def refuse_logins(self, count: int = 1) -> None:
        """Refuse the next ``count`` logins whatever their credentials, as a wrong secret is
        refused (``Authentication failed``, then the connection closes); accept again after
        them. ``refuse_logins(0)`` accepts again at once. A scripted ``Login`` handler is not
        affected."""
        if count < 0:
            raise ValueError(f"refuse_logins: count must be 0 or more, not {count}")
        self._run_state.login_refusals = count

    def consume_login_refusal(self) -> bool:
        """Whether the login being answered is to be refused (one refusal fewer if so)."""
        state = self._run_state
        if state.login_refusals <= 0:
            return False
        state.login_refusals -= 1
        self._counts["logins refused"] += 1
        return True
