"""A fake Asterisk Manager Interface server for tests, on trio.

:class:`FakeAMIServer` speaks AMI the way Asterisk 22 (AMI 11) or Asterisk 13 (AMI 2.x) does, as
recorded from real servers: the banner, plain and MD5 logins, ``Permission denied`` before login,
event masks and filters, ``Goodbye`` on ``Logoff``, and a set of realistic built-in actions.
Replies can be scripted per action, faults injected per server or per session, and a
:class:`~trio_ami.testing.PBXSimulator` can be attached to generate call traffic.

Every session runs a reader (actions are handled one at a time, in order, like Asterisk does) and
its own writer fed by a bounded queue, so a client that reads slowly never holds up the others:
when its queue overflows it is disconnected, as Asterisk drops a client it cannot write to.
"""

from __future__ import annotations

import contextlib
import inspect
import random
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import trio

from ..sansio import Message, RemoteProtocolError, md5_key
from . import _builtins
from ._captures import Replayer, ReplayScript, load_capture
from ._filters import EventFilter, should_send
from ._wire import (
    ALL_CLASSES,
    HandlerResult,
    OutEvent,
    Reply,
    action_name,
    action_parser,
    class_names,
    encode_replies,
    input_error,
    make_event,
    version_info,
)

if TYPE_CHECKING:
    from ._simulator import PBXSimulator, SimChannel

__all__ = [
    "FakeAMIServer",
    "FakeSession",
    "Handler",
    "HandlerResult",
    "Reply",
]

#: An action handler: called with the session and the action, returns replies (or an
#: awaitable of them). It may also send on its own with :meth:`FakeSession.send`.
Handler: TypeAlias = Callable[["FakeSession", Message], HandlerResult | Awaitable[HandlerResult]]

_UNAUTHENTICATED_ACTIONS = frozenset({"login", "logoff", "challenge"})
_WRITE_BATCH = 64 * 1024
_DEFAULT_ASTERISK_VERSION = {2: "13.38.3"}


