"""The reconnecting client: one long-lived handle over a succession of AMI sessions.

``ReconnectingAMI.run()`` connects, and whenever the session is lost (a restart, a broken or
dead link) connects again with jittered exponential backoff, logs in again, re-applies the event
mask and the server-side filters set through it, and hands every subscription the new
connection's events after a :class:`LinkRestored` marker. Actions go to the live connection;
one in flight when the link is lost fails with ``ConnectionClosed`` and is sent again only if
it is marked safe to retry (read-only actions, by default). See ``docs/resilience.md``.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal, TypeAlias

import attrs
import trio

from ._connection import AMIConnection, ConnectionStatistics
from ._helpers import TypedHelpers, build_action
from ._markers import LinkRestored, ResilientSubscription
from ._policy import ReconnectPolicy
from ._settings import Settings, SubscribeOptions
from ._subscription import (
    DEFAULT_BUFFER,
    ActionStream,
    Subscription,
    SubscriptionStatistics,
)
from .sansio import (
    Action,
    ActionResult,
    ActionTimeout,
    AMIConnectionError,
    AMIError,
    AuthenticationError,
    ClientProtocol,
    ConnectionClosed,
    Ending,
    Headers,
    HeaderValue,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "LinkState",
    "ReconnectStatistics",
    "ReconnectingAMI",
    "StreamFactory",
]

logger = logging.getLogger("trio_ami")

#: Opens a new transport to the server (what ``open_ami`` does with host and port).
StreamFactory: TypeAlias = Callable[[], Awaitable[trio.abc.Stream]]
#: Where a reconnecting client stands.
LinkState: TypeAlias = Literal["connecting", "connected", "reconnecting", "failed", "closed"]


@attrs.frozen
class ReconnectStatistics:
    """A snapshot of a reconnecting client."""

    state: LinkState
    #: Links restored after a loss.
    reconnects: int
    #: Connection attempts so far, and failed ones in a row now.
    attempts: int
    failures: int
    #: What last went wrong: a failed attempt, or why the last link was lost.
    last_error: AMIError | None
    #: Seconds connected, and without a link, since the client started.
    time_connected: float
    time_down: float
    #: The live connection's statistics, if there is one.
    connection: ConnectionStatistics | None
    subscriptions: tuple[SubscriptionStatistics, ...]


class ReconnectingAMI(TypedHelpers, trio.abc.AsyncResource):
    """An AMI client that survives the loss of its connection. :func:`open_reconnecting_ami`
    makes and runs one; to run one yourself, ``await nursery.start(client.run)``.

    It has the typed helpers, :meth:`action`, :meth:`action_stream` and :meth:`subscribe` of
    :class:`AMIConnection`, with the rules of ``docs/resilience.md``. ``connect`` opens a new
    stream for each attempt; ``settings`` are the options of every connection (a
    ``protocol`` must be a factory, since each session needs its own).
    """

    def __init__(
        self,
        connect: StreamFactory,
        *,
        username: str,
        secret: str,
        settings: Settings | None = None,
        policy: ReconnectPolicy | None = None,
        peer: str = "the server",
        rng: Callable[[], float] = random.random,
    ) -> None:
        settings = settings or Settings()
        if isinstance(settings.protocol, ClientProtocol):
            raise TypeError(
                "a reconnecting client needs a new protocol per connection: give a callable "
                "that makes one (functools.partial(ClientProtocol, ...)), not an instance"
            )
        self._connect = connect
        self._credentials = (username, secret)
        self._settings = settings
        self.policy = policy or ReconnectPolicy()
        self.peer = peer
        self._rng = rng
        self.action_timeout = settings.action_timeout
        self._connection: AMIConnection | None = None  # the live one, once logged in
        self._subscriptions: list[ResilientSubscription] = []
        self._filters: list[Action] = []  # server-side filters added through this client
        self._state: LinkState = "connecting"
        self._changed = trio.Event()
        self._scope = trio.CancelScope()
        self._started = False
        self._closing = False
        self._done = trio.Event()
        #: Why the client gave up, if it did (``None`` while it keeps trying).
        self.failure: AMIError | None = None
        self._last_error: AMIError | None = None
        self._reconnects = 0
        self._attempts = 0
        self._failures = 0
        self._since = 0.0  # when the state last went up or down (trio time, from run())
        self._time = {"connected": 0.0, "down": 0.0}
        self._ami_version = ""
        # Each subscription's part on the connection logging in, opened before the login.
        self._pending: list[tuple[ResilientSubscription, Subscription]] = []

    # -- state ----------------------------------------------------------------------------------
    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._state == "connected"

    @property
    def connection(self) -> AMIConnection | None:
        """The live connection, or ``None`` while there is none."""
        return self._connection

    @property
    def ami_version(self) -> str:
        """The AMI version of the live connection (of the last one while down)."""
        return self._ami_version

    def statistics(self) -> ReconnectStatistics:
        now = trio.current_time()
        spans = dict(self._time)
        if self._state in ("connected", "connecting", "reconnecting"):
            spans["connected" if self.connected else "down"] += now - self._since
        connection = self._connection
        return ReconnectStatistics(
            state=self._state,
            reconnects=self._reconnects,
            attempts=self._attempts,
            failures=self._failures,
            last_error=self._last_error,
            time_connected=spans["connected"],
            time_down=spans["down"],
            connection=None if connection is None else connection.statistics(),
            subscriptions=tuple(sub.statistics() for sub in self._subscriptions),
        )

    def _set_state(self, state: LinkState) -> None:
        now = trio.current_time()
        if self._state in ("connected", "connecting", "reconnecting"):
            self._time["connected" if self.connected else "down"] += now - self._since
        self._since = now
        self._state = state
        self._changed.set()
        self._changed = trio.Event()

    def closed_error(self) -> ConnectionClosed:
        """A new :class:`ConnectionClosed` saying why no action can be sent now."""
        failure = self.failure
        if failure is not None:
            ending = (
                Ending.LOGIN_REFUSED
                if isinstance(failure, AuthenticationError)
                else Ending.TRANSPORT_ERROR
            )
            error = ConnectionClosed(f"the AMI client gave up: {failure}", ending=ending)
            error.__cause__ = failure
            return error
        if self._closing or self._state == "closed":
            return ConnectionClosed("the AMI client is closed", ending=Ending.CLOSED_LOCALLY)
        connection = self._connection
        last = connection.closed_error() if connection is not None else self._last_error
        error = ConnectionClosed(
            f"the AMI link to {self.peer} is down" + ("" if last is None else f": {last}"),
            ending=last.ending if isinstance(last, ConnectionClosed) else Ending.TRANSPORT_ERROR,
        )
        error.__cause__ = last
        return error

    async def wait_connected(self) -> None:
        """Wait until the client is connected (logged in). Raises :class:`ConnectionClosed` if
        it is closed or gives up first."""
        await trio.lowlevel.checkpoint()
        while not self.connected:
            if self._state in ("failed", "closed") or self._closing:
                raise self.closed_error()
            await self._changed.wait()

    async def wait_closed(self) -> None:
        """Wait until the client has stopped (closed, or given up: see :attr:`failure`)."""
        await self._done.wait()

    async def _live_connection(self) -> AMIConnection:
        """The live connection, waiting for one if the policy says so."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            connection = self._connection
            if connection is not None and not connection.closed:
                return connection
            if self._state in ("failed", "closed") or self._closing:
                raise self.closed_error()
            if not self.policy.wait_when_down:
                raise self.closed_error()
            await self._changed.wait()

    # -- the task -------------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The client's task: connect, and again whenever the link is lost, until
        :meth:`aclose` or until it gives up (a refused login, ``max_attempts`` failures in a
        row), which is recorded in :attr:`failure`, not raised: its waiting actions and
        subscriptions get the error. Reports started at once; see :meth:`wait_connected`."""
        if self._started:
            raise RuntimeError("a ReconnectingAMI runs once")
        self._started = True
        self._since = trio.current_time()
        if self._closing:  # closed before it ran
            task_status.started()
            return
        try:
            async with trio.open_nursery() as nursery:
                task_status.started()
                with self._scope:
                    try:
                        await self._supervise(nursery)
                    except AMIError as exc:
                        self.failure = exc
                        logger.error("AMI client for %s gave up: %s", self.peer, exc)  # noqa: TRY400 - no traceback: it is no bug
                connection = self._connection
                if connection is not None:
                    await connection.aclose()  # logs off, shielded and bounded
                nursery.cancel_scope.cancel()  # a connection still logging in
        finally:
            self._connection = None
            self._set_state("failed" if self.failure is not None else "closed")
            for subscription in self._subscriptions:
                subscription.end(self.failure)
            self._done.set()

    async def _supervise(self, nursery: trio.Nursery) -> None:
        while True:
            try:
                connection = await self._attempt(nursery)
            except AuthenticationError as exc:
                if not self.policy.retry_refused_login:
                    self._last_error = exc
                    raise
                await self._back_off(exc)
            except AMIConnectionError as exc:
                await self._back_off(exc)
            else:
                await self._serve(connection)

    async def _attempt(self, nursery: trio.Nursery) -> AMIConnection:
        """Connect and log in, with every subscription's part open before the login."""
        self._attempts += 1
        stream = await self._connect()
        connection = AMIConnection(stream, self._settings, peer=self.peer)
        subscriptions = [sub for sub in self._subscriptions if sub.wants_events]
        segments = [sub.open_on(connection) for sub in subscriptions]
        try:
            await nursery.start(connection.run, *self._credentials)
        except BaseException:
            for segment in segments:
                segment.close()
            raise
        self._pending = list(zip(subscriptions, segments, strict=True))
        return connection

    async def _back_off(self, error: AMIError, up_for: float | None = None) -> None:
        """Count a failed attempt (or a link lost ``up_for`` seconds after its login), then
        wait the backoff; raise if that was the last attempt allowed."""
        self._failures += 1
        self._last_error = error
        failures = self._failures
        limit = self.policy.max_attempts
        if limit is not None and failures >= limit:
            raise AMIConnectionError(
                f"no session with {self.peer} after {failures} attempts: {error}"
            ) from error
        delay = self.policy.delay(failures, self._rng)
        if up_for is None:
            logger.warning(
                "AMI connection to %s failed (attempt %d): %s; next attempt in %.2f s",
                self.peer,
                failures,
                error,
                delay,
            )
        else:
            logger.warning(
                "AMI link to %s lost %.2f s after its login (attempt %d); next attempt in %.2f s",
                self.peer,
                up_for,
                failures,
                delay,
            )
        await trio.sleep(delay)

    async def _serve(self, connection: AMIConnection) -> None:
        """Re-apply the filters, declare the link up, and wait until it is lost."""
        for action in self._filters:
            try:
                await connection.action(action, check=False)
            except ConnectionClosed:
                break
            except AMIError as exc:  # a timeout: the link is probably dying, which is seen next
                logger.warning("re-applying %s on %s failed: %s", action.name, self.peer, exc)
        reconnecting = self._state == "reconnecting"
        restored = LinkRestored(
            down_for=trio.current_time() - self._since,
            attempts=self._failures + 1,
            reconnects=self._reconnects + 1,
        )
        if reconnecting:
            self._reconnects += 1
            logger.info("AMI link to %s is back after %.2f s", self.peer, restored.down_for)
        else:
            logger.info("AMI client connected to %s", self.peer)
        failures, self._failures = self._failures, 0
        self._connection = connection
        self._ami_version = connection.ami_version
        opened = {id(sub) for sub, _ in self._pending}
        for sub, segment in self._pending:
            sub.add_segment(segment, restored if reconnecting else None)
        for sub in self._subscriptions:
            if sub.wants_events and id(sub) not in opened:  # opened during the login
                sub.add_segment(sub.open_on(connection), None)
        self._pending = []
        self._set_state("connected")
        await connection.wait_closed()
        self._connection = None
        lost = connection.closed_error()
        self._last_error = lost
        logger.warning("AMI link to %s lost: %s", self.peer, lost)
        up_for = trio.current_time() - self._since
        self._set_state("reconnecting")
        if up_for < self.policy.stable_after:  # lost right after the login: one failure more
            self._failures = failures
            await self._back_off(lost, up_for)

    async def aclose(self) -> None:
        """Log off and stop: waiting actions fail with :class:`ConnectionClosed`, and every
        subscription ends after its buffered events. Safe to call more than once."""
        with trio.CancelScope(shield=True):
            if not self._closing:
                self._closing = True
                self._scope.cancel()
                self._changed.set()
                self._changed = trio.Event()
            if self._started:
                await self._done.wait()
            else:
                self._set_state("closed")
                for subscription in self._subscriptions:
                    subscription.end()
                self._done.set()

    #: Log off and stop, as leaving the ``open_reconnecting_ami`` block does (:meth:`aclose`).
    logoff = aclose

    # -- actions --------------------------------------------------------------------------------
    async def action(
        self,
        action: str | Action,
        headers: Headers | None = None,
        /,
        *,
        timeout: float | None = -1.0,
        check: bool = True,
        retry: bool | None = None,
        complete_on: str | None = None,
        outcome_event: str | None = None,
        max_items: int | None = None,
        **fields: HeaderValue,
    ) -> ActionResult:
        """:meth:`AMIConnection.action` on the live connection, waiting for one while the link
        is down (unless the policy's ``wait_when_down`` is false), all within ``timeout``.

        If the link is lost while the action is in flight, it fails with
        :class:`ConnectionClosed` and is not sent again, unless ``retry`` is true, or is
        ``None`` (the default) and its name is among the policy's ``retry_actions`` (read-only
        actions): it is then sent again once the link is back, within the same ``timeout``.
        """
        act = build_action(action, headers, fields)
        if retry is None:
            retry = act.name.lower() in self.policy.retry_actions
        limit = self.action_timeout if timeout is not None and timeout < 0 else timeout
        try:
            with trio.fail_after(math.inf if limit is None else limit):
                while True:
                    connection = await self._live_connection()
                    try:
                        result = await connection.action(
                            act,
                            timeout=None,
                            check=check,
                            complete_on=complete_on,
                            outcome_event=outcome_event,
                            max_items=max_items,
                        )
                    except ConnectionClosed:
                        if not retry or self._closing:
                            raise
                        logger.info(
                            "%s lost with the link to %s: sending it again", act.name, self.peer
                        )
                        continue
                    break
        except trio.TooSlowError:
            raise ActionTimeout(f"{act.name} got no complete answer within {limit} s") from None
        self._remember(act, result)
        return result

    def _remember(self, action: Action, result: ActionResult) -> None:
        """Keep what must be set again on the next connection: the event mask, the filters."""
        if result.failure is not None:
            return
        name = action.name.lower()
        if name == "events":
            mask = action.get("EventMask")
            if mask is not None:
                self._settings = attrs.evolve(self._settings, events=mask)
        elif name == "filter":
            self._filters.append(action)

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
        """:meth:`AMIConnection.action_stream` on the live connection (waiting for one at most
        ``action_timeout``). Never sent again: a lost link ends the iteration with
        :class:`ConnectionClosed`."""
        limit = self.action_timeout
        connection: AMIConnection | None = None
        with trio.move_on_after(math.inf if limit is None else limit):
            connection = await self._live_connection()
        if connection is None:
            raise ActionTimeout(f"no link to {self.peer} within {limit} s")
        async with connection.action_stream(
            action, headers, buffer=buffer, complete_on=complete_on, **fields
        ) as stream:
            yield stream

    # -- subscriptions --------------------------------------------------------------------------
    @asynccontextmanager
    async def subscribe(
        self, *names: str, **options: Unpack[SubscribeOptions]
    ) -> AsyncIterator[ResilientSubscription]:
        """Like :meth:`AMIConnection.subscribe`, across reconnections: the events of every
        connection in order, with :class:`LinkLost` and :class:`LinkRestored` markers where
        the link broke and came back."""
        await trio.lowlevel.checkpoint()
        subscription = self.open_subscription(*names, **options)
        try:
            yield subscription
        finally:
            subscription.close()

    def open_subscription(
        self, *names: str, **options: Unpack[SubscribeOptions]
    ) -> ResilientSubscription:
        """:meth:`subscribe` without the block: the caller closes the subscription."""
        if self._closing or self._state in ("failed", "closed"):
            raise self.closed_error()

        def forget() -> None:
            self._subscriptions = [sub for sub in self._subscriptions if sub is not subscription]

        subscription = ResilientSubscription(names, options, on_close=forget)
        self._subscriptions.append(subscription)
        connection = self._connection
        if connection is not None and not connection.closed:
            subscription.add_segment(subscription.open_on(connection), None)
        return subscription
