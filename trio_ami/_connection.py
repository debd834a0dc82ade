"""The trio client: a thin layer that moves bytes between a trio stream and ``ClientProtocol``.

One reader task feeds what the server sends to the protocol and routes what comes out: results
to the task waiting for them, events to the subscriptions. One writer task sends what callers
queue on a memory channel. Both run in a cancel scope owned by the connection; every protocol
decision is the sans-IO core's. trio's stream errors become ``AMIConnectionError`` here, once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import ssl
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import attrs
import trio

from ._subscription import (
    DEFAULT_BUFFER,
    OverflowPolicy,
    Subscription,
    SubscriptionStatistics,
    _Matcher,
)
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
    Event,
    Headers,
    HeaderValue,
    ListItem,
    LoginFailed,
    LoginSucceeded,
    ProtocolItem,
    ProtocolStatistics,
    Response,
    State,
    UnexpectedMessage,
)

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["AMIConnection", "ActionStream", "ConnectionStatistics", "connect_ami", "open_ami",
           "wrap_ami_stream"]  # fmt: skip

logger = logging.getLogger("trio_ami")

_RECEIVE_SIZE = 65536
_SEND_QUEUE = 1024  # byte strings waiting for the writer before senders wait
_TRANSPORT_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


@attrs.frozen
class ConnectionStatistics:
    """A snapshot of a connection: the protocol's counters and every subscription's."""

    protocol: ProtocolStatistics
    waiting_actions: int
    subscriptions: tuple[SubscriptionStatistics, ...]
    unexpected_messages: int


class _Waiter:
    """Where the reader puts the outcome of one action for the task awaiting it."""

    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: ActionResult | None = None
        self.error: AMIError | None = None


class ActionStream(Subscription):
    """The items of an event-list action, delivered as they arrive.

    Iterate it like a subscription; when the iteration ends, ``result`` holds the final result
    (response, closing event, ``items_received`` and ``items_match``).
    """

    result: ActionResult | None = None


def _action(
    name: str | Action, headers: Headers | None, fields: Mapping[str, HeaderValue]
) -> Action:
    if isinstance(name, Action):
        if headers or fields:
            raise TypeError("give headers either in the Action or as arguments, not both")
        return name
    pairs: list[tuple[str, HeaderValue]] = []
    if headers:
        pairs.extend(headers.items() if isinstance(headers, Mapping) else headers)
    pairs.extend(fields.items())
    return Action(name, pairs)


class AMIConnection:
    """A logged-in AMI session. Made by :func:`open_ami`, :func:`connect_ami` or
    :func:`wrap_ami_stream`; do not instantiate it directly.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        protocol: ClientProtocol,
        *,
        action_timeout: float | None,
        logoff_timeout: float,
    ) -> None:
        self._stream = stream
        self._protocol = protocol
        self.action_timeout = action_timeout
        self._logoff_timeout = logoff_timeout
        self._send_channel, self._receive_channel = trio.open_memory_channel[bytes](_SEND_QUEUE)
        self._scope = trio.CancelScope()
        self._waiters: dict[str, _Waiter] = {}
        self._streams: dict[str, ActionStream] = {}
        self._subscriptions: list[Subscription] = []
        self._banner_received = trio.Event()
        self._login_done = trio.Event()
        self._login_error: AMIError | None = None
        self._terminated = trio.Event()
        self._stopped = trio.Event()
        self._close_reason: str | None = None
        self._close_error: BaseException | None = None
        self._transport_error: AMIConnectionError | None = None
        self._logging_off = False
        self._unexpected = 0

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
        return self._terminated.is_set()

    @property
    def close_reason(self) -> str | None:
        return self._close_reason

    def statistics(self) -> ConnectionStatistics:
        return ConnectionStatistics(
            protocol=self._protocol.statistics(),
            waiting_actions=len(self._waiters) + len(self._streams),
            subscriptions=tuple(sub.statistics() for sub in self._subscriptions),
            unexpected_messages=self._unexpected,
        )

    # -- tasks ----------------------------------------------------------------------------------
    async def _run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._reader)
                    nursery.start_soon(self._writer)
                    task_status.started()
        finally:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(self._stream)
            self._receive_channel.close()
            if not self._terminated.is_set():
                self._protocol.receive_data(b"")
                self._dispatch(self._protocol.take_items())
            self._stopped.set()

    async def _reader(self) -> None:
        protocol = self._protocol
        receive_some = self._stream.receive_some
        try:
            while not self._terminated.is_set():
                try:
                    data = await receive_some(_RECEIVE_SIZE)
                except _TRANSPORT_ERRORS as exc:
                    self._transport_failed(exc)
                    data = b""
                protocol.receive_data(data)
                outgoing = protocol.data_to_send()
                if outgoing:  # the Login that answers a Challenge
                    with contextlib.suppress(trio.ClosedResourceError):
                        await self._send_channel.send(outgoing)
                self._dispatch(protocol.take_items())
                if not data:
                    break
        finally:
            self._scope.cancel()

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
            except _TRANSPORT_ERRORS as exc:
                self._transport_failed(exc)
                self._scope.cancel()
                return

    def _transport_failed(self, exc: BaseException) -> None:
        if self._transport_error is None and not self._terminated.is_set():
            error = AMIConnectionError(f"the connection broke: {exc or type(exc).__name__}")
            error.__cause__ = exc
            self._transport_error = error

    async def _send(self, data: bytes) -> None:
        try:
            await self._send_channel.send(data)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise self._closed_error() from None

    # -- routing what the protocol emits --------------------------------------------------------
    def _dispatch(self, items: list[ProtocolItem]) -> None:
        for item in items:
            if isinstance(item, Event):
                self._broadcast(item)
            elif isinstance(item, ActionCompleted):
                self._completed(item.result)
            elif isinstance(item, ListItem):
                stream = self._streams.get(item.action_id)
                if stream is not None:
                    stream._offer(item.event)
            elif isinstance(item, ActionAborted):
                error = item.error
                if self._transport_error is not None:
                    error.__cause__ = self._transport_error
                self._fail(item.action_id, error)
            elif isinstance(item, BannerReceived):
                self._banner_received.set()
            elif isinstance(item, LoginSucceeded):
                self._login_done.set()
            elif isinstance(item, LoginFailed):
                self._login_error = AuthenticationError(item.message)
                self._login_done.set()
            elif isinstance(item, UnexpectedMessage):
                self._unexpected += 1
                logger.warning("unexpected AMI packet (%s): %r", item.reason, item.message)
            elif isinstance(item, ConnectionTerminated):
                self._on_terminated(item)

    def _broadcast(self, event: Event) -> None:
        subscriptions = self._subscriptions
        if subscriptions:
            name = event.name.lower()
            for subscription in subscriptions:
                try:
                    matches = subscription._matches(event, name)
                except Exception as exc:  # a subscriber's predicate failed: its problem only
                    subscription._finish(exc)
                    self._subscriptions = [sub for sub in subscriptions if sub is not subscription]
                    continue
                if matches:
                    subscription._offer(event)

    def _completed(self, result: ActionResult) -> None:
        action_id = result.action_id
        waiter = self._waiters.pop(action_id, None)
        if waiter is not None:
            waiter.result = result
            waiter.done.set()
            return
        stream = self._streams.pop(action_id, None)
        if stream is not None:
            stream.result = result
            failure = result.failure
            stream._finish(
                None if failure is None else ActionFailed(failure, result, result.message)
            )

    def _fail(self, action_id: str, error: AMIError) -> None:
        waiter = self._waiters.pop(action_id, None)
        if waiter is not None:
            waiter.error = error
            waiter.done.set()
        stream = self._streams.pop(action_id, None)
        if stream is not None:
            stream._finish(error)

    def _on_terminated(self, item: ConnectionTerminated) -> None:
        cause = self._transport_error or item.error
        reason = str(self._transport_error) if self._transport_error else item.reason
        self._close_reason = reason
        self._close_error = cause
        clean = self._logging_off and cause is None
        for subscription in list(self._subscriptions):
            subscription._finish(None if clean else self._closed_error())
        self._banner_received.set()
        self._login_done.set()
        self._terminated.set()
        self._send_channel.close()

    def _closed_error(self) -> ConnectionClosed:
        error = ConnectionClosed(f"the AMI connection is closed: {self._close_reason or 'closed'}")
        error.__cause__ = self._close_error
        return error

    # -- connecting and closing -----------------------------------------------------------------
    async def _login(
        self,
        username: str,
        secret: str,
        auth: Literal["md5", "plain"],
        events: bool | str | Sequence[str] | None,
        timeout: float,
    ) -> None:
        with trio.move_on_after(timeout) as scope:
            await self._banner_received.wait()
            if self.closed:
                raise self._closed_error()
            await self._send(self._protocol.login(username, secret, auth=auth, events=events))
            await self._login_done.wait()
        if scope.cancelled_caught:
            raise AMIConnectionError(f"no login answer within {timeout} s")
        if self._login_error is not None:
            raise self._login_error
        if self.closed:
            raise self._closed_error()

    async def aclose(self) -> None:
        """Log off (waiting at most ``logoff_timeout``), close the stream, stop the tasks.

        Safe to call more than once and from a cancelled scope: the goodbye is shielded, and
        bounded by the timeout.
        """
        with trio.CancelScope(shield=True):
            if not self._terminated.is_set() and self._protocol.state in (
                State.READY,
                State.CONNECTED,
            ):
                with trio.move_on_after(self._logoff_timeout):
                    self._logging_off = True
                    try:
                        await self._send(self._protocol.logoff())
                    except AMIError:
                        pass
                    else:
                        await self._terminated.wait()
            self._scope.cancel()
            await self._stopped.wait()

    # -- actions --------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._terminated.is_set() or self._logging_off:
            raise self._closed_error()

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
        the session ends first. A cancelled or timed-out action is forgotten: its late reply is
        dropped and the connection stays usable.
        """
        act = _action(action, headers, fields)
        self._check_open()
        action_id, data = self._protocol.send_action(
            act, complete_on=complete_on, outcome_event=outcome_event
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
        act = _action(action, headers, fields)
        self._check_open()
        action_id, data = self._protocol.send_action(act, complete_on=complete_on, stream=True)
        stream = ActionStream(lambda event, name: True, buffer=buffer)
        self._streams[action_id] = stream
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
        self,
        *names: str,
        predicate: Callable[[Event], bool] | None = None,
        buffer: int = DEFAULT_BUFFER,
        overflow: OverflowPolicy = "error",
    ) -> AsyncIterator[Subscription]:
        """Receive the events whose name matches one of ``names`` (exact or glob, any case; none
        means every event) and ``predicate``::

            async with ami.subscribe("Hangup", "Dial*") as events:
                async for event in events:
                    ...

        Each subscription buffers up to ``buffer`` events; see :mod:`trio_ami._subscription`
        for the ``overflow`` policies. The reader never waits for a subscriber.
        """
        self._check_open()
        subscription = Subscription(
            _Matcher(names, predicate),
            buffer=buffer,
            overflow=overflow,
            on_close=self._forget_subscription,
        )
        self._subscriptions.append(subscription)
        await trio.lowlevel.checkpoint()
        try:
            yield subscription
        finally:
            subscription.close()

    def _forget_subscription(self, subscription: Subscription) -> None:
        self._subscriptions = [sub for sub in self._subscriptions if sub is not subscription]

    # -- typed helpers --------------------------------------------------------------------------
    async def ping(self) -> Response:
        """Ping the server (``Ping: Pong``)."""
        return (await self.action("Ping")).response

    async def logoff(self) -> None:
        """End the session: same as leaving the ``open_ami`` block."""
        await self.aclose()

    async def command(self, command: str, *, timeout: float | None = -1.0) -> list[str]:
        """Run a CLI command; its output lines, the same on every AMI version.

        A command Asterisk refuses raises :class:`ActionFailed` (``error.result.output`` holds
        what it printed).
        """
        return (await self.action("Command", Command=command, timeout=timeout)).output

    async def originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int | str | None = None,
        application: str | None = None,
        data: str | None = None,
        timeout: float | None = None,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        account: str | None = None,
        codecs: Sequence[str] | None = None,
        early_media: bool | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        wait: bool = False,
        check: bool = True,
        extra: Mapping[str, HeaderValue] | None = None,
    ) -> ActionResult:
        """Originate a call to ``channel``, connected to ``context``/``exten``/``priority`` or to
        ``application``/``data``. ``timeout`` is how long to ring, in seconds.

        With ``wait=True`` the call is queued (``Async: true``) and the result is complete when
        the ``OriginateResponse`` event reports the outcome (``result.outcome``: ``Response``
        Success or Failure, ``Reason``, ``Uniqueid``, ``Channel``); a failed outcome raises
        :class:`ActionFailed` unless ``check=False``. Without it, the result is the server's
        acknowledgement.
        """
        if (application is None) == (exten is None):
            raise ValueError("originate to either exten (with context, priority) or application")
        headers: dict[str, HeaderValue] = {
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": priority,
            "Application": application,
            "Data": data,
            "Timeout": None if timeout is None else int(timeout * 1000),
            "CallerID": caller_id,
            "Account": account,
            "Codecs": ",".join(codecs) if codecs else None,
            "EarlyMedia": early_media,
            "ChannelId": channel_id,
            "OtherChannelId": other_channel_id,
            "Async": True if wait else None,
            "Variable": [f"{key}={value}" for key, value in (variables or {}).items()] or None,
        }
        if extra:
            headers.update(extra)
        limit = self.action_timeout
        if wait and limit is not None:
            limit = max(limit, (timeout if timeout is not None else 30.0) + 30.0)
        return await self.action(
            "Originate",
            headers,
            timeout=limit,
            check=check,
            outcome_event="OriginateResponse" if wait else None,
        )

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        priority: int | str = 1,
        *,
        extra_channel: str | None = None,
        extra_context: str | None = None,
        extra_exten: str | None = None,
        extra_priority: int | str | None = None,
    ) -> Response:
        """Transfer ``channel`` (and optionally a second one) to a dialplan location."""
        result = await self.action(
            "Redirect",
            {
                "Channel": channel,
                "Context": context,
                "Exten": exten,
                "Priority": priority,
                "ExtraChannel": extra_channel,
                "ExtraContext": extra_context,
                "ExtraExten": extra_exten,
                "ExtraPriority": extra_priority,
            },
        )
        return result.response

    async def set_var(self, variable: str, value: str, *, channel: str | None = None) -> None:
        """Set a channel variable, or a global one when ``channel`` is not given."""
        await self.action("Setvar", {"Channel": channel, "Variable": variable, "Value": value})

    async def get_var(self, variable: str, *, channel: str | None = None) -> str:
        """A channel (or global) variable's value; ``""`` when it is not set."""
        result = await self.action("Getvar", {"Channel": channel, "Variable": variable})
        return result.response.get("Value", "")

    async def _list(self, action: str, headers: Headers | None = None) -> list[Event]:
        return list((await self.action(action, headers)).events)

    async def status(self, channel: str | None = None) -> list[Event]:
        """``Status`` events for one channel or all of them."""
        return await self._list("Status", {"Channel": channel})

    async def core_show_channels(self) -> list[Event]:
        """One ``CoreShowChannel`` event per active channel."""
        return await self._list("CoreShowChannels")

    async def sip_peers(self) -> list[Event]:
        """chan_sip peers (``PeerEntry`` events)."""
        return await self._list("SIPpeers")

    async def iax_peers(self) -> list[Event]:
        """IAX2 peers (``PeerEntry`` events)."""
        return await self._list("IAXpeerlist")

    async def pjsip_endpoints(self) -> list[Event]:
        """PJSIP endpoints (``EndpointList`` events)."""
        return await self._list("PJSIPShowEndpoints")

    async def get_config(
        self, filename: str, *, category: str | None = None
    ) -> dict[str, list[str]]:
        """A configuration file as ``{category: [line, ...]}``, lines as ``key=value``."""
        result = await self.action("GetConfig", {"Filename": filename, "Category": category})
        categories: dict[str, list[str]] = {}
        names: dict[str, str] = {}
        for key, value in result.response.headers:
            kind, _, number = key.partition("-")
            if kind == "Category":
                names[number] = value
                categories[value] = []
            elif kind == "Line":
                name = names.get(number.partition("-")[0])
                if name is not None:
                    categories[name].append(value)
        return categories

    async def get_config_json(self, filename: str, *, category: str | None = None) -> Any:
        """A configuration file as the JSON object Asterisk builds (``GetConfigJSON``)."""
        result = await self.action("GetConfigJSON", {"Filename": filename, "Category": category})
        return json.loads(result.response.get("JSON", "{}"))

    async def extension_state(self, exten: str, context: str) -> Response:
        """The hint state of an extension (``Status``, ``StatusText``)."""
        return (await self.action("ExtensionState", Exten=exten, Context=context)).response

    async def user_event(self, name: str, headers: Headers | None = None) -> Response:
        """Raise a ``UserEvent`` named ``name`` carrying ``headers``."""
        pairs: list[tuple[str, HeaderValue]] = [("UserEvent", name)]
        if headers:
            pairs.extend(headers.items() if isinstance(headers, Mapping) else headers)
        return (await self.action("UserEvent", pairs)).response

    async def events(self, mask: bool | str | Sequence[str]) -> Response:
        """Set the server-side event mask: ``True``/``False`` or classes (``["call"]``)."""
        if isinstance(mask, bool):
            value = "on" if mask else "off"
        else:
            value = mask if isinstance(mask, str) else ",".join(mask)
        return (await self.action("Events", EventMask=value)).response

    async def filter(self, expression: str, *, operation: str = "Add") -> Response:
        """Add a server-side event filter (``Event: Hangup``, ``!Event: Newexten``)."""
        return (await self.action("Filter", Operation=operation, Filter=expression)).response


