"""A fake Asterisk Manager Interface server for tests, on trio.

:class:`FakeAMIServer` speaks AMI the way Asterisk 22 (AMI 11) or Asterisk 13 (AMI 2.x) does, as
recorded from real servers: the banner, plain and MD5 logins, ``Permission denied`` before login,
event masks and filters, ``Goodbye`` on ``Logoff``, and the built-in actions of
:mod:`~trio_ami.testing._actions` on a :class:`~trio_ami.testing.PBX` model. Replies can be
scripted per action, faults injected per server or per session, and a
:class:`~trio_ami.testing.PBXSimulator` attached to generate call traffic.

Every session runs a reader (actions are handled one at a time, in order, like Asterisk does) and
its own writer fed by a bounded queue, so a client that reads slowly never holds up the others:
when its queue overflows it is disconnected, as Asterisk drops a client it cannot write to.
"""

from __future__ import annotations

import inspect
import random
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Generic, TypeAlias, TypeVar

import attrs
import trio

from ..sansio import Message
from ._actions import BUILTINS, ActionContext, UserCodeError, default_commands
from ._captures import Replayer, ReplayScript, load_capture
from ._faults import Listening, RunState, ServerFaults
from ._pbx import PBX, SimChannel, default_configs
from ._session import FakeSession, ListCut
from ._settings import HandlerErrors, ServerSettings
from ._simulator import PBXSimulator
from ._wire import HandlerResult, action_name, input_error, make_event

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup

__all__ = ["FakeAMIServer", "Handler", "ServerStatistics"]

#: An action handler: called with the session and the action, returns replies (or an
#: awaitable of them). It may also send on its own with :meth:`FakeSession.send`.
Handler: TypeAlias = Callable[[FakeSession, Message], HandlerResult | Awaitable[HandlerResult]]
_T = TypeVar("_T")
# What statistics() counts; sessions report the second and third.
_COUNTERS = "connections|overflow|write timeout|pushed|delivered|restarts|logins refused"


class _Setting(Generic[_T]):
    """A server attribute that reads and changes one setting: ``server.write_delay = 0.01``
    is ``server.configure(write_delay=0.01)``."""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._name = name

    def __get__(self, server: FakeAMIServer, owner: type[Any] | None = None) -> _T:
        value: _T = server.settings.value(self._name)
        return value

    def __set__(self, server: FakeAMIServer, value: _T) -> None:
        server.configure(**{self._name: value})


@attrs.frozen
class ServerStatistics:
    """Counters of a :class:`FakeAMIServer`, as :meth:`FakeAMIServer.statistics` gives them."""

    #: Sessions accepted so far, and live now.
    connections: int
    sessions: int
    #: Sessions disconnected because their output queue overflowed.
    overflow_disconnects: int
    #: Sessions disconnected because a write took longer than ``write_timeout``.
    write_timeouts: int
    #: Events pushed so far, and deliveries to sessions.
    events_pushed: int
    events_delivered: int
    #: Restarts so far (:meth:`FakeAMIServer.restart`), and logins refused by
    #: :meth:`FakeAMIServer.refuse_logins`.
    restarts: int
    logins_refused: int


