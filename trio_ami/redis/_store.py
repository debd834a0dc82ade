"""Opening Redis (a clear error when it is not there) and riding out its loss (backoff)."""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import coredis
import coredis.exceptions
import trio
from anyio import TASK_STATUS_IGNORED
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from coredis.connection import TCPConnection
from coredis.retry import NoRetryPolicy

from ._errors import RedisUnavailable

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["FAILED", "LOST", "Backoff", "RedisClient", "open_redis", "safe_url"]

log = logging.getLogger("trio_ami.redis")

RedisClient = coredis.Redis[bytes]

#: What a command raises when Redis is out of reach (a running part retries after these).
LOST = (coredis.exceptions.ConnectionError, OSError)  # OSError: TimeoutError included
#: What a command raises when Redis fails it in any way (out of memory, say): retried as well.
FAILED = (coredis.exceptions.RedisError, OSError)


class _TCPConnection(TCPConnection):
    """coredis's TCP connection, closing its memory streams even when it could not connect:
    coredis closes them only once connected, and leaves the garbage collector to warn about
    them after each attempt that finds Redis down."""

    async def run(self, *, task_status: TaskStatus[None] = TASK_STATUS_IGNORED) -> None:
        try:
            await super().run(task_status=task_status)
        finally:
            for value in list(vars(self).values()):
                if isinstance(value, MemoryObjectSendStream | MemoryObjectReceiveStream):
                    value.close()


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


@asynccontextmanager
async def open_redis(
    url: str, *, connect_timeout: float = 5.0, client_name: str | None = None
) -> AsyncIterator[RedisClient]:
    """A coredis client for ``url`` (``redis://host:port/db``), checked with a PING;
    ``client_name`` names its connections in Redis's ``CLIENT LIST``.

    Raises :class:`RedisUnavailable` if Redis does not answer. The block's own exceptions come
    out as they are: coredis runs its connections in a nursery of its own, whose exception
    group would wrap them.
    """
    failure: BaseException | None = None
    error: BaseException | None = None
    try:
        pool = coredis.ConnectionPool.from_url(
            url, connect_timeout=connect_timeout, client_name=client_name
        )
        if pool.connection_class is TCPConnection:
            pool.connection_class = _TCPConnection
        # Never resend on our behalf: a resent XADD could send an action twice.
        client: RedisClient = coredis.Redis(connection_pool=pool, retry_policy=NoRetryPolicy())
        async with client:
            try:
                await client.ping()
            except (*LOST, coredis.exceptions.RedisError) as exc:
                failure = exc
            else:
                try:
                    yield client
                except BaseException as exc:
                    error = exc
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if error is None and failure is None:
            failure = next((leaf for leaf in leaves if not isinstance(leaf, trio.Cancelled)), None)
            if failure is None:
                error = leaves[0]
    except (*LOST, ValueError) as exc:  # a bad URL, or the connection refused on entry
        failure = exc
    if failure is not None:
        where = safe_url(url)
        raise RedisUnavailable(f"Redis at {where} does not answer: {failure}") from failure
    if error is not None:
        raise error


def safe_url(url: str) -> str:
    """``url`` without its password, for messages."""
    scheme, separator, rest = url.partition("://")
    credentials, at, place = rest.rpartition("@")
    if not at or not separator:
        return url
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}:***@{place}"


@attrs.define
class Backoff:
    """Jittered exponential delays between attempts: ``first`` doubling up to ``limit``."""

    first: float = 0.05
    limit: float = 2.0
    attempts: int = 0

    async def wait(self) -> None:
        delay = min(self.limit, self.first * 2**self.attempts)
        self.attempts += 1
        await trio.sleep(delay * random.uniform(0.5, 1.0))

    def reset(self) -> None:
        self.attempts = 0