class FakeSession:
    """One client connection to a :class:`FakeAMIServer`.

    Tests read its state (``logged_in``, ``username``, ``event_mask``, ``filters``,
    ``received``) and inject faults: :meth:`close` (abrupt disconnect), :meth:`send_raw` (any
    bytes, e.g. garbage or half a packet), :meth:`stall` / :meth:`close_mid_packet` for this
    session only, and ``write_delay`` / ``write_chunk_size`` to make this session's writes slow.
    """

    def __init__(self, server: FakeAMIServer, stream: trio.abc.Stream, session_id: int) -> None:
        self.server = server
        #: The stream the session talks over.
        self.stream = stream
        #: A number unique within the server, in order of connection.
        self.id = session_id
        #: True once a Login succeeded.
        self.logged_in = False
        #: The user that logged in.
        self.username: str | None = None
        #: The event classes this session receives, as bits (see :attr:`event_classes`).
        self.event_mask = ALL_CLASSES
        #: Every action this session sent, in order (including those refused or stalled).
        self.received: list[Message] = []
        #: True once the session is over or being torn down.
        self.closed = False
        #: True if the session was disconnected because its output queue overflowed.
        self.overflowed = False
        #: Per-session overrides of the server's ``write_delay`` / ``write_chunk_size``.
        self.write_delay: float | None = None
        self.write_chunk_size: int | None = None
        #: Bytes written to the client so far.
        self.bytes_sent = 0
        #: Events queued to this session so far.
        self.events_sent = 0
        self.challenge: str | None = None
        self._filters: list[EventFilter] = []
        self._stalled: set[str] = set()
        self._close_mid: set[str] = set()
        self._send_channel, self._receive_channel = trio.open_memory_channel[bytes](
            server.session_queue_size
        )
        self._closing = False
        self._cancel_scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._current: Message | None = None
        self._truncate_current = False
        self.local_address, self.remote_address = self._addresses(stream)

    # -- state ----------------------------------------------------------------------------------
    @property
    def filters(self) -> list[str]:
        """The event filters added with the ``Filter`` action, as given (``!`` = exclude)."""
        return [f.text for f in self._filters]

    @property
    def event_filters(self) -> list[EventFilter]:
        """The compiled event filters of this session."""
        return list(self._filters)

    @property
    def event_classes(self) -> frozenset[str]:
        """The names of the event classes this session receives (empty: events off)."""
        return class_names(self.event_mask)

    @property
    def queued(self) -> int:
        """Packets (or batches) waiting in this session's output queue."""
        return self._send_channel.statistics().current_buffer_used

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("logged in" if self.logged_in else "connected")
        return f"<FakeSession #{self.id} {self.username or '-'} {state}>"

    # -- output ---------------------------------------------------------------------------------
    def send(self, reply: HandlerResult, action: Message | None = None) -> None:
        """Queue replies to the client (see :data:`Reply`), adding ``action``'s ActionID.

        Sent in order after everything queued before. Does nothing once the session closes.
        """
        action_id = None
        if action is not None:
            action_id = action.get("ActionID") or None
        for data in self.server._encode_replies(reply, action_id):
            if self._truncate_current and action is not None and action is self._current:
                self._truncate_current = False
                self._enqueue(data[: max(1, len(data) // 2)])
                self._finish()
                return
            self._enqueue(data)

    def send_raw(self, data: bytes) -> None:
        """Queue raw bytes (anything: garbage, half a packet, a second banner...)."""
        self._enqueue(bytes(data))

    def send_event(
        self,
        event: str | Message,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        *,
        privilege: str | None = None,
    ) -> bool:
        """Send an event to this session only, if its event mask and filters let it through."""
        out = self.server._make_event(event, headers, privilege)
        return self._deliver(out)

    def send_error(self, action: Message | None, message: str) -> None:
        """Queue ``Response: Error`` with ``Message: <message>`` answering ``action``."""
        self.send([("Response", "Error"), ("Message", message)], action)

    def send_ack(self, action: Message | None, message: str | None = None) -> None:
        """Queue ``Response: Success`` (with ``Message: <message>`` if given)."""
        pairs = [("Response", "Success")]
        if message is not None:
            pairs.append(("Message", message))
        self.send(pairs, action)

    # -- faults ---------------------------------------------------------------------------------
    def close(self, *, reset: bool = False) -> None:
        """Disconnect now, dropping queued output (``reset=True``: TCP RST where possible)."""
        if self.closed:
            return
        self.closed = True
        self._send_channel.close()
        if reset:
            sock = getattr(self.stream, "socket", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()
        self.server._notify()

    def stall(self, action_name: str) -> None:
        """Never answer ``action_name`` on this session."""
        self._stalled.add(action_name.lower())

    def unstall(self, action_name: str) -> None:
        """Answer ``action_name`` again on this session."""
        self._stalled.discard(action_name.lower())

    def close_mid_packet(self, action_name: str) -> None:
        """On this session, answer ``action_name`` with half a response, then disconnect."""
        self._close_mid.add(action_name.lower())

    # -- internals ------------------------------------------------------------------------------
    @staticmethod
    def _addresses(stream: trio.abc.Stream) -> tuple[str, str]:
        sock = getattr(stream, "socket", None)
        local, remote = ("127.0.0.1", 5038), ("127.0.0.1", 0)
        if sock is not None:
            with contextlib.suppress(OSError):
                local, remote = sock.getsockname()[:2], sock.getpeername()[:2]
        family = "IPV6" if ":" in str(local[0]) else "IPV4"
        return (
            f"{family}/TCP/{local[0]}/{local[1]}",
            f"{family}/TCP/{remote[0]}/{remote[1]}",
        )

    def _enqueue(self, data: bytes) -> bool:
        if self.closed or self._closing:
            return False
        try:
            self._send_channel.send_nowait(data)
        except trio.WouldBlock:
            self.overflowed = True
            self.server.overflow_disconnects += 1
            self.close()
            return False
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        return True

    def _wants(self, event: OutEvent) -> bool:
        if not self.logged_in or self.closed or self._closing:
            return False
        mask = self.event_mask
        if not mask or (mask & event.category) != event.category:
            return False
        return not self._filters or should_send(self._filters, event.name, event.eventdata())

    def _deliver(self, event: OutEvent) -> bool:
        if self._wants(event) and self._enqueue(event.data):
            self.events_sent += 1
            return True
        return False

    def _finish(self) -> None:
        """Close gracefully: what is queued is written, then the connection closes."""
        if not self._closing:
            self._closing = True
            self._send_channel.close()

    async def _write_loop(self) -> None:
        receive = self._receive_channel
        try:
            while True:
                try:
                    data = await receive.receive()
                except trio.EndOfChannel:
                    break
                parts = [data]
                size = len(data)
                while size < _WRITE_BATCH:
                    try:
                        data = receive.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    parts.append(data)
                    size += len(data)
                await self._write(parts[0] if len(parts) == 1 else b"".join(parts))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self.closed = True
            if self._cancel_scope is not None:
                self._cancel_scope.cancel()

    async def _write(self, data: bytes) -> None:
        server = self.server
        chunk = self.write_chunk_size
        if chunk is None:
            chunk = server.write_chunk_size
        delay = self.write_delay if self.write_delay is not None else server.write_delay
        if chunk and chunk > 0 and len(data) > chunk:
            pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        else:
            pieces = [data]
        for piece in pieces:
            if delay:
                await trio.sleep(delay)
            if server.write_timeout is None:
                await self.stream.send_all(piece)
            else:
                with trio.move_on_after(server.write_timeout) as scope:
                    await self.stream.send_all(piece)
                if scope.cancelled_caught:
                    server.write_timeouts += 1
                    raise trio.BrokenResourceError("write timeout")
            self.bytes_sent += len(piece)

    async def _read_loop(self) -> None:
        server = self.server
        parser = action_parser(server.encoding)
        while not self._closing and not self.closed:
            try:
                data = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            parser.receive_data(data)
            while True:
                try:
                    message = parser.next_message()
                except RemoteProtocolError:
                    return  # garbage beyond the limits: Asterisk would drop the client too
                if message is None:
                    break
                await self._process(message)
                if self._closing or self.closed:
                    return
            if not data:
                return

    async def _process(self, action: Message) -> None:
        server = self.server
        self.received.append(action)
        server.received.append(action)
        server._notify()
        error = input_error(action, server.encoding)
        if error is not None:
            self.send_error(action, error)
            return
        name = action_name(action)
        if not name:
            self.send_error(action, "Missing action in request")
            return
        key = name.lower()
        if key in server._stalled or key in self._stalled:
            return
        if not self.logged_in and key not in _UNAUTHENTICATED_ACTIONS:
            self.send_error(action, "Permission denied")
            return
        self._current = action
        self._truncate_current = key in server._close_mid or key in self._close_mid
        try:
            handler = server._handlers.get(key)
            if handler is not None:
                await self._run_handler(handler, action)
                return
            builtin = _builtins.BUILTINS.get(key)
            if builtin is not None:
                await builtin(self, action)
                return
            self.send_error(
                action,
                f"Invalid/unknown command: {name}. "
                "Use Action: ListCommands to show available commands.",
            )
        finally:
            self._current = None
            self._truncate_current = False

    async def _run_handler(self, handler: Handler, action: Message) -> None:
        try:
            result = handler(self, action)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            self.server.handler_errors.append(exc)
            self.send_error(action, f"Internal error in the test handler: {exc!r}")
            return
        self.send(result, action)

    async def _replay_loop(self, script: ReplayScript) -> None:
        if not script.paced:
            for group in script.groups:
                self._enqueue(group)
            self._finish()
            return
        replayer = Replayer(script, self.server.encoding)
        parser = action_parser(self.server.encoding)
        while not replayer.exhausted and not self.closed:
            try:
                data = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            parser.receive_data(data)
            while not replayer.exhausted:
                try:
                    action = parser.next_message()
                except RemoteProtocolError:
                    return
                if action is None:
                    break
                self.received.append(action)
                self.server.received.append(action)
                self.server._notify()
                self._enqueue(replayer.answer(action))
            if not data:
                break
        self._finish()


class FakeAMIServer:
    """A scriptable fake Asterisk Manager Interface server.

    ::

        server = FakeAMIServer(users={"admin": "secret"})
        async with server.listen_tcp() as (host, port):
            ...  # connect a client to host:port

    or serve any trio stream, e.g. one end of :func:`trio.testing.memory_stream_pair`, with
    :meth:`serve_stream`. ``ami_version`` sets the banner; below 3 (Asterisk 13 and older)
    ``Command`` answers in the legacy ``Response: Follows`` format unless ``legacy_command``
    says otherwise, and ``FullyBooted`` carries no uptime, as those versions do.

    Scripting: :meth:`set_handler` / :meth:`set_reply` override or add actions; ``commands``
    maps CLI commands to their output; ``configs`` holds the files ``GetConfig`` reads;
    ``global_vars``, ``hints``, ``sip_peers``, ``iax_peers`` and ``pjsip_endpoints`` feed the
    other built-ins; ``originate_outcome`` decides how originated calls end.

    Faults: :meth:`stall`, :meth:`close_mid_packet`, ``write_delay`` / ``write_chunk_size``
    (slow output), ``write_timeout`` (drop a client that does not read), ``drop_after_login``,
    ``auth_failure_delay``, ``banner``, :meth:`disconnect_all`, and per session
    :class:`FakeSession` methods. :meth:`replay` serves a recorded capture instead.

    ``seed`` makes the server's own randomness (MD5 challenges) reproducible.

    Events: :meth:`push_event` (synchronous) queues an event to every logged-in session whose
    event mask and filters let it through; a session whose queue (``session_queue_size``
    packets) is full is disconnected, as Asterisk drops a client it cannot write to, and
    counted in ``overflow_disconnects``. :meth:`push_event_async` waits for room instead.

    Everything runs in the caller's trio run; all methods that are not ``async`` are meant to be
    called from trio code too (tasks of the same run).
    """

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
        auth_failure_delay: float = 0.0,
        originate_delay: float = 0.0,
        successful_auth_events: bool = True,
        banner: bytes | None = None,
        seed: int | None = None,
    ) -> None:
        "".encode(encoding)  # fail now on an unknown encoding
        if session_queue_size < 1:
            raise ValueError("session_queue_size must be positive")
        #: ``username -> secret``.
        self.users: dict[str, str] = dict(users if users is not None else {"admin": "secret"})
        self.ami_version = ami_version
        self._legacy_command = legacy_command
        self.encoding = encoding
        major = version_info(ami_version)[:1] or (11,)
        #: The Asterisk version ``core show version`` reports.
        self.asterisk_version = asterisk_version or _DEFAULT_ASTERISK_VERSION.get(
            major[0], "22.10.1"
        )
        #: Capacity of each session's output queue (packets); overflowing it disconnects.
        self.session_queue_size = session_queue_size
        #: Disconnect a client when one write to it takes longer than this (seconds).
        self.write_timeout = write_timeout
        #: Seconds to wait before answering a failed login (Asterisk waits 1 s).
        self.auth_failure_delay = auth_failure_delay
        #: Seconds between an ``Originate`` and its outcome when no simulator is attached.
        self.originate_delay = originate_delay
        #: Whether a login raises a ``SuccessfulAuth`` security event, as Asterisk does.
        self.successful_auth_events = successful_auth_events
        #: Bytes sent instead of the banner line (e.g. to test a client against a bad banner).
        self.banner = banner
        #: Sleep this long before each write (seconds); with ``write_chunk_size``, per chunk.
        self.write_delay = 0.0
        #: Split each write into chunks of at most this many bytes.
        self.write_chunk_size: int | None = None
        #: Close every session right after its successful login response.
        self.drop_after_login = False
        #: ``callable(action) -> "Success" | "Failure" | "Busy" | "NoAnswer" | "Congestion"``
        #: deciding how an ``Originate`` ends; by default it succeeds unless the channel's
        #: destination starts with ``999`` (an extension that does not exist).
        self.originate_outcome: Callable[[Message], str] | None = None
        #: CLI commands (lower-case, single spaces) and their output, text or a callable.
        self.commands: dict[str, str | Callable[[], str]] = _builtins.default_commands(self)
        #: Configuration files for ``GetConfig``: ``filename -> {category: ["key=value", ...]}``.
        self.configs: dict[str, dict[str, list[str]]] = _builtins.default_configs(self)
        #: Global dialplan variables (``Setvar``/``Getvar`` without ``Channel``).
        self.global_vars: dict[str, str] = {}
        #: Hints for ``ExtensionState``: ``"exten@context" -> "PJSIP/100"``.
        self.hints: dict[str, str] = {}
        #: ``SIPpeers`` entries (each the headers of a ``PeerEntry`` after its ActionID).
        self.sip_peers: list[dict[str, str]] = _builtins.default_sip_peers()
        #: ``IAXpeerlist`` entries (each the headers of a ``PeerEntry`` after its ActionID).
        self.iax_peers: list[dict[str, str]] = _builtins.default_iax_peers()
        #: Endpoints ``PJSIPShowEndpoints`` lists; ``None``: the simulator's, or 100-102.
        self.pjsip_endpoints: list[str] | None = None
        #: Every action received by any session, in order.
        self.received: list[Message] = []
        #: Exceptions raised by handlers given to :meth:`set_handler` (answered with an error).
        self.handler_errors: list[Exception] = []
        #: Sessions accepted so far.
        self.connections = 0
        #: Sessions disconnected because their output queue overflowed.
        self.overflow_disconnects = 0
        #: Sessions disconnected because a write took longer than ``write_timeout``.
        self.write_timeouts = 0
        #: Events pushed so far, and deliveries to sessions.
        self.events_pushed = 0
        self.events_delivered = 0
        self.rng = random.Random(seed)
        self._handlers: dict[str, Handler] = {}
        self._stalled: set[str] = set()
        self._close_mid: set[str] = set()
        self._sessions: dict[int, FakeSession] = {}
        self._next_session_id = 1
        self._nurseries: list[trio.Nursery] = []
        self._replay: ReplayScript | None = None
        self._changed = trio.Event()
        self._started = time.monotonic()
        self._simulator: PBXSimulator | None = None
        self._originate_seq = 0
        if simulator is not None:
            self.attach(simulator)

    # -- configuration --------------------------------------------------------------------------
    @property
    def legacy_command(self) -> bool:
        """Whether ``Command`` answers in the legacy ``Response: Follows`` format."""
        if self._legacy_command is not None:
            return self._legacy_command
        return version_info(self.ami_version)[:1] < (3,)

    @legacy_command.setter
    def legacy_command(self, value: bool | None) -> None:
        self._legacy_command = value

    @property
    def simulator(self) -> PBXSimulator | None:
        """The attached :class:`PBXSimulator`, if any."""
        return self._simulator

    def attach(self, simulator: PBXSimulator) -> None:
        """Attach a simulator: its events go to the sessions, its channels to the actions."""
        self._simulator = simulator
        simulator._bind(self)

    def set_handler(self, action_name: str, handler: Handler | None) -> None:
        """Handle ``action_name`` with ``handler`` (overrides a built-in); ``None`` removes it."""
        if handler is None:
            self._handlers.pop(action_name.lower(), None)
        else:
            self._handlers[action_name.lower()] = handler

    def set_reply(self, action_name: str, reply: HandlerResult) -> None:
        """Answer ``action_name`` with a canned reply (the action's ActionID is added)."""

        def canned(session: FakeSession, action: Message) -> HandlerResult:
            return reply

        self.set_handler(action_name, canned)

    def stall(self, action_name: str) -> None:
        """Never answer ``action_name`` (on every session)."""
        self._stalled.add(action_name.lower())

    def unstall(self, action_name: str) -> None:
        """Answer ``action_name`` again."""
        self._stalled.discard(action_name.lower())

    def close_mid_packet(self, action_name: str) -> None:
        """Answer ``action_name`` with the first half of its response, then disconnect."""
        self._close_mid.add(action_name.lower())

    @classmethod
    def replay(cls, raw: bytes, *, paced: bool = False, **kwargs: object) -> FakeAMIServer:
        """A server whose every session writes the recorded ``raw`` capture.

        ``raw`` is everything a server sent (banner first), e.g. a ``.raw`` capture. Unpaced,
        the whole capture is written at once and the connection closed. ``paced=True`` writes
        the banner, then for each action the client sends the next recorded response (with the
        events that followed it), replacing each recorded ActionID by the client's; the
        connection closes once the recording is exhausted or the client closes.
        """
        server = cls(**kwargs)  # type: ignore[arg-type]
        server._replay = ReplayScript.from_raw(raw, paced=paced)
        return server

    def replay_capture(self, path: str | Path, *, paced: bool = False) -> None:
        """Switch this server to replaying the capture in ``path`` (see :meth:`replay`)."""
        self._replay = ReplayScript.from_raw(load_capture(path).raw, paced=paced)

    # -- state ----------------------------------------------------------------------------------
    @property
    def sessions(self) -> list[FakeSession]:
        """The live sessions, in order of connection."""
        return [s for s in self._sessions.values() if not s.closed]

    def uptime(self) -> int:
        """Seconds since the server was created."""
        return int(time.monotonic() - self._started)

    def live_channels(self) -> list[SimChannel]:
        """The simulator's live channels (none without a simulator)."""
        return [] if self._simulator is None else list(self._simulator.channels.values())

    def find_channel(self, name: str) -> SimChannel | None:
        """A live channel by name or uniqueid (case-insensitive), or ``None``."""
        return None if self._simulator is None else self._simulator.find_channel(name)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` is true; it is re-checked whenever the server's state
        changes (a session connects, logs in or closes, an action arrives)."""
        while not predicate():
            await self._changed.wait()

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

    def disconnect_all(self, *, reset: bool = False) -> None:
        """Close every session abruptly."""
        for session in list(self._sessions.values()):
            session.close(reset=reset)

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
        out = self._make_event(event, headers, privilege)
        self.events_pushed += 1
        delivered = 0
        for session in tuple(self._sessions.values()):
            if session._deliver(out):
                delivered += 1
        self.events_delivered += delivered
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
        out = self._make_event(event, headers, privilege)
        self.events_pushed += 1
        delivered = 0
        waited = False
        for session in tuple(self._sessions.values()):
            if not session._wants(out):
                continue
            try:
                session._send_channel.send_nowait(out.data)
            except trio.WouldBlock:
                waited = True
                try:
                    await session._send_channel.send(out.data)
                except (trio.ClosedResourceError, trio.BrokenResourceError):
                    continue
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                continue
            session.events_sent += 1
            delivered += 1
        if not waited:
            await trio.lowlevel.checkpoint_if_cancelled()
        self.events_delivered += delivered
        return delivered

    def _make_event(
        self,
        event: str | Message,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
        privilege: str | None,
    ) -> OutEvent:
        return make_event(event, headers, privilege, self.encoding)

    def _encode_replies(self, result: HandlerResult, action_id: str | None) -> list[bytes]:
        return encode_replies(result, action_id, self.encoding)

    # -- serving --------------------------------------------------------------------------------
    @asynccontextmanager
    async def listen_tcp(
        self, host: str = "127.0.0.1", port: int = 0
    ) -> AsyncIterator[tuple[str, int]]:
        """Listen on ``host:port`` (port 0: any free port) while the block runs.

        Yields the ``(host, port)`` actually bound. Every session and background task (async
        ``Originate`` outcomes...) runs in this block's nursery; on exit all sessions are
        closed and nothing is left running. An exception from the block propagates as is.
        """
        listeners = await trio.open_tcp_listeners(port, host=host)
        sockname = listeners[0].socket.getsockname()
        body_error: BaseException | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._nurseries.append(nursery)
                nursery.start_soon(self._serve_listeners, listeners, nursery)
                try:
                    yield str(sockname[0]), int(sockname[1])
                except BaseException as exc:
                    body_error = exc
                finally:
                    self._nurseries.remove(nursery)
                    nursery.cancel_scope.cancel()
        finally:
            for listener in listeners:
                await trio.aclose_forcefully(listener)
        if body_error is not None:
            raise body_error

    async def _serve_listeners(
        self, listeners: list[trio.SocketListener], nursery: trio.Nursery
    ) -> None:
        await trio.serve_listeners(self.serve_stream, listeners, handler_nursery=nursery)

    async def serve_stream(self, stream: trio.abc.Stream) -> None:
        """Serve one client on ``stream`` until it disconnects or is disconnected.

        The stream is closed on return. Use it with any trio stream, e.g. one end of
        :func:`trio.testing.memory_stream_pair`, to test without sockets.
        """
        session = FakeSession(self, stream, self._next_session_id)
        self._next_session_id += 1
        self._sessions[session.id] = session
        self.connections += 1
        self._notify()
        try:
            async with trio.open_nursery() as nursery:
                session._cancel_scope = nursery.cancel_scope
                session._nursery = nursery
                nursery.start_soon(session._write_loop)
                replay = self._replay
                if replay is not None:
                    session._enqueue(replay.banner)
                    await session._replay_loop(replay)
                else:
                    session._enqueue(self._banner_bytes())
                    await session._read_loop()
                session._finish()
        finally:
            session.closed = True
            del self._sessions[session.id]
            self._notify()
            await trio.aclose_forcefully(stream)

    def _banner_bytes(self) -> bytes:
        if self.banner is not None:
            return self.banner
        return f"Asterisk Call Manager/{self.ami_version}\r\n".encode(self.encoding)

    def spawn(self, session: FakeSession | None, async_fn: Callable[[], Awaitable[object]]) -> None:
        """Run ``async_fn`` in the background: in the listening nursery when there is one,
        else in ``session``'s own nursery (it then ends with the session)."""
        if self._nurseries:
            self._nurseries[-1].start_soon(async_fn)
        elif session is not None and session._nursery is not None:
            session._nursery.start_soon(async_fn)
        else:
            raise RuntimeError("no nursery to run a background task in")

    def background_nursery(self, session: FakeSession | None) -> trio.Nursery | None:
        """The nursery :meth:`spawn` would use, if any."""
        if self._nurseries:
            return self._nurseries[-1]
        return None if session is None else session._nursery

    # -- helpers for the built-ins --------------------------------------------------------------
    def check_login(self, session: FakeSession, action: Message) -> str | None:
        """The username if ``action`` (a Login) carries valid credentials, else ``None``."""
        username = action.get("Username") or ""
        secret = self.users.get(username)
        if secret is None:
            return None
        if (action.get("AuthType") or "").lower() == "md5":
            key = action.get("Key") or ""
            if not key or not session.challenge:
                return None
            expected = md5_key(session.challenge, secret, self.encoding)
            return username if key.lower() == expected else None
        return username if action.get("Secret") == secret else None

    def new_challenge(self) -> str:
        """A fresh challenge: random digits, as ``ast_random()`` gives."""
        return str(self.rng.randrange(1, 2**31))

    def next_originate_id(self) -> int:
        """A sequence number for channels made up by ``Originate`` without a simulator."""
        self._originate_seq += 1
        return self._originate_seq

    def successful_auth_event(self, session: FakeSession) -> list[tuple[str, str]]:
        """The headers of the ``SuccessfulAuth`` event for ``session``'s login."""
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
        return [
            ("Privilege", "security,all"),
            ("EventTV", now),
            ("Severity", "Informational"),
            ("Service", "AMI"),
            ("EventVersion", "1"),
            ("AccountID", session.username or ""),
            ("SessionID", f"0x{0x7F61C0000000 + session.id * 0x10A0:x}"),
            ("LocalAddress", session.local_address),
            ("RemoteAddress", session.remote_address),
            ("UsingPassword", "0"),
            ("SessionTV", now),
        ]
