"""The three ways to connect: ``open_ami`` (a block), ``connect_ami`` (your nursery) and
``wrap_ami_stream`` (any trio stream), sharing one set of options (``_settings``).

``open_ami`` also owns the error contract of its block: trio-ami raises no exception group of
its own, the block's own errors come out as they are, and a session lost under the block
cancels it and comes out as one ``ConnectionClosed``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import trio

from ._connection import AMIConnection
from ._policy import ReconnectPolicy
from ._reconnect import ReconnectingAMI
from ._settings import ConnectOptions, SessionOptions, Settings
from ._transport import open_stream
from .sansio import ConnectionClosed

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from typing_extensions import Unpack

#: Seconds of silence before a reconnecting client pings the server.
DEFAULT_KEEPALIVE = 20.0

__all__ = [
    "connect_ami",
    "exception_leaves",
    "group_outcome",
    "only_exceptions",
    "open_ami",
    "open_reconnecting_ami",
    "reconnecting_client",
    "wrap_ami_stream",
]


async def wrap_ami_stream(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    *,
    username: str,
    secret: str,
    peer: str = "the server",
    **options: Unpack[SessionOptions],
) -> AMIConnection:
    """Log in over any trio stream and return the connection, its task in ``nursery``.

    ``options`` are those of :class:`SessionOptions` (``auth``, ``events``, the timeouts,
    ``protocol``); ``peer`` names the server in error messages. Close the connection with
    :meth:`AMIConnection.aclose` (or ``async with``); cancelling ``nursery`` closes it too,
    logging off first. Raises :class:`AuthenticationError` if the login is refused and
    :class:`AMIConnectionError` if no session could be had (see ``docs/client.md`` for each
    case); the stream is closed then.
    """
    connection = AMIConnection(stream, Settings(**options), peer=peer)
    await nursery.start(connection.run, username, secret)
    return connection


async def connect_ami(
    nursery: trio.Nursery,
    host: str,
    port: int | None = None,
    *,
    username: str,
    secret: str,
    **options: Unpack[ConnectOptions],
) -> AMIConnection:
    """Connect and log in, running the connection's task in the caller's ``nursery``.

    Like :func:`open_ami`, but the caller closes it with :meth:`AMIConnection.aclose`, or by
    cancelling ``nursery`` (the connection logs off first either way). When the server ends the
    session, work waiting on the connection fails with :class:`ConnectionClosed`; nothing else
    in ``nursery`` is cancelled (watch :meth:`AMIConnection.wait_closed` for that).
    """
    settings = Settings(**options)
    if port is None:
        port = 5039 if settings.tls else 5038
    stream = await open_stream(host, port, settings.tls, settings.connect_timeout)
    connection = AMIConnection(stream, settings, peer=f"{host}:{port}")
    await nursery.start(connection.run, username, secret)
    return connection


@asynccontextmanager
async def open_ami(
    host: str,
    port: int | None = None,
    *,
    username: str,
    secret: str,
    **options: Unpack[ConnectOptions],
) -> AsyncIterator[AMIConnection]:
    """Connect to an AMI server, log in, and log off when the block ends::

        async with trio_ami.open_ami("pbx.example.com", username="admin", secret="...") as ami:
            print(await ami.command("core show version"))

    ``port`` defaults to 5038, or 5039 with ``tls``. ``options`` are those of
    :class:`ConnectOptions`: ``tls`` (``True`` for a default, verifying ``ssl.SSLContext``, or
    a context of your own), ``auth`` (``"md5"``, the default: the secret never crosses the
    wire; or ``"plain"``), ``events`` (the event mask at login), ``connect_timeout``,
    ``login_timeout``, ``action_timeout``, ``logoff_timeout`` and ``protocol`` (a configured
    :class:`ClientProtocol`: limits, list actions).

    What comes out of the block (``docs/client.md`` lists every case):

    - no session could be had: :class:`AMIConnectionError`, or :class:`AuthenticationError`
      when the login was refused;
    - the session ends under the running block (the server closed, the link broke, a protocol
      error): the block is cancelled and one :class:`ConnectionClosed` comes out, whose
      ``ending``, message and ``__cause__`` say why, however many tasks were waiting on it;
    - the block's own exceptions pass through as they are (a group the block's nursery raised
      stays that group), and cancelling the block gives a plain ``trio.Cancelled``.

    The library never adds an exception group of its own.
    """
    error: BaseException | None = None
    connection: AMIConnection | None = None
    body = trio.CancelScope()
    try:
        async with trio.open_nursery() as nursery:
            # Nothing is raised inside the nursery, which would wrap it in a group: errors are
            # kept and raised once the nursery is done.
            try:
                connection = await connect_ami(
                    nursery, host, port, username=username, secret=secret, **options
                )
            except BaseException as exc:
                error = exc
            else:
                nursery.start_soon(_cancel_when_lost, connection, body)
                try:
                    with body:
                        yield connection
                except BaseException as exc:
                    error = exc
                await connection.aclose()
    except BaseExceptionGroup as group:
        error = group_outcome(group, error)
    if connection is not None:
        error = _block_outcome(connection, body, error)
    if error is not None:
        raise error


@asynccontextmanager
async def open_reconnecting_ami(
    host: str,
    port: int | None = None,
    *,
    username: str,
    secret: str,
    policy: ReconnectPolicy | None = None,
    **options: Unpack[ConnectOptions],
) -> AsyncIterator[ReconnectingAMI]:
    """A client that reconnects whenever the link is lost, for the life of the block::

        async with trio_ami.resilience.open_reconnecting_ami(
            "pbx.example.com", username="admin", secret="..."
        ) as ami:
            async with ami.subscribe("Hangup") as events:
                async for item in events:  # events, LinkLost and LinkRestored markers
                    ...

    The block starts at once, before the first connection (``await ami.wait_connected()``
    waits for it); actions wait for the link. ``policy`` (:class:`ReconnectPolicy`) sets the
    backoff and the rules for actions; ``options`` are those of :func:`open_ami`, and
    ``keepalive`` defaults to 20 seconds here (a half-open link is found within
    ``keepalive + keepalive_timeout``). When the client gives up (the login is refused, or
    ``max_attempts`` failed in a row), the block is cancelled and that error comes out of it;
    the block's own errors come out as they are, and no exception group is added.
    """
    client = reconnecting_client(
        host, port, username=username, secret=secret, policy=policy, **options
    )
    error: BaseException | None = None
    body = trio.CancelScope()
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(client.run)
            nursery.start_soon(_cancel_when_given_up, client, body)
            try:
                with body:
                    yield client
            except BaseException as exc:
                error = exc
            await client.aclose()
    except BaseExceptionGroup as group:
        error = group_outcome(group, error)
    failure = client.failure
    if failure is not None and trio.current_effective_deadline() != -math.inf:
        # The client gave up (and the block is not cancelled from outside): the block was
        # cancelled for it, or its tasks failed with it.
        lost = body.cancelled_caught if error is None else only_exceptions(_LOSS, error)
        if lost:
            error = failure
    if error is not None:
        raise error


def reconnecting_client(
    host: str,
    port: int | None = None,
    *,
    username: str,
    secret: str,
    policy: ReconnectPolicy | None = None,
    name: str | None = None,
    **options: Unpack[ConnectOptions],
) -> ReconnectingAMI:
    """A reconnecting client of ``host`` (not running yet), with a keepalive of 20 seconds
    unless ``options`` say otherwise; ``name`` is how logs and errors call the server."""
    settings = Settings(**options)
    if "keepalive" not in options:
        settings = attrs.evolve(settings, keepalive=DEFAULT_KEEPALIVE)
    if port is None:
        port = 5039 if settings.tls else 5038
    address = port

    async def connect() -> trio.abc.Stream:
        return await open_stream(host, address, settings.tls, settings.connect_timeout)

    peer = f"{host}:{port}" if name is None else f"{name} ({host}:{port})"
    return ReconnectingAMI(
        connect, username=username, secret=secret, settings=settings, policy=policy, peer=peer
    )


async def _cancel_when_given_up(client: ReconnectingAMI, body: trio.CancelScope) -> None:
    await client.wait_closed()
    if client.failure is not None:
        body.cancel()


async def _cancel_when_lost(connection: AMIConnection, body: trio.CancelScope) -> None:
    await connection.wait_closed()
    ending = connection.ending
    if ending is not None and not ending.clean:
        body.cancel()


def group_outcome(
    group: BaseExceptionGroup[BaseException], error: BaseException | None
) -> BaseException:
    """What a block raises when the nursery of the library's own tasks raised ``group``.

    Those tasks raise nothing but the Cancelled of a cancelled block: that comes out plain
    (the block's own error first). Anything else is a bug of trio-ami's own, shown whole.
    """
    if not only_exceptions((trio.Cancelled,), group):
        return group
    return error if error is not None else exception_leaves(group)[0]


def exception_leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside ``error``, groups flattened."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in exception_leaves(inner)]
    return [error]


def only_exceptions(kinds: tuple[type[BaseException], ...], error: BaseException) -> bool:
    return all(isinstance(leaf, kinds) for leaf in exception_leaves(error))


# What a block's tasks raise when the session ends under them.
_LOSS = (ConnectionClosed, trio.Cancelled)


def _block_outcome(
    connection: AMIConnection, body: trio.CancelScope, error: BaseException | None
) -> BaseException | None:
    """What ``open_ami`` raises, given how the block ended and how the session ended."""
    ending = connection.ending
    if ending is None or ending.clean or (error is not None and not only_exceptions(_LOSS, error)):
        return error  # the session was not lost, or the block failed in its own way
    cancelled = (
        [leaf for leaf in exception_leaves(error) if isinstance(leaf, trio.Cancelled)]
        if error
        else []
    )
    if cancelled and trio.current_effective_deadline() == -math.inf:
        return cancelled[0]  # the block is cancelled from outside as well: that wins
    if error is None and not body.cancelled_caught:
        return None  # the block was done before it noticed
    # The block was cancelled because the session ended, or its tasks failed with it.
    return connection.closed_error()