# -- making connections -------------------------------------------------------------------------
async def wrap_ami_stream(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    *,
    username: str,
    secret: str,
    auth: Literal["md5", "plain"] = "md5",
    events: bool | str | Sequence[str] | None = True,
    login_timeout: float = 10.0,
    action_timeout: float | None = 30.0,
    logoff_timeout: float = 2.0,
    protocol: ClientProtocol | None = None,
) -> AMIConnection:
    """Log in over any trio stream and return the connection, its tasks in ``nursery``.

    Close it with :meth:`AMIConnection.aclose`. Raises :class:`AuthenticationError` if the login
    is refused, :class:`AMIConnectionError` if the server does not answer within
    ``login_timeout``, :class:`ConnectionClosed` if it hangs up first.
    """
    connection = AMIConnection(
        stream,
        protocol or ClientProtocol(),
        action_timeout=action_timeout,
        logoff_timeout=logoff_timeout,
    )
    await nursery.start(connection._run)
    try:
        await connection._login(username, secret, auth, events, login_timeout)
    except BaseException:
        await connection.aclose()
        raise
    return connection


async def _open_stream(
    host: str,
    port: int | None,
    tls: bool | ssl.SSLContext | None,
    connect_timeout: float,
) -> trio.abc.Stream:
    if port is None:
        port = 5039 if tls else 5038
    try:
        with trio.fail_after(connect_timeout):
            tcp = await trio.open_tcp_stream(host, port)
            if not tls:
                return tcp
            context = tls if isinstance(tls, ssl.SSLContext) else ssl.create_default_context()
            tls_stream = trio.SSLStream(tcp, context, server_hostname=host)
            try:
                await tls_stream.do_handshake()
            except BaseException:
                await trio.aclose_forcefully(tcp)
                raise
            return tls_stream
    except trio.TooSlowError:
        raise AMIConnectionError(
            f"could not connect to {host}:{port} within {connect_timeout} s"
        ) from None
    except _TRANSPORT_ERRORS as exc:
        raise AMIConnectionError(f"could not connect to {host}:{port}: {exc}") from exc


