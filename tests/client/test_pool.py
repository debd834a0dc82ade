"""A pool of servers: clients by name, actions routed by name, a merged subscription tagged with
each event's server, and one server down or refusing the login holding up no other."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest
import trio
from helpers.links import SECRET, Dialer, answer, event, serve_logins
from trio.testing import MockClock

from trio_ami import ConnectionClosed, Ending, Event, Settings, SubscriptionOverflow
from trio_ami.resilience import (
    AMIPool,
    LinkLost,
    PoolEvent,
    ReconnectingAMI,
    ReconnectPolicy,
    ServerConfig,
    ServerOverflow,
    open_ami_pool,
)
from trio_ami.sansio import requests
from trio_ami.testing import FakeAMIServer


@asynccontextmanager
async def pool_of(
    *names: str, policy: ReconnectPolicy | None = None, down: str | None = None
) -> AsyncIterator[tuple[AMIPool, dict[str, Dialer]]]:
    """A running pool of scripted servers, one :class:`Dialer` each (where nothing listens
    for the server named ``down``)."""
    dialers = {name: Dialer(refusals=10**6 if name == down else 0) for name in names}
    settings = Settings(auth="plain", logoff_timeout=0.5)
    pool = AMIPool(
        {
            name: ReconnectingAMI(
                dialer.connect,
                username="admin",
                secret=SECRET,
                settings=settings,
                policy=policy,
                peer=name,
                rng=lambda: 0.0,
            )
            for name, dialer in dialers.items()
        }
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.run)
        yield pool, dialers
        await pool.aclose()


def tags(items: Sequence[PoolEvent]) -> list[tuple[str, str]]:
    return [
        (
            tagged.server,
            tagged.item.name if isinstance(tagged.item, Event) else type(tagged.item).__name__,
        )
        for tagged in items
    ]


async def test_events_carry_their_server_and_actions_go_by_name(autojump_clock: MockClock) -> None:
    async with pool_of("east", "west") as (pool, dialers):
        assert sorted(pool) == ["east", "west"] and len(pool) == 2
        assert pool.client("east") is pool["east"]
        with pytest.raises(
            KeyError, match=r"no server named 'north' in the pool \(servers: east, west\)"
        ):
            pool["north"]
        async with pool.subscribe("Hangup") as events:
            (east,) = await serve_logins(dialers["east"], 1)
            (west,) = await serve_logins(dialers["west"], 1)
            await pool.wait_connected()
            assert pool.states() == {"east": "connected", "west": "connected"}
            await east.send(event("Hangup", Channel="e1"), event("Newexten"))
            await trio.testing.wait_all_tasks_blocked()
            await west.send(event("Hangup", Channel="w1"))
            items = [await events.receive() for _ in range(2)]
            assert tags(items) == [("east", "Hangup"), ("west", "Hangup")]
            assert [
                tagged.item["Channel"] for tagged in items if isinstance(tagged.item, Event)
            ] == [
                "e1",
                "w1",
            ]
            async with trio.open_nursery() as nursery:
                nursery.start_soon(answer, west, "Ping", ("Ping", "Pong"))
                assert (await pool.action("west", "Ping")).response["Ping"] == "Pong"
            async with trio.open_nursery() as nursery:
                nursery.start_soon(answer, east, "Getvar", ("Value", "42"))
                assert await pool.request("east", requests.get_var("X")) == "42"
            assert [m["Action"] for m in east.received] == ["Login", "Getvar"]
            assert [m["Action"] for m in west.received] == ["Login", "Ping"]
            assert set(events.parts) == {"east", "west"}


async def test_one_server_down_holds_up_no_other(autojump_clock: MockClock) -> None:
    policy = ReconnectPolicy(initial_delay=5.0)
    async with pool_of("up", "down", policy=policy, down="down") as (pool, dialers):
        async with pool.subscribe() as events:
            (up,) = await serve_logins(dialers["up"], 1)
            await pool.wait_connected("up")
            await up.send(event("FullyBooted"))
            assert tags([await events.receive()]) == [("up", "FullyBooted")]
            await trio.sleep(60)
            states = pool.states()
            assert states == {"up": "connected", "down": "connecting"}
            statistics = pool.statistics()
            assert statistics["down"].failures == 4  # at 0, 5, 15 and 35 s
            assert statistics["up"].failures == 0


async def test_a_server_refusing_the_login_says_so_in_the_stream_and_the_rest_go_on(
    autojump_clock: MockClock,
) -> None:
    async with pool_of("good", "bad") as (pool, dialers):
        async with pool.subscribe("Hangup") as events:
            (good,) = await serve_logins(dialers["good"], 1)
            bad = await dialers["bad"].server()
            await bad.greet()
            login = await bad.expect("Login")
            await bad.answer(login, "Error", ("Message", "Authentication failed"))
            gave_up = await events.receive()
            assert gave_up.server == "bad"
            assert isinstance(gave_up.item, LinkLost)
            assert gave_up.item.reason == "bad: Authentication failed"
            assert gave_up.item.ending is Ending.LOGIN_REFUSED
            assert pool.states()["bad"] == "failed"
            with pytest.raises(ConnectionClosed, match="gave up"):
                await pool.wait_connected()
            await good.send(event("Hangup"))
            assert tags([await events.receive()]) == [("good", "Hangup")]
            dialers["good"].break_link()
            await serve_logins(dialers["good"], 1)
            assert tags([await events.receive(), await events.receive()]) == [
                ("good", "LinkLost"),
                ("good", "LinkRestored"),
            ]
        async with pool.subscribe("Hangup") as later:  # opened once "bad" has given up
            first = await later.receive()
            assert first.server == "bad" and isinstance(first.item, LinkLost)
            assert first.item.ending is Ending.LOGIN_REFUSED
            await trio.sleep(20)  # "good" is stable by now
            dialers["good"].break_link()
            await serve_logins(dialers["good"], 1)
            assert tags([await later.receive(), await later.receive()]) == [
                ("good", "LinkLost"),
                ("good", "LinkRestored"),
            ]


async def test_an_overflow_names_its_server_and_the_stream_goes_on(
    autojump_clock: MockClock,
) -> None:
    async with pool_of("a", "b") as (pool, dialers):
        async with pool.subscribe(servers=("a",), buffer=2, merged_buffer=1) as events:
            assert set(events.parts) == {"a"}
            (a,) = await serve_logins(dialers["a"], 1)
            await serve_logins(dialers["b"], 1)
            await a.send(*(event("Tick", N=str(n)) for n in range(10)))
            await trio.testing.wait_all_tasks_blocked()
            received: list[PoolEvent] = []
            with pytest.raises(ServerOverflow) as caught:
                while True:
                    received.append(await events.receive())
            assert isinstance(caught.value, SubscriptionOverflow)
            assert caught.value.server == "a"
            assert str(caught.value).startswith("a: subscriber fell behind: ")
            await a.send(event("Tock"))
            while ("a", "Tock") not in tags(received):
                received.append(await events.receive())
            assert tags(received) == [("a", "Tick")] * 2 + [("a", "Tock")]
            assert caught.value.missed == 8  # the part kept 2 of the 10


async def test_closing_the_pool_ends_the_merged_stream(autojump_clock: MockClock) -> None:
    async with pool_of("a") as (pool, dialers):
        async with pool.subscribe() as events:
            (server,) = await serve_logins(dialers["a"], 1)
            await server.send(event("Hangup"))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(server.answer_logoff)
                await pool.aclose()
            assert tags([tagged async for tagged in events]) == [("a", "Hangup")]
            assert pool.states() == {"a": "closed"}
            with pytest.raises(ConnectionClosed, match="not running"):
                async with pool.subscribe():
                    pass  # pragma: no cover


async def test_a_closed_merged_stream_stops_its_pumps(autojump_clock: MockClock) -> None:
    async with pool_of("a") as (pool, dialers):
        async with pool.subscribe(merged_buffer=1) as events:
            (server,) = await serve_logins(dialers["a"], 1)
            await server.send(event("One"), event("Two"), event("Three"))
            await trio.testing.wait_all_tasks_blocked()
        await events.aclose()
        assert pool["a"].statistics().subscriptions == ()


def test_a_pool_needs_servers_and_its_configs_hide_the_secret() -> None:
    with pytest.raises(ValueError, match="at least one server"):
        AMIPool({})
    config = ServerConfig("pbx", username="admin", secret=SECRET, options={"auth": "plain"})
    assert SECRET not in repr(config)
    client = config.client("east", None)
    assert client.peer == "east (pbx:5038)"
    assert client.policy == ReconnectPolicy()


async def test_a_pool_over_loopback_with_one_server_not_listening() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    closed_port = listener.socket.getsockname()[1]
    await listener.aclose()
    server = FakeAMIServer()
    policy = ReconnectPolicy(initial_delay=0.01, max_delay=0.05)
    with trio.fail_after(10):
        async with server.listen_tcp() as (host, port):
            servers = {
                "live": ServerConfig(host, port=port, username="admin", secret="secret"),
                "gone": ServerConfig(host, port=closed_port, username="admin", secret="secret"),
            }
            async with open_ami_pool(servers, policy=policy) as pool:
                async with pool.subscribe("UserEvent") as events:
                    await pool.wait_connected("live")
                    server.push_event("UserEvent", {"UserEvent": "Hello"})
                    tagged = await events.receive()
                    assert tagged.server == "live"
                    assert isinstance(tagged.item, Event) and tagged.item["UserEvent"] == "Hello"
                    await pool["live"].ping()
                    server.disconnect_all()
                    assert tags([await events.receive(), await events.receive()]) == [
                        ("live", "LinkLost"),
                        ("live", "LinkRestored"),
                    ]
                    assert (await pool.action("live", "Ping")).response["Ping"] == "Pong"
                    assert pool.states()["gone"] in ("connecting", "reconnecting")
                    assert "connection refused" in str(pool.statistics()["gone"].last_error)
            assert pool.states() == {"live": "closed", "gone": "closed"}


async def test_the_pool_block_passes_its_own_errors_through() -> None:
    server = FakeAMIServer()
    with trio.fail_after(10):
        async with server.listen_tcp() as (host, port):
            config = ServerConfig(host, port=port, username="admin", secret="secret")
            with pytest.raises(KeyError, match="mine"):
                async with open_ami_pool({"only": config}) as pool:
                    await pool.wait_connected()
                    raise KeyError("mine")
            assert pool.states() == {"only": "closed"}


async def test_a_pool_closed_before_it_runs_closes_its_clients(autojump_clock: MockClock) -> None:
    client = ReconnectingAMI(Dialer().connect, username="admin", secret=SECRET)
    pool = AMIPool({"only": client})
    await pool.aclose()
    assert pool.states() == {"only": "closed"}
