"""Keepalive on scripted memory streams, under a clock that jumps: a silent peer is declared dead
within interval + deadline, traffic counts as life, and a reconnecting client reconnects."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from helpers.links import answer, event, reconnecting, serve_logins
from helpers.scripted import ScriptedServer, stream_pair
from trio.testing import MockClock

import trio_ami
from trio_ami import ConnectionClosed, Ending, Event, Settings
from trio_ami.resilience import LinkLost, LinkRestored


@asynccontextmanager
async def session(**options: Any) -> AsyncIterator[tuple[trio_ami.AMIConnection, ScriptedServer]]:
    client, server = stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.accept_login)
        ami = await trio_ami.wrap_ami_stream(
            nursery, client, username="admin", secret="pw", auth="plain", **options
        )
        yield ami, server
        await ami.aclose()


async def test_a_silent_peer_is_declared_dead_within_interval_plus_deadline(
    autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with session(keepalive=5.0, keepalive_timeout=2.0) as (ami, server):
        start = trio.current_time()
        ping = await server.expect("Ping")  # after 5 s of silence; never answered
        assert trio.current_time() - start == pytest.approx(5.0)
        assert ping.action_id
        await ami.wait_closed()
        assert trio.current_time() - start == pytest.approx(7.0)
    assert ami.ending is Ending.TRANSPORT_ERROR
    assert ami.close_reason == (
        "the connection broke: no answer to the keepalive Ping within 2.0 s"
    )
    assert "AMI peer declared dead: no answer to the keepalive Ping within 2.0 s" in [
        record.getMessage() for record in caplog.records
    ]


async def test_waiting_actions_fail_when_the_peer_is_declared_dead(
    autojump_clock: MockClock,
) -> None:
    async with session(keepalive=5.0, keepalive_timeout=2.0, action_timeout=None) as (ami, _):
        with pytest.raises(ConnectionClosed, match="keepalive Ping") as caught:
            await ami.action("Getvar", Variable="X")  # unanswered, no deadline of its own
        assert caught.value.ending is Ending.TRANSPORT_ERROR


async def test_an_answering_peer_is_pinged_once_per_quiet_interval(
    autojump_clock: MockClock,
) -> None:
    async with session(keepalive=5.0, keepalive_timeout=2.0) as (ami, server):
        start = trio.current_time()
        times = []
        for _ in range(4):
            await answer(server, "Ping", ("Ping", "Pong"))
            times.append(trio.current_time() - start)
        assert times == pytest.approx([5.0, 10.0, 15.0, 20.0])
        assert not ami.closed


async def test_a_busy_link_is_not_pinged(autojump_clock: MockClock) -> None:
    async with session(keepalive=5.0, keepalive_timeout=2.0) as (ami, server):
        async with ami.subscribe() as events:
            for second in range(60):  # an event every 4 s for 4 minutes: never 5 s of silence
                await server.send(event("Tick", N=str(second)))
                received = await events.receive()
                assert isinstance(received, Event)
                await trio.sleep(4.0)
        assert ami.protocol.statistics().actions_sent == 1  # the login alone
        assert not ami.closed
        start = trio.current_time()
        await server.expect("Ping")  # silence at last
        assert trio.current_time() - start == pytest.approx(1.0)  # 5 s after the last event


async def test_keepalive_is_off_by_default_and_checked(autojump_clock: MockClock) -> None:
    async with session() as (ami, _):
        await trio.sleep(3600)
        assert ami.protocol.statistics().actions_sent == 1
    assert Settings().keepalive is None
    with pytest.raises(ValueError, match="keepalive must be positive"):
        Settings(keepalive=0)
    with pytest.raises(ValueError, match="keepalive_timeout must be positive"):
        Settings(keepalive_timeout=-1)


async def test_a_reconnecting_client_replaces_a_dead_link(
    autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_ami")
    async with reconnecting(keepalive=10.0, keepalive_timeout=3.0) as (ami, dialer):
        async with ami.subscribe() as events:
            (first,) = await serve_logins(dialer, 1)
            await first.send(event("Hangup"))
            assert isinstance(await events.receive(), Event)
            heard = trio.current_time()
            await first.expect("Ping")  # and then the black hole: nothing more
            (second,) = await serve_logins(dialer, 1)
            assert trio.current_time() - heard == pytest.approx(13.0)
            lost = await events.receive()
            assert isinstance(lost, LinkLost)
            assert "keepalive Ping within 3.0 s" in lost.reason
            assert isinstance(await events.receive(), LinkRestored)
            await answer(second, "Ping")  # the new link is kept alive as well
            assert ami.connected


async def test_a_session_that_ends_during_the_ping_stops_the_keepalive(
    autojump_clock: MockClock,
) -> None:
    async with session(keepalive=5.0, keepalive_timeout=2.0) as (ami, server):
        await server.expect("Ping")
        await server.close()
        await ami.wait_closed()
    assert ami.ending is Ending.CLOSED_BY_SERVER
