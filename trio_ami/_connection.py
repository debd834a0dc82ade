"""The trio client: a thin layer that moves bytes between a trio stream and ``ClientProtocol``.

A reader task feeds the protocol and routes what it reports (results to waiting tasks, events to
subscriptions); a writer task sends what callers queue. Every protocol decision is the core's,
how the session ended included: this layer tells it when the transport broke or when it closes
without a Goodbye. The connection owns its shutdown: its I/O runs in a shielded scope that only
:meth:`AMIConnection.aclose` or the session's end stops, so a cancelled nursery still logs off.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ._helpers import TypedHelpers, build_action
from ._keepalive import keep_alive
from ._settings import Settings, SubscribeOptions, subscription_parts
from ._statistics import ConnectionStatistics
from ._subscription import (
    DEFAULT_BUFFER,
    ActionStream,
    EventBuffer,
    EventMatcher,
    Subscription,
)
from ._transport import TRANSPORT_ERRORS, transport_error
from .sansio import (
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
    ListItem,
    LoginFailed,
    LoginSucceeded,
    ProtocolItem,
    State,
    UnexpectedMessage,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["AMIConnection", "ConnectionStatistics"]

Entry = tuple[EventMatcher, EventBuffer]  # a subscription, as the reader sees it

logger = logging.getLogger("trio_ami")

_RECEIVE_SIZE = 65536
_SEND_QUEUE = 1024  # byte strings waiting for the writer before senders wait


@attrs.define(eq=False)
class _Waiter:
    """Where the reader puts the outcome of one action for the task awaiting it."""

    done: trio.Event = attrs.Factory(trio.Event)
    result: ActionResult | None = None
    error: AMIError | None = None


class AMIConnection(TypedHelpers, trio.abc.AsyncResource):
    """An AMI session over a trio stream. :func:`open_ami`, :func:`connect_ami` and
    :func:`wrap_ami_stream` make one and run it; to run one yourself,
    ``await nursery.start(connection.run, username, secret)`` logs in and returns once the
    session is ready.

    ``async with connection:`` (or :meth:`aclose`) logs off and closes it.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        settings: Settings | None = None,
        *,
        peer: str = "the server",
    ) -> None:
        settings = settings or Settings()
        self._stream = stream
        self._settings = settings
        self._protocol = settings.new_protocol()
        self.action_timeout = settings.action_timeout
        self._logoff_timeout = settings.logoff_timeout
        self._peer = peer  # how errors name the server: "host:port"
        self._send_channel, self._receive_channel = trio.open_memory_channel[bytes](_SEND_QUEUE)
        # Shielded: only aclose() and the end of the session stop the I/O, so that a Logoff
        # still goes out when the nursery the connection runs in is cancelled.
        self._io_scope = trio.CancelScope(shield=True)
        self._waiters: dict[str, _Waiter] = {}
        # The reader's side of each consumer's buffer; the consumers hold the channels.
        self._streams: dict[str, tuple[EventBuffer, ActionStream]] = {}
        self._subscriptions: list[Entry] = []
        # Events that came before the first subscription, which gets them ("wait" makes no
        # sense here: nobody reads it yet).
        backlog = settings.event_backlog
        self._backlog: EventBuffer | None = EventBuffer(backlog) if backlog else None
        self._full: list[EventBuffer] = []  # "wait" subscribers over their size
        self._banner_received = trio.Event()
        self._login_done = trio.Event()
        self._login_error: AMIError | None = None
        self._logged_in = False
        self._terminated: ConnectionTerminated | None = None
        self._ended = trio.Event()  # the session is over
        self._stopped = trio.Event()  # the I/O tasks are done and the stream is closed
        self._closing = False  # aclose() has begun: no new work is accepted
        self._unexpected = 0
        #: When the last bytes came from the server (trio time): the keepalive's sign of life.
        self.last_received = trio.current_time()

    # -- properties -----------------------------------------------------------------------------
    @property
    def banner(self) -> Banner | None:
        """The server's banner (``banner.version`` is the AMI version)."""
        return self._protocol.banner

    @property
    def ami_version(self) -> str:
        return self.banner.version if self.banner else ""

    @property
    def protocol(self) -> ClientProtocol:
        """The sans-IO session underneath (read-only use: its state and statistics)."""
        return self._protocol

    @property
    def closed(self) -> bool:
        """True once the session is over."""
        return self._terminated is not None

    @property
    def ending(self) -> Ending | None:
        """How the session ended (logged off, closed by the server, ...), once it has."""
        return self._terminated.ending if self._terminated else None

    @property
    def close_reason(self) -> str | None:
        """Why the session ended, in words, once it has."""
        return self._terminated.reason if self._terminated else None

    def closed_error(self) -> ConnectionClosed:
        """A new :class:`ConnectionClosed` that says why the session is over (``ending``, and
        the error that ended it as ``__cause__``)."""
        if self._terminated is None:
            return ConnectionClosed("the AMI connection is closing", ending=Ending.CLOSED_LOCALLY)
        return self._terminated.closed_error("the AMI connection is closed")

    async def wait_closed(self) -> None:
        """Wait until the session is over, however it ends (see :attr:`ending`)."""
        await self._ended.wait()

    def statistics(self) -> ConnectionStatistics:
        return ConnectionStatistics(
            protocol=self._protocol.statistics(),
            waiting_actions=len(self._waiters) + len(self._streams),
            subscriptions=tuple(buffer.statistics() for _, buffer in self._subscriptions),
            unexpected_messages=self._unexpected,
            backlog=len(self._backlog.queue) if self._backlog else 0,
            backlog_dropped=self._backlog.dropped if self._backlog else 0,
        )

    # -- tasks ----------------------------------------------------------------------------------
    async def run(
        self,
        username: str,
        secret: str,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """The connection's task: log in, report ready (``nursery.start``), then run until the
        session ends. When the nursery it runs in is cancelled, it closes the connection itself,
        logging off first (bounded by ``logoff_timeout``).

        If no session can be had, ``nursery.start`` raises why (see ``docs/client.md``) after
        the stream is closed.
        """
        failure: BaseException | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._io)
            try:
                await self._log_in(username, secret)
            except BaseException as exc:  # raised once the nursery is done: never in a group
                failure = exc
                await self.aclose()
            else:
                interval, timeout = self._settings.keepalive, self._settings.keepalive_timeout
                if interval is not None:
                    nursery.start_soon(keep_alive, self, interval, timeout)
                task_status.started()
                try:
                    await self._stopped.wait()
                except trio.Cancelled:
                    await self.aclose()  # shielded and bounded
                    raise
        if failure is not None:
            raise failure

    async def _io(self) -> None:
        try:
            with self._io_scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._reader)
                    nursery.start_soon(self._writer)
        finally:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(self._stream)
            self._end(ClientProtocol.close, "closed")  # if nothing else ended the session
            self._receive_channel.close()
            self._stopped.set()

    async def _reader(self) -> None:
        protocol = self._protocol
        receive_some = self._stream.receive_some
        try:
            while self._terminated is None:
                try:
                    data = await receive_some(_RECEIVE_SIZE)
                except TRANSPORT_ERRORS as exc:
                    self._end(ClientProtocol.connection_lost, transport_error(exc))
                    return
                self.last_received = trio.current_time()
                protocol.receive_data(data)
                outgoing = protocol.data_to_send()
                if outgoing:  # the Login that answers a Challenge: nothing else is queued yet
                    with contextlib.suppress(trio.ClosedResourceError):
                        await self._send_channel.send(outgoing)
                self._dispatch(protocol.take_items())
                while self._full:  # backpressure: read on once they have made room
                    await self._full.pop().wait_for_room()
        finally:
            self._io_scope.cancel()

    async def _writer(self) -> None:
        receive_nowait = self._receive_channel.receive_nowait
        async for data in self._receive_channel:
            chunks = [data]
            while True:
                try:
                    chunks.append(receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            try:
                await self._stream.send_all(b"".join(chunks) if len(chunks) > 1 else data)
            except TRANSPORT_ERRORS as exc:
                self._end(ClientProtocol.connection_lost, transport_error(exc))
                self._io_scope.cancel()
                return

    def _end(self, how: Callable[[ClientProtocol, Any], None], cause: Any) -> None:
        """Tell the protocol that the session ends (``close`` with a reason, ``connection_lost``
        with the error), and route what it says. Nothing happens if it is over already."""
        if self._terminated is None:
            how(self._protocol, cause)
            self._dispatch(self._protocol.take_items())

    async def _send(self, data: bytes) -> None:
        try:
            await self._send_channel.send(data)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise self.closed_error() from None

    # -- routing what the protocol emits --------------------------------------------------------
    def _dispatch(self, items: list[ProtocolItem]) -> None:
        events: list[Event] = []  # consecutive broadcast events, handed over together
        for item in items:
            if isinstance(item, Event):
                events.append(item)
                continue
            if events:
                self._broadcast(events)
                events = []
            match item:
                case ActionCompleted():
                    self._completed(item.result)
                case ListItem():
                    self._streams[item.action_id][0].offer(item.event)
                case ActionAborted():
                    self._fail(item.action_id, item.error)
                case BannerReceived():
                    self._banner_received.set()
                case LoginSucceeded():
                    self._logged_in = True
                    self._login_done.set()
                case LoginFailed():
                    self._login_error = AuthenticationError(item.message)
                    self._login_done.set()
                case UnexpectedMessage():
                    self._unexpected += 1
                    logger.warning("unexpected AMI packet (%s): %r", item.reason, item.message)
                case ConnectionTerminated():
                    self._on_terminated(item)
        if events:
            self._broadcast(events)

    def _broadcast(self, events: list[Event]) -> None:
        """Offer ``events``, in order, to every subscription that wants them (or keep them for
        the first subscription)."""
        subscriptions = self._subscriptions
        if not subscriptions:
            if self._backlog is not None:
                self._backlog.offer_many(events)
            return
        names: list[str] = []  # folded once, for every subscription that asks
        for entry in list(subscriptions):  # a failing predicate removes its entry
            self._deliver(entry, events, names)

    def _deliver(self, entry: Entry, events: list[Event], names: list[str]) -> None:
        """Give one subscription the ``events`` it wants. One that takes every event gets them in
        one step: most of a burst goes to such subscriptions. ``names`` holds the events' folded
        names once a filtering subscription has needed them."""
        matches, buffer = entry
        if matches.takes_everything:
            wanted = events
        else:
            if not names:
                names.extend(event.name.lower() for event in events)
            wanted = []
            try:
                for event, name in zip(events, names, strict=True):
                    if matches(event, name):
                        wanted.append(event)
            except Exception as exc:  # a subscriber's predicate failed: its problem only
                buffer.offer_many(wanted)  # what it wanted before, then the error
                buffer.finish(exc)
                self._forget_subscription(entry)
                return
        if buffer.offer_many(wanted) and buffer not in self._full:
            self._full.append(buffer)  # "wait": the reader waits for it after this read

    def _completed(self, result: ActionResult) -> None:
        action_id = result.action_id
        waiter = self._waiters.pop(action_id, None)
        if waiter is not None:
            waiter.result = result
            waiter.done.set()
            return
        buffer_and_stream = self._streams.pop(action_id, None)
        if buffer_and_stream is not None:
            failure = result.failure
            buffer_and_stream[1].complete(
                result, None if failure is None else ActionFailed(failure, result, result.message)
            )

    def _fail(self, action_id: str, error: AMIError) -> None:
        waiter = self._waiters.pop(action_id, None)
        if waiter is not None:
            waiter.error = error
            waiter.done.set()
        buffer_and_stream = self._streams.pop(action_id, None)
        if buffer_and_stream is not None:
            buffer_and_stream[0].finish(error)

    def _on_terminated(self, item: ConnectionTerminated) -> None:
        self._terminated = item
        log = logger.info if item.ending.clean else logger.warning
        log("AMI session with %s ended: %s", self._peer, item.reason)
        for _, buffer in self._subscriptions:
            buffer.finish(None if item.ending.clean else self.closed_error())
        self._banner_received.set()
        self._login_done.set()
        self._send_channel.close()
        self._ended.set()

    # -- logging in and closing -----------------------------------------------------------------
    async def _log_in(self, username: str, secret: str) -> None:
        """Log in, or raise what says why no session could be had (see docs/client.md)."""
        settings = self._settings
        timeout = settings.login_timeout
        with trio.move_on_after(timeout):
            await self._banner_received.wait()
            if self._terminated is None:
                login = self._protocol.login(
                    username, secret, auth=settings.auth, events=settings.events
                )
                await self._send(login)
                await self._login_done.wait()
        if self._login_error is not None:
            raise self._login_error
        if self._logged_in:
            return  # even if the session ended right after: that is the block's to see
        terminated = self._terminated
        if terminated is not None:
            error = AMIConnectionError(f"could not log in to {self._peer}: {terminated.reason}")
            error.__cause__ = terminated.error
            raise error
        if self._protocol.state is State.AWAITING_BANNER:
            raise AMIConnectionError(f"no banner from {self._peer} within {timeout} s")
        raise AMIConnectionError(f"no answer to the login from {self._peer} within {timeout} s")

    async def aclose(self) -> None:
        """Log off (waiting at most ``logoff_timeout`` for the Goodbye), close the stream and
        stop the tasks.

        Safe to call more than once, from several tasks, and from a cancelled scope: the
        goodbye is shielded and bounded by the timeout. A Logoff that gets no answer in time
        ends the session as ``CLOSED_LOCALLY``.
        """
        with trio.CancelScope(shield=True):
            if not self._closing:
                self._closing = True
                reason = await self._log_off()
                self._end(ClientProtocol.close, reason)
                self._io_scope.cancel()
            await self._stopped.wait()

    #: End the session: the same as leaving the ``open_ami`` block (:meth:`aclose`).
    logoff = aclose

    def abort(self, reason: str) -> None:
        """Drop the connection at once, as a broken link (a dead peer): the session ends as
        ``TRANSPORT_ERROR`` with ``reason``; waiting actions fail with ConnectionClosed."""
        self._end(ClientProtocol.connection_lost, AMIConnectionError(reason))
        self._io_scope.cancel()

    async def _log_off(self) -> str:
        """Log off if the session allows it; why it must be closed if that did not end it."""
        state = self._protocol.state
        if self._terminated is not None:
            return "closed"
        if state in (State.READY, State.CONNECTED):
            with trio.move_on_after(self._logoff_timeout):
                try:
                    await self._send(self._protocol.logoff())
                except AMIError:  # the session ended meanwhile
                    return "closed"
                await self._ended.wait()
        elif state in (State.LOGGING_OFF, State.LOGGING_OFF_BEFORE_LOGIN):
            with trio.move_on_after(self._logoff_timeout):  # a Logoff sent as an action
                await self._ended.wait()
        else:
            return "closed before the login completed"
        return f"no answer to Logoff within {self._logoff_timeout} s"

    # -- actions --------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._terminated is not None or self._closing:
            raise self.closed_error()

    async def action(
        self,
        action: str | Action,
        headers: Headers | None = None,
        /,
        *,
        timeout: float | None = -1.0,
        check: bool = True,
        complete_on: str | None = None,
        outcome_event: str | None = None,
        max_items: int | None = None,
        **fields: HeaderValue,
    ) -> ActionResult:
        """Send an action and wait for its complete result.

        ``action`` is an :class:`Action` or an action name, with headers from ``headers`` (a
        mapping or pairs) and keyword arguments: ``ami.action("Getvar", Variable="X")``. Event
        lists are collected (``result.events``); see :meth:`ClientProtocol.send_action` for
        ``complete_on`` and ``outcome_event``.

        Raises :class:`ActionFailed` (carrying the result) when the action failed, unless
        ``check=False``; :class:`ActionTimeout` after ``timeout`` seconds (default: the
        connection's ``action_timeout``; ``None`` waits for ever); :class:`ConnectionClosed` if
        the session ends first; :class:`ListTooLong` if its event list passes ``max_items``
        (default: the protocol's ``max_list_items``, 100,000; read longer lists with
        :meth:`action_stream`). A cancelled or timed-out action, or one whose list was too long,
        is forgotten: its late packets are dropped and the connection stays usable.
        """
        act = build_action(action, headers, fields)
        self._check_open()
        action_id, data = self._protocol.send_action(
            act, complete_on=complete_on, outcome_event=outcome_event, max_items=max_items
        )
        waiter = self._waiters[action_id] = _Waiter()
        limit = self.action_timeout if timeout is not None and timeout < 0 else timeout
        try:
            with trio.fail_after(math.inf if limit is None else limit):
                await self._send(data)
                await waiter.done.wait()
        except trio.TooSlowError:
            self._abandon(action_id)
            raise ActionTimeout(f"{act.name} got no complete answer within {limit} s") from None
        except BaseException:
            self._abandon(action_id)
            raise
        if waiter.error is not None:
            raise waiter.error
        result = waiter.result
        assert result is not None
        if check:
            failure = result.failure
            if failure is not None:
                raise ActionFailed(failure, result, result.message)
        return result

    def _abandon(self, action_id: str) -> None:
        self._waiters.pop(action_id, None)
        self._streams.pop(action_id, None)
        self._protocol.forget(action_id)

    @asynccontextmanager
    async def action_stream(
        self,
        action: str | Action,
        headers: Headers | None = None,
        /,
        *,
        buffer: int = DEFAULT_BUFFER,
        complete_on: str | None = None,
        **fields: HeaderValue,
    ) -> AsyncIterator[ActionStream]:
        """Send an event-list action and iterate its items as they arrive::

            async with ami.action_stream("CoreShowChannels") as channels:
                async for channel in channels:
                    print(channel["Channel"])
            print(channels.result.items_match)

        The iteration raises :class:`ActionFailed` if the server refuses the action, and
        :class:`SubscriptionOverflow` if more than ``buffer`` items wait unread. Leaving the
        block early forgets the action: its remaining items are dropped.
        """
        act = build_action(action, headers, fields)
        self._check_open()
        action_id, data = self._protocol.send_action(act, complete_on=complete_on, stream=True)
        items = EventBuffer(buffer)
        stream = ActionStream(items)
        self._streams[action_id] = (items, stream)
        try:
            await self._send(data)
            yield stream
        finally:
            if stream.result is None:
                self._abandon(action_id)
            stream.close()

    # -- subscriptions --------------------------------------------------------------------------
    @asynccontextmanager
    async def subscribe(
        self, *names: str, **options: Unpack[SubscribeOptions]
    ) -> AsyncIterator[Subscription]:
        """Receive the events whose name matches one of ``names`` (exact or glob, any case; none
        means every event)::

            async with ami.subscribe("Hangup", "Dial*") as events:
                async for event in events:
                    ...

        ``options`` (:class:`SubscribeOptions`): ``predicate``, ``buffer`` (events buffered,
        10,000 by default), ``overflow`` and ``max_wait`` (the policies of
        :data:`~trio_ami.OverflowPolicy`). The first subscription opened also gets the events
        that came before it, since the login (up to the ``event_backlog`` option; more were
        dropped and are reported as a :class:`SubscriptionOverflow`).
        """
        await trio.lowlevel.checkpoint()  # before registering: a cancel here leaves nothing
        subscription = self.open_subscription(*names, **options)
        try:
            yield subscription
        finally:
            subscription.close()

    def open_subscription(self, *names: str, **options: Unpack[SubscribeOptions]) -> Subscription:
        """:meth:`subscribe` without the block, for the caller to close (opened before
        :meth:`run`, it gets every event from the login on)."""
        self._check_open()
        entry = subscription_parts(names, options)
        subscription = Subscription(entry[1], on_close=lambda: self._forget_subscription(entry))
        self._subscriptions.append(entry)
        backlog, self._backlog = self._backlog, None
        if backlog is not None:
            self._deliver(entry, list(backlog.queue), [])
            entry[1].report_lost(backlog.dropped)
            self._full.clear()  # nobody waits on a subscriber that has not started reading
        return subscription

    def _forget_subscription(self, entry: Entry) -> None:
        # A new list, so that a broadcast going through the old one is not disturbed.
        self._subscriptions = [other for other in self._subscriptions if other is not entry]