class FakeAMIServer(ServerFaults):
    """A scriptable fake Asterisk Manager Interface server.

    ::

        server = FakeAMIServer(users={"admin": "secret"})
        async with server.listen_tcp() as (host, port):
            ...  # connect a client to host:port

    or serve any trio stream, e.g. one end of :func:`trio.testing.memory_stream_pair`, with
    :meth:`serve_stream`. The keyword arguments are :attr:`settings` (see
    :class:`~trio_ami.testing.ServerSettings`); change them later with
    :meth:`configure`. ``seed`` makes the server's own randomness (MD5 challenges)
    reproducible.

    The PBX it plays is :attr:`pbx`: CLI ``commands``, ``configs`` for ``GetConfig``,
    ``global_vars``, ``hints``, ``sip_peers``... :meth:`set_handler` / :meth:`set_reply`
    override or add actions. A handler that raises is answered ``Response: Error``, and with
    ``handler_errors="raise"`` (the default) its exception is raised again when the server
    stops (the end of :meth:`listen_tcp`, or of :meth:`serve_stream` outside it), so a test
    cannot pass because of a broken handler; ``handler_errors="respond"`` only answers.

    Faults: :meth:`stall`, :meth:`close_mid_packet`, :meth:`close_mid_list` (on every
    session), ``write_delay`` / ``write_chunk_size`` (slow output), ``write_timeout`` (drop a
    client that does not read), ``drop_after_login``, ``auth_failure_delay``, ``banner``,
    :meth:`disconnect_all`, and for reconnecting clients :meth:`restart`, :meth:`black_hole`
    and :meth:`refuse_logins`; per session :class:`FakeSession` methods. :meth:`replay` serves
    a recorded capture instead.

    Events: :meth:`push_event` (synchronous) queues an event to every logged-in session whose
    event mask and filters let it through; a session whose queue (``session_queue_size``
    packets) is full is disconnected, as Asterisk drops a client it cannot write to.
    :meth:`push_event_async` waits for room instead.

    Everything runs in the caller's trio run; all methods that are not ``async`` are meant to be
    called from trio code too (tasks of the same run).
    """

    # Slots: assigning a name the server does not have fails instead of doing nothing.
    __slots__ = (
        "__weakref__",
        "_close_mid",
        "_counts",
        "_handlers",
        "_list_cuts",
        "_listenings",
        "_next_session_id",
        "_nurseries",
        "_replay",
        "_rng",
        "_run_state",
        "_sessions",
        "_settings",
        "_simulator",
        "_stalled",
        "_unraised",
        "handler_exceptions",
        "pbx",
        "received",
    )

    #: Shorthands for the settings tests change most (see :meth:`configure`).
    banner = _Setting[bytes | None]()
    drop_after_login = _Setting[bool]()
    originate_outcome = _Setting[Callable[[Message], str] | None]()
    write_delay = _Setting[float]()
    write_chunk_size = _Setting[int | None]()

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        ami_version: str = "11.0.0",
        legacy_command: bool | None = None,
        encoding: str = "utf-8",
        simulator: PBXSimulator | None = None,
        asterisk_version: str | None = None,
        session_queue_size: int = 10_000,
        write_timeout: float | None = None,
        write_delay: float = 0.0,
        write_chunk_size: int | None = None,
        auth_failure_delay: float = 0.0,
        drop_after_login: bool = False,
        successful_auth_events: bool = True,
        originate_delay: float = 0.0,
        originate_outcome: Callable[[Message], str] | None = None,
        banner: bytes | None = None,
        handler_errors: HandlerErrors = "raise",
        seed: int | None = None,
    ) -> None:
        self._settings = ServerSettings.build(
            users={"admin": "secret"} if users is None else users,
            ami_version=ami_version,
            legacy_command=legacy_command,
            encoding=encoding,
            asterisk_version=asterisk_version,
            session_queue_size=session_queue_size,
            write_timeout=write_timeout,
            write_delay=write_delay,
            write_chunk_size=write_chunk_size,
            auth_failure_delay=auth_failure_delay,
            drop_after_login=drop_after_login,
            successful_auth_events=successful_auth_events,
            originate_delay=originate_delay,
            originate_outcome=originate_outcome,
            banner=banner,
            handler_errors=handler_errors,
        )
        #: The PBX this server plays: channels, variables, configs, commands, peers...
        self.pbx = PBX()
        self.pbx.commands.update(default_commands(self))
        self.pbx.configs.update(default_configs(self._settings.login.users))
        self.pbx.add_listener(self.push_event)
        #: Every action received by any session, in order.
        self.received: list[Message] = []
        #: Exceptions raised by handlers given to :meth:`set_handler` (and by hooks such as
        #: ``originate_outcome``), in order.
        self.handler_exceptions: list[Exception] = []
        self._unraised: list[Exception] = []
        self._rng = random.Random(seed)
        self._handlers: dict[str, tuple[str, Handler]] = {}
        self._stalled: set[str] = set()
        self._close_mid: set[str] = set()
        self._list_cuts: list[ListCut] = []
        self._run_state = RunState()
        self._sessions: dict[int, FakeSession] = {}
        self._next_session_id = 1
        self._nurseries: list[trio.Nursery] = []
        self._listenings: list[Listening] = []
        self._replay: ReplayScript | None = None
        self._simulator: PBXSimulator | None = None
        self._counts = dict.fromkeys(_COUNTERS.split("|"), 0)
        if simulator is not None:
            self.attach(simulator)

    # -- settings -------------------------------------------------------------------------------
    @property
    def settings(self) -> ServerSettings:
        """Every setting, grouped and frozen (change them with :meth:`configure`)."""
        return self._settings

    def configure(self, **changes: Any) -> None:
        """Change settings by name: ``server.configure(write_delay=0.01, banner=b"...")``."""
        self._settings = self._settings.evolve(**changes)

    @property
    def commands(self) -> dict[str, str | Callable[[], str]]:
        """CLI commands and their output (the model's, see :attr:`pbx`)."""
        return self.pbx.commands

    @property
    def configs(self) -> dict[str, dict[str, list[str]]]:
        """Configuration files for ``GetConfig`` (the model's)."""
        return self.pbx.configs

    @property
    def hints(self) -> dict[str, str]:
        """Hints for ``ExtensionState`` (the model's)."""
        return self.pbx.hints

    @property
    def sip_peers(self) -> list[dict[str, str]]:
        """``SIPpeers`` entries (the model's)."""
        return self.pbx.sip_peers

    @property
    def simulator(self) -> PBXSimulator | None:
        """The attached :class:`PBXSimulator`, if any."""
        return self._simulator

    def attach(self, simulator: PBXSimulator) -> None:
        """Attach a simulator: its calls run in :attr:`pbx`, so their events go to the
        sessions and their channels to the actions."""
        simulator.use_pbx(self.pbx)
        self._simulator = simulator

    # -- scripting ------------------------------------------------------------------------------
    def set_handler(self, action_name: str, handler: Handler | None) -> None:
        """Handle ``action_name`` with ``handler`` (overrides a built-in); ``None`` removes it."""
        if handler is None:
            self._handlers.pop(action_name.lower(), None)
        else:
            self._handlers[action_name.lower()] = (action_name, handler)

    def set_reply(self, action_name: str, reply: HandlerResult) -> None:
        """Answer ``action_name`` with a canned reply (the action's ActionID is added)."""

        def canned(session: FakeSession, action: Message) -> HandlerResult:
            return reply

        self.set_handler(action_name, canned)

    @classmethod
    def replay(cls, raw: bytes, *, paced: bool = False, **kwargs: Any) -> FakeAMIServer:
        """A server whose every session writes the recorded ``raw`` capture.

        ``raw`` is everything a server sent (banner first), e.g. a ``.raw`` capture. Unpaced,
        the whole capture is written at once and the connection closed. ``paced=True`` writes
        the banner, then for each action the client sends the next recorded response (with the
        events that followed it), replacing each recorded ActionID by the client's; the
        connection closes once the recording is exhausted or the client closes.
        """
        server = cls(**kwargs)
        server.replay_script(ReplayScript.from_raw(raw, paced=paced))
        return server

    def replay_capture(self, path: str | Path, *, paced: bool = False) -> None:
        """Switch this server to replaying the capture in ``path`` (see :meth:`replay`)."""
        self.replay_script(ReplayScript.from_raw(load_capture(path).raw, paced=paced))

    def replay_script(self, script: ReplayScript | None) -> None:
        """Serve ``script`` to every new session (``None``: answer actions again)."""
        self._replay = script

    # -- state ----------------------------------------------------------------------------------
    @property
    def sessions(self) -> list[FakeSession]:
        """The live sessions, in order of connection."""
        return [s for s in self._sessions.values() if not s.closed]

    def statistics(self) -> ServerStatistics:
        """The server's counters, now."""
        counts = self._counts
        return ServerStatistics(
            connections=counts["connections"],
            sessions=len(self.sessions),
            overflow_disconnects=counts["overflow"],
            write_timeouts=counts["write timeout"],
            events_pushed=counts["pushed"],
            events_delivered=counts["delivered"],
            restarts=counts["restarts"],
            logins_refused=counts["logins refused"],
        )

    def uptime(self) -> int:
        """Seconds since the server was created."""
        return int(time.monotonic() - self._run_state.started)

    def new_challenge(self) -> str:
        """A fresh MD5 challenge: random digits, as ``ast_random()`` gives."""
        return str(self._rng.randrange(1, 2**31))

    def action_names(self) -> list[str]:
        """The actions this server answers: the built-in ones and those of handlers."""
        names = {name.lower(): name for name in BUILTINS.names()}
        names.update({key: name for key, (name, _) in self._handlers.items()})
        return list(names.values())

    def live_channels(self) -> list[SimChannel]:
        """The model's live channels (see :attr:`pbx`)."""
        return self.pbx.live_channels()

    def find_channel(self, name: str) -> SimChannel | None:
        """A live channel by name or uniqueid (case-insensitive), or ``None``."""
        return self.pbx.find_channel(name)

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` is true; it is re-checked whenever the server's state
        changes (a session connects, logs in or closes, an action arrives, a restart stops or
        starts listening)."""
        while not predicate():
            await self._run_state.changed.wait()

    async def wait_for_sessions(self, count: int = 1, *, logged_in: bool = True) -> None:
        """Wait until at least ``count`` live sessions (logged in, by default) exist."""
        await self.wait_until(
            lambda: sum(1 for s in self.sessions if s.logged_in or not logged_in) >= count
        )

    async def wait_for_action(self, action_name: str, count: int = 1) -> Message:
        """Wait until ``action_name`` was received ``count`` times; return the last of those."""
        folded = action_name.lower()

        def matching() -> list[Message]:
            return [m for m in self.received if (m.get("Action") or "").lower() == folded]

        await self.wait_until(lambda: len(matching()) >= count)
        return matching()[count - 1]

    # -- events ---------------------------------------------------------------------------------
    def push_event(
        self,
        event: str | Message,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        *,
        privilege: str | None = None,
    ) -> int:
        """Send an event to every logged-in session whose event mask and filters allow it.

        ``event`` is an event name with ``headers`` (a mapping or pairs), or a whole
        :class:`~trio_ami.sansio.Event`. Its class comes from its ``Privilege`` header (or
        ``privilege``, e.g. ``"call"``); for a name given with headers but no ``Privilege``,
        the usual class of well-known events is used and the header added as Asterisk writes
        it (``Privilege: call,all``). An event of no known class reaches every session whose
        events are on. Returns the number of sessions it was queued to.
        """
        out = make_event(event, headers, privilege, self._settings.flavour.encoding)
        delivered = sum(1 for session in tuple(self._sessions.values()) if session.deliver(out))
        self._counts["pushed"] += 1
        self._counts["delivered"] += delivered
        return delivered

    async def push_event_async(
        self,
        event: str | Message,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        *,
        privilege: str | None = None,
    ) -> int:
        """Like :meth:`push_event`, but wait for room in a full session queue instead of
        disconnecting that session: backpressure, for producers that must not lose events
        (benchmarks, bulk loads). Sessions are served in turn, so one that does not read holds
        up the others. Only checks for cancellation when no queue was full."""
        out = make_event(event, headers, privilege, self._settings.flavour.encoding)
        delivered = 0
        for session in tuple(self._sessions.values()):
            delivered += await session.deliver_waiting(out)
        await trio.lowlevel.checkpoint_if_cancelled()
        self._counts["pushed"] += 1
        self._counts["delivered"] += delivered
        return delivered

    # -- serving --------------------------------------------------------------------------------
    @asynccontextmanager
    async def listen_tcp(
        self, host: str = "127.0.0.1", port: int = 0
    ) -> AsyncIterator[tuple[str, int]]:
        """Listen on ``host:port`` (port 0: any free port) while the block runs.

        Yields the ``(host, port)`` actually bound (the same after a :meth:`restart`). Every
        session and background task (async ``Originate`` outcomes...) runs in this block's
        nursery; on exit all sessions are closed and nothing is left running. An exception
        from the block propagates as is; else a handler's exception
        (``handler_errors="raise"``) is raised here.
        """
        listening = Listening(await trio.open_tcp_listeners(port, host=host), self._serve)
        body_error: BaseException | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._nurseries.append(nursery)
                self._listenings.append(listening)
                listening.start(nursery)
                try:
                    yield listening.host, listening.port
                except BaseException as exc:
                    body_error = exc
                finally:
                    self._listenings.remove(listening)
                    self._nurseries.remove(nursery)
                    nursery.cancel_scope.cancel()
        finally:
            await listening.aclose()
        if body_error is not None:
            self._note_handler_errors(body_error)
            raise body_error
        self._raise_handler_errors()

    async def serve_stream(self, stream: trio.abc.Stream) -> None:
        """Serve one client on ``stream`` until it disconnects or is disconnected.

        The stream is closed on return. Use it with any trio stream, e.g. one end of
        :func:`trio.testing.memory_stream_pair`, to test without sockets. A handler's exception
        (``handler_errors="raise"``) is raised here once the session is over.
        """
        await self._serve(stream)
        self._raise_handler_errors()

    async def _serve(self, stream: trio.abc.Stream) -> None:
        session = FakeSession(
            stream,
            self._next_session_id,
            encoding=self._settings.flavour.encoding,
            output=lambda: self._settings.output,
            report=self._session_report,
        )
        self._next_session_id += 1
        self._sessions[session.id] = session
        self._counts["connections"] += 1
        if self._run_state.black_hole:
            session.black_hole()
        self._notify()
        try:
            await session.run(self._serve_replay if self._replay else self._serve_actions)
        finally:
            try:
                await session.wait_reachable()  # a dead link carries no close either
            finally:
                del self._sessions[session.id]
                self._notify()
                await trio.aclose_forcefully(stream)

    def spawn(self, session: FakeSession | None, async_fn: Callable[[], Awaitable[object]]) -> None:
        """Run ``async_fn`` in the background: in the listening nursery when there is one,
        else in ``session``'s own nursery (it then ends with the session)."""
        nursery = self._background_nursery(session)
        if nursery is None:
            raise RuntimeError("no nursery to run a background task in")
        nursery.start_soon(async_fn)

    def _background_nursery(self, session: FakeSession | None) -> trio.Nursery | None:
        if self._nurseries:
            return self._nurseries[-1]
        return None if session is None else session.nursery

    def _session_report(self, what: str) -> None:
        if what in self._counts:
            self._counts[what] += 1
        self._notify()

    def _record(self, action: Message) -> None:
        self.received.append(action)
        self._notify()

    async def _serve_actions(self, session: FakeSession) -> None:
        session.send_raw(self._settings.flavour.banner_bytes())
        while (action := await session.receive_action()) is not None:
            self._record(action)
            await self._handle(session, action)

    async def _serve_replay(self, session: FakeSession) -> None:
        script = self._replay
        assert script is not None
        session.send_raw(script.banner)
        if not script.paced:
            for group in script.groups:
                session.send_raw(group)
            return
        replayer = Replayer(script, self._settings.flavour.encoding)
        while not replayer.exhausted and (action := await session.receive_action()) is not None:
            self._record(action)
            session.send_raw(replayer.answer(action))

    async def _handle(self, session: FakeSession, action: Message) -> None:
        error = input_error(action, self._settings.flavour.encoding)
        if error is not None:
            session.send_error(action, error)
            return
        name = action_name(action)
        if not name:
            session.send_error(action, "Missing action in request")
            return
        key = name.lower()
        if self.stalls(key) or session.stalls(key):
            return
        if not session.logged_in and not BUILTINS.allowed_before_login(key):
            session.send_error(action, "Permission denied")
            return
        truncate = self.closes_mid_packet(key) or session.closes_mid_packet(key)
        list_cut = self.pending_list_cut() or session.pending_list_cut()
        with session.answering(action, truncate=truncate, list_cut=list_cut):
            scripted = self._handlers.get(key)
            if scripted is not None:
                await self._run_handler(scripted[1], session, action)
                return
            builtin = BUILTINS.get(key)
            if builtin is None:
                session.send_error(
                    action,
                    f"Invalid/unknown command: {name}. "
                    "Use Action: ListCommands to show available commands.",
                )
                return
            context = ActionContext(self, session, action, self._background_nursery(session))
            try:
                waiting = builtin.handler(context)
                if waiting is not None:
                    await waiting
            except UserCodeError as exc:
                self._handler_failed(session, action, exc.error)

    async def _run_handler(self, handler: Handler, session: FakeSession, action: Message) -> None:
        try:
            result = handler(session, action)
            if inspect.isawaitable(result):
                result = await result
            session.send(result, action)
        except Exception as exc:
            self._handler_failed(session, action, exc)

    def _handler_failed(self, session: FakeSession, action: Message, exc: Exception) -> None:
        self.handler_exceptions.append(exc)
        if self._settings.handler_errors == "raise":
            self._unraised.append(exc)
        session.send_error(action, f"Internal error in the test handler: {exc!r}")

    def _note_handler_errors(self, error: BaseException) -> None:
        """Tell, on the block's own error, what handlers raised meanwhile (not raised again)."""
        errors, self._unraised = self._unraised, []
        if sys.version_info >= (3, 11) and isinstance(error, Exception):
            for exc in errors:
                error.add_note(f"meanwhile a FakeAMIServer handler raised {exc!r}")

    def _raise_handler_errors(self) -> None:
        errors, self._unraised = self._unraised, []
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ExceptionGroup(f"{len(errors)} FakeAMIServer handlers raised", errors)
