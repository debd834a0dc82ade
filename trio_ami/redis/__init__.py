"""Scale-out through Redis: collectors append the events of many Asterisk servers to Redis
streams, each event once; workers in many processes handle each event once, through consumer
groups, and send actions back through the collectors. See ``docs/scale-out.md``.

An optional part: ``pip install 'trio-ami[redis]'`` brings its Redis client, ``coredis``.
Neither ``trio_ami`` nor ``trio_ami.sansio`` imports it; names here are imported on first use,
so that the command line can offer its commands without coredis installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Every public name, and the module it comes from.
_EXPORTS: dict[str, str] = {
    "Collector": "._collector",
    "CollectorStatistics": "._collector",
    "ServerStatistics": "._collector",
    "AMIServer": "._collector",
    "AMISession": "._collector",
    "ServerSource": "._collector",
    "open_worker": "._worker",
    "Worker": "._worker",
    "WorkerStatistics": "._worker",
    "StreamEvent": "._worker",
    "RemoteServer": "._worker",
    "open_redis": "._store",
    "Keys": "._entries",
    "ScaleOutError": "._errors",
    "RedisUnavailable": "._errors",
    "MalformedEntry": "._errors",
    "ServerUnavailable": "._errors",
    "EmbeddedRedis": "._embedded",
    "RedisBinaryMissing": "._embedded",
}

if TYPE_CHECKING:
    from ._collector import (
        AMIServer as AMIServer,
        AMISession as AMISession,
        Collector as Collector,
        CollectorStatistics as CollectorStatistics,
        ServerSource as ServerSource,
        ServerStatistics as ServerStatistics,
    )
    from ._embedded import EmbeddedRedis as EmbeddedRedis, RedisBinaryMissing as RedisBinaryMissing
    from ._entries import Keys as Keys
    from ._errors import (
        MalformedEntry as MalformedEntry,
        RedisUnavailable as RedisUnavailable,
        ScaleOutError as ScaleOutError,
        ServerUnavailable as ServerUnavailable,
    )
    from ._store import open_redis as open_redis
    from ._worker import (
        RemoteServer as RemoteServer,
        StreamEvent as StreamEvent,
        Worker as Worker,
        WorkerStatistics as WorkerStatistics,
        open_worker as open_worker,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = list(_EXPORTS)
