"""One client connection to the fake server: its login state, event mask and filters, its
output queue and writer (slow and stuck clients included), and the faults a test injects in it
(a black hole, an answer cut short).

A session knows nothing of the server: it is given its settings and a callback to report what
changes (``"login"``, ``"closed"``, ``"overflow"``, ``"write timeout"``), reads actions for
whoever serves it (:meth:`FakeSession.receive_action`) and writes what it is given.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping

import attrs
import trio

from ..sansio import Message, RemoteProtocolError
from ._filters import EventFilter, should_send
from ._settings import OutputSettings
from ._wire import (
    ALL_CLASSES,
    HandlerResult,
    OutEvent,
    action_parser,
    class_names,
    encode_replies,
    list_marker,
    make_event,
)

__all__ = ["ActionFaults", "FakeSession", "ListCut"]

_WRITE_BATCH = 64 * 1024
_READ_SIZE = 65536


@attrs.define(eq=False)
class ListCut:
    """A list answer to cut short: after its response and ``after`` items the connection
    closes. Armed by :meth:`ActionFaults.close_mid_list`, used by the first list answered."""

    after: int
    #: Whether a list answer has taken it (it cuts no other).
    taken: bool = False


class ActionFaults:
    """Actions never answered, answered with half a packet or with part of their list: on every
    session of a server, or on one session."""

    __slots__ = ()
    _stalled: set[str]
    _close_mid: set[str]
    _list_cuts: list[ListCut]  # the one armed, or none

    def stall(self, action_name: str) -> None:
        """Never answer ``action_name``."""
        self._stalled.add(action_name.lower())

    def unstall(self, action_name: str) -> None:
        """Answer ``action_name`` again."""
        self._stalled.discard(action_name.lower())

    def close_mid_packet(self, action_name: str) -> None:
        """Answer ``action_name`` with the first half of its response, then disconnect."""
        self._close_mid.add(action_name.lower())

    def stalls(self, action_name: str) -> bool:
        """Whether ``action_name`` is never answered."""
        return action_name.lower() in self._stalled

    def closes_mid_packet(self, action_name: str) -> bool:
        """Whether ``action_name`` is answered with half a response."""
        return action_name.lower() in self._close_mid

    def close_mid_list(self, after: int) -> None:
        """Answer the next list action (whichever it is: the first answer that starts an event
        list) with its response and its first ``after`` items only, then close the connection:
        the rest of the list, its ``...Complete`` event included, never comes. A list of
        ``after`` items or fewer loses its ``...Complete`` event. Once only; ``after < 0``
        is a ``ValueError``."""
        if after < 0:
            raise ValueError(f"close_mid_list: after must be 0 or more, not {after}")
        self._list_cuts[:] = [ListCut(after)]

    def pending_list_cut(self) -> ListCut | None:
        """The cut armed by :meth:`close_mid_list` that no list has taken yet, if any."""
        self._list_cuts[:] = [cut for cut in self._list_cuts if not cut.taken]
        return self._list_cuts[0] if self._list_cuts else None


class FakeSession(ActionFaults):
    """One client connection to a :class:`~trio_ami.testing.FakeAMIServer`.

    Tests read its state (``logged_in``, ``username``, ``event_mask``, ``filters``,
    ``received``) and inject faults: :meth:`close` (abrupt disconnect), :meth:`send_raw` (any
    bytes, e.g. garbage or half a packet), :meth:`stall` / :meth:`close_mid_packet` /
    :meth:`close_mid_list` for this session only, :meth:`black_hole` (a half-open link), and
    ``write_delay`` / ``write_chunk_size`` to make this session's writes slow.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        session_id: int,
        *,
        encoding: str,
        output: Callable[[], OutputSettings],
        report: Callable[[str], None],
    ) -> None:
        #: The stream the session talks over.
        self.stream = stream
        #: A number unique within the server, in order of connection.
        self.id = session_id
        #: Every action this session sent, in order (including those refused or stalled).
        self.received: list[Message] = []
        #: True if the session was disconnected because its output queue overflowed.
        self.overflowed = False
        #: Per-session overrides of the server's ``write_delay`` / ``write_chunk_size``.
        self.write_delay: float | None = None
        self.write_chunk_size: int | None = None
        #: Bytes written to the client so far.
        self.bytes_sent = 0
        #: Events queued to this session so far.
        self.events_sent = 0
        self._encoding = encoding
        self._output = output
        self._report = report
        self._logged_in = False
        self._username: str | None = None
        self._event_mask = ALL_CLASSES
        self._challenge: str | None = None
        self._filters: list[EventFilter] = []
        self._stalled: set[str] = set()
        self._close_mid: set[str] = set()
        self._list_cuts: list[ListCut] = []
        self._send_channel, self._receive_channel = trio.open_memory_channel[bytes](
            output().session_queue_size
        )
        self._parser = action_parser(encoding)
        self._closed = False
        self._closing = False
        self._cancel_scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._truncating: Message | None = None
        # The list answer being cut: the action, its cut, and the items sent so far (None
        # until the answer shows it is a list).
        self._cutting: tuple[Message, ListCut, int | None] | None = None
        self._hole: trio.Event | None = None
        self.local_address, self.remote_address = _addresses(stream)

    # -- state ----------------------------------------------------------------------------------
    @property
    def logged_in(self) -> bool:
        """True once a Login succeeded."""
        return self._logged_in

    @property
    def username(self) -> str | None:
        """The user that logged in."""
        return self._username

    @property
    def event_mask(self) -> int:
        """The event classes this session receives, as bits (see :attr:`event_classes`)."""
        return self._event_mask

    @property
    def event_classes(self) -> frozenset[str]:
        """The names of the event classes this session receives (empty: events off)."""
        return class_names(self._event_mask)

    @property
    def challenge(self) -> str | None:
        """The MD5 challenge this session was given, if any."""
        return self._challenge

    @property
    def filters(self) -> list[str]:
        """The event filters added with the ``Filter`` action, as given (``!`` = exclude)."""
        return [f.text for f in self._filters]

    @property
    def event_filters(self) -> list[EventFilter]:
        """The compiled event filters of this session."""
        return list(self._filters)

    @property
    def closed(self) -> bool:
        """True once the session is over or being torn down."""
        return self._closed

    @property
    def queued(self) -> int:
        """Packets (or batches) waiting in this session's output queue."""
        return self._send_channel.statistics().current_buffer_used

    @property
    def nursery(self) -> trio.Nursery | None:
        """The session's own nursery while it runs (its tasks end with it)."""
        return self._nursery

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("logged in" if self._logged_in else "connected")
        return f"<FakeSession #{self.id} {self._username or '-'} {state}>"

    # -- changes made by the actions ------------------------------------------------------------
    def log_in(self, username: str) -> None:
        """Mark the session logged in as ``username``."""
        self._logged_in = True
        self._username = username
        self._report("login")

    def set_event_mask(self, mask: int) -> None:
        """Receive the event classes of ``mask`` from now on."""
        self._event_mask = mask

    def add_filter(self, event_filter: EventFilter) -> None:
        """Add an event filter (``Filter`` action)."""
        self._filters.append(event_filter)

    def set_challenge(self, challenge: str) -> None:
        """Remember the MD5 challenge this session was given."""
        self._challenge = challenge

    # -- output ---------------------------------------------------------------------------------
    def send(self, reply: HandlerResult, action: Message | None = None) -> None:
        """Queue replies to the client (see :data:`~trio_ami.testing.Reply`), adding
        ``action``'s ActionID.

        Sent in order after everything queued before. Does nothing once the session closes.
        """
        action_id = None if action is None else action.get("ActionID") or None
        for data in encode_replies(reply, action_id, self._encoding):
            if action is not None and action is self._truncating:
                self._truncating = None
                self._enqueue(data[: max(1, len(data) // 2)])
                self.finish()
                return
            # List items may go out unanswered (Asterisk puts Status items' ActionID last).
            cutting = self._cutting
            if cutting is not None and (action is None or action is cutting[0]):
                self._send_cut(data)
                continue
            self._enqueue(data)

    def _send_cut(self, data: bytes) -> None:
        """Send one packet of an answer armed to be cut (see :meth:`close_mid_list`)."""
        assert self._cutting is not None
        action, cut, items = self._cutting
        marker = list_marker(data, self._encoding)
        if items is None:  # the answer's first packet says whether it is a list
            self._cutting = None
            self._enqueue(data)
            if marker != "start" or cut.taken:
                return  # not a list: the cut waits for the next one
            cut.taken = True
            items = 0
        elif marker != "complete":
            self._enqueue(data)
            items += 1
        if items >= cut.after or marker == "complete":
            self._cutting = None
            self.finish()
        else:
            self._cutting = (action, cut, items)

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
        return self.deliver(make_event(event, headers, privilege, self._encoding))

    def send_error(self, action: Message | None, message: str) -> None:
        """Queue ``Response: Error`` with ``Message: <message>`` answering ``action``."""
        self.send([("Response", "Error"), ("Message", message)], action)

    def send_ack(self, action: Message | None, message: str | None = None) -> None:
        """Queue ``Response: Success`` (with ``Message: <message>`` if given)."""
        pairs = [("Response", "Success")]
        if message is not None:
            pairs.append(("Message", message))
        self.send(pairs, action)

    def wants(self, event: OutEvent) -> bool:
        """Whether ``event`` would reach this session: logged in, mask and filters."""
        if not self._logged_in or self._closed or self._closing:
            return False
        mask = self._event_mask
        if not mask or (mask & event.category) != event.category:
            return False
        return not self._filters or should_send(self._filters, event.name, event.eventdata())

    def deliver(self, event: OutEvent) -> bool:
        """Queue ``event`` if this session wants it; a full queue disconnects the session."""
        if self.wants(event) and self._enqueue(event.data):
            self.events_sent += 1
            return True
        return False

    async def deliver_waiting(self, event: OutEvent) -> bool:
        """Like :meth:`deliver`, but wait for room in a full queue instead of disconnecting."""
        if not self.wants(event):
            return False
        try:
            try:
                self._send_channel.send_nowait(event.data)
            except trio.WouldBlock:
                await self._send_channel.send(event.data)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        self.events_sent += 1
        return True

    # -- faults ---------------------------------------------------------------------------------
    def close(self, *, reset: bool = False) -> None:
        """Disconnect now, dropping queued output (``reset=True``: TCP RST where possible)."""
        if self._closed:
            return
        self._closed = True
        self._send_channel.close()
        if reset:
            sock = getattr(self.stream, "socket", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()
        self._report("closed")

    def finish(self) -> None:
        """Close gracefully: what is queued is written, then the connection closes."""
        if not self._closing:
            self._closing = True
            self._send_channel.close()

    @contextlib.contextmanager
    def answering(
        self, action: Message, *, truncate: bool, list_cut: ListCut | None = None
    ) -> Iterator[None]:
        """While the block answers ``action``: with ``truncate``, its first reply goes out
        half written and the session closes (see :meth:`close_mid_packet`); with
        ``list_cut``, a list answer is cut short (see :meth:`close_mid_list`)."""
        self._truncating = action if truncate else None
        self._cutting = None if list_cut is None else (action, list_cut, None)
        try:
            yield
        finally:
            self._truncating = None
            self._cutting = None

    def black_hole(self) -> None:
        """Stop reading and writing while keeping the connection open, as a link that went
        dead without a word: what the client sends stays unread, what the server sends stays
        queued (a full queue still disconnects), and even a close of the session reaches the
        client only once the black hole is lifted (:meth:`lift_black_hole`)."""
        if self._hole is None:
            self._hole = trio.Event()

    def lift_black_hole(self) -> None:
        """Read and write again: what the client sent is read, what was queued is written."""
        if self._hole is not None:
            self._hole.set()
            self._hole = None

    @property
    def black_holed(self) -> bool:
        """Whether the session is in a black hole."""
        return self._hole is not None

    async def wait_reachable(self) -> None:
        """Return once the session is not in a black hole (at once if it is not)."""
        while self._hole is not None:
            await self._hole.wait()

    # -- running --------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether the session still reads and answers (not closed, not closing)."""
        return not (self._closed or self._closing)

    async def receive_action(self) -> Message | None:
        """The next action from the client (added to :attr:`received`), or ``None`` once the
        client closed, the session closes, or the client sent garbage beyond the limits
        (Asterisk drops such a client too)."""
        parser = self._parser
        while self.active:
            await self.wait_reachable()
            if not self.active:
                break
            try:
                action = parser.next_message()
            except RemoteProtocolError:
                return None
            if action is not None:
                self.received.append(action)
                return action
            if parser.at_eof:
                return None
            try:
                data = await self.stream.receive_some(_READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            parser.receive_data(data)
        return None

    async def run(self, body: Callable[[FakeSession], Awaitable[None]]) -> None:
        """Write the output queue while ``body(self)`` serves the session, then close it."""
        try:
            async with trio.open_nursery() as nursery:
                self._cancel_scope = nursery.cancel_scope
                self._nursery = nursery
                nursery.start_soon(self._write_loop)
                await body(self)
                self.finish()
        finally:
            self._closed = True
            self._nursery = None
            self._report("closed")

    def _enqueue(self, data: bytes) -> bool:
        if self._closed or self._closing:
            return False
        try:
            self._send_channel.send_nowait(data)
        except trio.WouldBlock:
            self.overflowed = True
            self._report("overflow")
            self.close()
            return False
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        return True

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
            self._closed = True
            if self._cancel_scope is not None:
                self._cancel_scope.cancel()

    async def _write(self, data: bytes) -> None:
        settings = self._output()
        chunk, delay = settings.write_chunk_size, settings.write_delay
        if self.write_chunk_size is not None:
            chunk = self.write_chunk_size
        if self.write_delay is not None:
            delay = self.write_delay
        if chunk and chunk > 0 and len(data) > chunk:
            pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        else:
            pieces = [data]
        for piece in pieces:
            await self.wait_reachable()
            if delay:
                await trio.sleep(delay)
            if settings.write_timeout is None:
                await self.stream.send_all(piece)
            else:
                with trio.move_on_after(settings.write_timeout) as scope:
                    await self.stream.send_all(piece)
                if scope.cancelled_caught:
                    self._report("write timeout")
                    raise trio.BrokenResourceError("write timeout")
            self.bytes_sent += len(piece)


def _addresses(stream: trio.abc.Stream) -> tuple[str, str]:
    """The session's local and remote addresses, as ``SuccessfulAuth`` gives them."""
    sock = getattr(stream, "socket", None)
    local, remote = ("127.0.0.1", 5038), ("127.0.0.1", 0)
    if sock is not None:
        with contextlib.suppress(OSError):
            local, remote = sock.getsockname()[:2], sock.getpeername()[:2]
    family = "IPV6" if ":" in str(local[0]) else "IPV4"
    return f"{family}/TCP/{local[0]}/{local[1]}", f"{family}/TCP/{remote[0]}/{remote[1]}"