async def connect_ami(
    nursery: trio.Nursery,
    host: str,
    port: int | None = None,
    *,
    username: str,
    secret: str,
    auth: Literal["md5", "plain"] = "md5",
    tls: bool | ssl.SSLContext | None = None,
    events: bool | str | Sequence[str] | None = True,
    connect_timeout: float = 10.0,
    login_timeout: float = 10.0,
    action_timeout: float | None = 30.0,
    logoff_timeout: float = 2.0,
    protocol: ClientProtocol | None = None,
) -> AMIConnection:
    """Connect and log in, running the connection's tasks in the caller's ``nursery``.

    Like :func:`open_ami`, but the caller closes it with :meth:`AMIConnection.aclose`.
    """
    stream = await _open_stream(host, port, tls, connect_timeout)
    return await wrap_ami_stream(
        nursery,
        stream,
        username=username,
        secret=secret,
        auth=auth,
        events=events,
        login_timeout=login_timeout,
        action_timeout=action_timeout,
        logoff_timeout=logoff_timeout,
        protocol=protocol,
    )


def _unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one meaningful exception inside a nursery's group, or the group itself."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        elif not isinstance(exc, trio.Cancelled):
            leaves.append(exc)

    walk(group)
    if len(leaves) == 1:
        return leaves[0]
    return group


@asynccontextmanager
async def open_ami(
    host: str,
    port: int | None = None,
    *,
    username: str,
    secret: str,
    auth: Literal["md5", "plain"] = "md5",
    tls: bool | ssl.SSLContext | None = None,
    events: bool | str | Sequence[str] | None = True,
    connect_timeout: float = 10.0,
    login_timeout: float = 10.0,
    action_timeout: float | None = 30.0,
    logoff_timeout: float = 2.0,
    protocol: ClientProtocol | None = None,
) -> AsyncIterator[AMIConnection]:
    """Connect to an AMI server, log in, and log off when the block ends::

        async with trio_ami.open_ami("pbx.example.com", username="admin", secret="...") as ami:
            print(await ami.command("core show version"))

    ``port`` defaults to 5038, or 5039 with ``tls`` (``True`` for a default, verifying
    ``ssl.SSLContext``, or a context of your own). ``auth`` is ``"md5"`` (challenge-response:
    the secret never crosses the wire) or ``"plain"``. ``events`` sets the event mask at login.
    ``protocol`` lets you pass a configured :class:`ClientProtocol` (limits, list actions).

    Errors are trio-ami's own, never an exception group: :class:`AMIConnectionError` when the
    server cannot be reached, :class:`AuthenticationError` when the login is refused.
    """
    try:
        async with trio.open_nursery() as nursery:
            connection = await connect_ami(
                nursery,
                host,
                port,
                username=username,
                secret=secret,
                auth=auth,
                tls=tls,
                events=events,
                connect_timeout=connect_timeout,
                login_timeout=login_timeout,
                action_timeout=action_timeout,
                logoff_timeout=logoff_timeout,
                protocol=protocol,
            )
            # From here on only aclose() stops the connection's tasks, so that the goodbye it
            # sends still goes through when the block is cancelled (aclose bounds the wait).
            connection._scope.shield = True
            try:
                yield connection
            finally:
                await connection.aclose()
    except BaseExceptionGroup as group:
        error = _unwrap(group)
        if error is group:
            raise
        raise error from error.__cause__  # keeps the cause, hides the group
