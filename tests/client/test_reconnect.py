"""The reconnecting client on scripted memory-stream servers, under a clock that jumps: backoff,
giving up, markers, the rules for actions, what is re-applied, statistics and logs."""

from __future__ import annotations

import functools
import itertools
import logging
import random

import pytest
import trio
from helpers.links import SECRET, Dialer, answer, event, reconnecting, serve_logins
from helpers.secrets import assert_no_secret
from trio.testing import MockClock

from trio_ami import (
    ActionTimeout,
    AMIConnectionError,
    AuthenticationError,
    ClientProtocol,
    ConnectionClosed,
    Ending,
    Event,
    Settings,
)
from trio_ami.resilience import (
    LinkLost,
    LinkRestored,
    ReconnectingAMI,
    ReconnectPolicy,
    SubscriptionItem,
)
from trio_ami.sansio import requests


def gaps(times: list[float]) -> list[float]:
    """The time between each attempt and the next."""
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def names(items: list[SubscriptionItem]) -> list[str]:
    return [item.name if isinstance(item, Event) else type(item).__name__ for item in items]


async def take(
    events: trio.abc.ReceiveChannel[SubscriptionItem], count: int
) -> list[SubscriptionItem]:
    return [await events.receive() for _ in range(count)]


# -- the backoff --------------------------------------------------------------------------------
def test_the_delays_grow_by_the_factor_up_to_the_ceiling_less_the_jitter() -> None:
    policy = ReconnectPolicy(initial_delay=1.0, factor=2.0, max_delay=10.0, jitter=0.5)
    assert [policy.delay(n, lambda: 0.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert [policy.delay(n, lambda: 1.0) for n in range(1, 7)] == [0.5, 1, 2, 4, 5, 5]
    rng = random.Random(7)
    for failures in range(1, 50):
        ceiling = min(10.0, 2.0 ** (failures - 1))
        assert ceiling / 2 <= policy.delay(failures, rng.random) <= ceiling
    assert policy.delay(10**9, lambda: 0.0) == 10.0  # no overflow after years of attempts


@pytest.mark.parametrize(
    "options",
    [
        {"initial_delay": 0},
        {"max_delay": -1},
        {"factor": 0.5},
        {"jitter": 1.5},
        {"max_attempts": 0},
        {"stable_after": -1},
    ],
)
def test_a_policy_out_of_range_is_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        ReconnectPolicy(**options)  # type: ignore[arg-type]


async def test_failed_attempts_wait_the_backoff_with_its_jitter(autojump_clock: MockClock) -> None:
    policy = ReconnectPolicy(initial_delay=1.0, factor=2.0, max_delay=5.0, jitter=0.5)
    draws = iter([0.0, 1.0, 0.5, 0.0, 0.25])
    async with reconnecting(policy=policy, rng=lambda: next(draws), dialer=Dialer(5)) as (
        ami,
        dialer,
    ):
        await serve_logins(dialer, 1)
        await ami.wait_connected()
        assert gaps(dialer.attempts) == pytest.approx([1.0, 1.0, 3.0, 5.0, 4.375])
        statistics = ami.statistics()
        assert statistics.attempts == 6
        assert statistics.failures == 0
        assert statistics.time_down == pytest.approx(14.375)
        assert isinstance(statistics.last_error, AMIConnectionError)


async def test_it_gives_up_after_max_attempts(autojump_clock: MockClock) -> None:
    policy = ReconnectPolicy(initial_delay=1.0, max_attempts=3)
    dialer = Dialer(refusals=10)
    async with reconnecting(policy=policy, dialer=dialer) as (ami, _):
        with pytest.raises(ConnectionClosed, match="gave up") as caught:
            await ami.wait_connected()
        await ami.wait_closed()
    assert len(dialer.attempts) == 3
    assert ami.state == "failed"
    assert isinstance(ami.failure, AMIConnectionError)
    assert "after 3 attempts: could not connect to pbx:5038: connection refused" in str(ami.failure)
    assert caught.value.__cause__ is ami.failure
    with pytest.raises(ConnectionClosed, match="gave up"):
        await ami.ping()


async def test_a_refused_login_stops_it(autojump_clock: MockClock) -> None:
    async with reconnecting() as (ami, dialer):
        async with ami.subscribe() as events:
            server = await dialer.server()
            await server.greet()
            login = await server.expect("Login")
            await server.answer(login, "Error", ("Message", "Authentication failed"))
            await server.close()
            with pytest.raises(AuthenticationError, match="Authentication failed"):
                await events.receive()
    assert isinstance(ami.failure, AuthenticationError)
    assert len(dialer.attempts) == 1
    closed = ami.closed_error()
    assert closed.ending is Ending.LOGIN_REFUSED


async def test_an_option_keeps_trying_after_a_refused_login(autojump_clock: MockClock) -> None:
    policy = ReconnectPolicy(initial_delay=2.0, retry_refused_login=True)
    async with reconnecting(policy=policy) as (ami, dialer):
        server = await dialer.server()
        await server.greet()
        login = await server.expect("Login")
        await server.answer(login, "Error", ("Message", "Authentication failed"))
        await server.close()
        await serve_logins(dialer, 1)
        await ami.wait_connected()
        assert dialer.attempts[1] - dialer.attempts[0] == pytest.approx(2.0)
        assert isinstance(ami.statistics().last_error, AuthenticationError)


async def test_attempts_and_losses_are_logged_without_the_secret(
    autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_ami")
    async with reconnecting(policy=ReconnectPolicy(initial_delay=1.0), dialer=Dialer(2)) as (
        ami,
        dialer,
    ):
        await serve_logins(dialer, 1)
        await ami.wait_connected()
        await trio.sleep(10)  # a stable link: its loss is no failed attempt
        dialer.break_link()
        await serve_logins(dialer, 1)
        await ami.wait_connected()
    messages = [record.getMessage() for record in caplog.records]
    assert (
        "AMI connection to pbx:5038 failed (attempt 1): could not connect to pbx:5038: "
        "connection refused; next attempt in 1.00 s"
    ) in messages
    assert "AMI connection to pbx:5038 failed (attempt 2)" in messages[1]
    assert any(m.startswith("AMI link to pbx:5038 lost: ") for m in messages)
    assert "AMI link to pbx:5038 is back after 0.00 s" in messages
    assert all(SECRET not in record.getMessage() for record in caplog.records)
    assert all(SECRET not in repr(record.args) for record in caplog.records)


# -- markers ------------------------------------------------------------------------------------
async def test_subscriptions_get_the_markers_in_order_with_their_events(
    autojump_clock: MockClock,
) -> None:
    async with reconnecting(policy=ReconnectPolicy(initial_delay=3.0)) as (ami, dialer):
        async with ami.subscribe("Hangup", "Newchannel") as events, ami.subscribe() as every:
            (first,) = await serve_logins(dialer, 1)
            await ami.wait_connected()
            await first.send(event("Newchannel", Channel="a"), event("Hangup", Channel="a"))
            await trio.sleep(10)  # a stable link: the first attempt after its loss is at once
            dialer.break_link()
            dialer.refusals = 1  # down for one backoff delay
            (second,) = await serve_logins(dialer, 1)
            await second.send(event("Hangup", Channel="b"))
            items = await take(events, 5)
            assert names(items) == ["Newchannel", "Hangup", "LinkLost", "LinkRestored", "Hangup"]
            lost, restored = items[2], items[3]
            assert isinstance(lost, LinkLost)
            assert lost.ending is Ending.TRANSPORT_ERROR
            assert "Connection reset by peer" in lost.reason
            assert isinstance(restored, LinkRestored)
            assert restored == LinkRestored(down_for=3.0, attempts=2, reconnects=1)
            assert names(await take(every, 5)) == names(items)
            statistics = events.statistics()
            assert statistics.delivered == 3
            assert statistics.buffered == 0


async def test_a_slow_consumer_reads_the_old_link_then_the_markers_then_the_new(
    autojump_clock: MockClock,
) -> None:
    async with reconnecting() as (ami, dialer):
        async with ami.subscribe(buffer=100) as events:
            (first,) = await serve_logins(dialer, 1)
            await first.send(*(event("Old", N=str(n)) for n in range(50)))
            await trio.testing.wait_all_tasks_blocked()
            dialer.break_link()
            (second,) = await serve_logins(dialer, 1)
            await second.send(*(event("New", N=str(n)) for n in range(50)))
            await trio.testing.wait_all_tasks_blocked()
            assert events.statistics().buffered == 100  # both links' events wait
            items = [item for _ in range(4) for item in await events.receive_batch(40)]
            items += await events.receive_batch()
            assert names(items) == ["Old"] * 50 + ["LinkLost", "LinkRestored"] + ["New"] * 50
            assert [item["N"] for item in items if isinstance(item, Event)] == [
                str(n) for _ in range(2) for n in range(50)
            ]


async def test_a_subscription_opened_while_down_starts_with_the_new_link(
    autojump_clock: MockClock,
) -> None:
    async with reconnecting(policy=ReconnectPolicy(initial_delay=5.0), dialer=Dialer(1)) as (
        ami,
        dialer,
    ):
        async with ami.subscribe() as events:
            assert ami.state == "connecting"
            (server,) = await serve_logins(dialer, 1)
            await server.send(event("FullyBooted"))
            assert names(await take(events, 1)) == ["FullyBooted"]


async def test_subscriptions_end_when_the_client_closes(autojump_clock: MockClock) -> None:
    async with reconnecting() as (ami, dialer):
        events = ami.open_subscription()
        (server,) = await serve_logins(dialer, 1)
        await server.send(event("Hangup"))
        await ami.wait_connected()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.answer_logoff)
            await ami.aclose()
        assert names([item async for item in events]) == ["Hangup"]
        assert ami.state == "closed"
        with pytest.raises(ConnectionClosed, match="the AMI client is closed"):
            ami.open_subscription()
    assert ami.connection is None


async def test_a_closed_subscription_is_fed_no_more(autojump_clock: MockClock) -> None:
    async with reconnecting() as (ami, dialer):
        async with ami.subscribe() as events:
            await serve_logins(dialer, 1)
            await ami.wait_connected()
        assert events.closed
        assert ami.statistics().subscriptions == ()
        with pytest.raises(trio.EndOfChannel):
            await events.receive()
        assert ami.connection is not None
        assert ami.connection.statistics().subscriptions == ()


# -- actions ------------------------------------------------------------------------------------
async def test_an_action_in_flight_is_not_sent_again(autojump_clock: MockClock) -> None:
    async with reconnecting() as (ami, dialer):
        (first,) = await serve_logins(dialer, 1)

        async def originate() -> None:
            with pytest.raises(ConnectionClosed, match="Connection reset by peer"):
                await ami.originate("PJSIP/100", context="internal", exten="200", priority=1)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(originate)
            await first.expect("Originate")
            dialer.break_link()
        (second,) = await serve_logins(dialer, 1)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer, second, "Ping", ("Ping", "Pong"))
            response = await ami.ping()
        assert response["Ping"] == "Pong"
        assert [m["Action"] for m in second.received] == ["Login", "Ping"]


@pytest.mark.parametrize("how", ["by name", "by the caller"])
async def test_an_action_safe_to_retry_is_sent_again(autojump_clock: MockClock, how: str) -> None:
    async with reconnecting() as (ami, dialer):
        (first,) = await serve_logins(dialer, 1)
        results = []

        async def ask() -> None:
            if how == "by name":
                results.append(await ami.get_var("X"))
            else:
                result = await ami.action("UserEvent", UserEvent="Tick", retry=True)
                results.append(result.response["Response"])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            name = "Getvar" if how == "by name" else "UserEvent"
            await first.expect(name)
            dialer.break_link()
            (second,) = await serve_logins(dialer, 1)
            await answer(second, name, ("Variable", "X"), ("Value", "1"))
        assert results == (["1"] if how == "by name" else ["Success"])


async def test_retry_false_overrides_the_policy(autojump_clock: MockClock) -> None:
    async with reconnecting() as (ami, dialer):
        (first,) = await serve_logins(dialer, 1)
        async with trio.open_nursery() as nursery:

            async def ping() -> None:
                with pytest.raises(ConnectionClosed):
                    await ami.action("Ping", retry=False)

            nursery.start_soon(ping)
            await first.expect("Ping")
            dialer.break_link()


async def test_actions_wait_for_the_link_up_to_their_timeout(autojump_clock: MockClock) -> None:
    policy = ReconnectPolicy(initial_delay=10.0)
    async with reconnecting(policy=policy, action_timeout=4.0, dialer=Dialer(1)) as (ami, dialer):
        start = trio.current_time()
        with pytest.raises(ActionTimeout, match=r"Ping got no complete answer within 4\.0 s"):
            await ami.ping()
        assert trio.current_time() - start == pytest.approx(4.0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(ami.action, "Ping", timeout=60))
            (server,) = await serve_logins(dialer, 1)
            await answer(server, "Ping")
        assert trio.current_time() - start == pytest.approx(10.0)


async def test_an_option_fails_actions_at_once_while_down(autojump_clock: MockClock) -> None:
    policy = ReconnectPolicy(initial_delay=10.0, wait_when_down=False)
    async with reconnecting(policy=policy, dialer=Dialer(1)) as (ami, dialer):
        with pytest.raises(ConnectionClosed, match="the AMI link to pbx:5038 is down"):
            await ami.ping()
        await serve_logins(dialer, 1)
        await ami.wait_connected()
        dialer.break_link()
        with pytest.raises(ConnectionClosed, match="is down: the AMI connection is closed: the co"):
            await ami.ping()


async def test_a_list_is_read_from_the_live_connection(autojump_clock: MockClock) -> None:
    async with reconnecting() as (ami, dialer):
        (server,) = await serve_logins(dialer, 1)
        async with trio.open_nursery() as nursery:

            async def serve_list() -> None:
                action = await server.expect("CoreShowChannels")
                await server.answer(action, "Success", ("EventList", "start"))
                await server.send(
                    event("CoreShowChannel", ActionID=action.action_id or "", Channel="a"),
                    event(
                        "CoreShowChannelsComplete",
                        ActionID=action.action_id or "",
                        EventList="Complete",
                        ListItems="1",
                    ),
                )

            nursery.start_soon(serve_list)
            async with ami.action_stream("CoreShowChannels") as channels:
                assert [item["Channel"] async for item in channels] == ["a"]


async def test_a_list_waits_for_the_link_at_most_the_action_timeout(
    autojump_clock: MockClock,
) -> None:
    policy = ReconnectPolicy(initial_delay=60.0)
    async with reconnecting(policy=policy, action_timeout=5.0, dialer=Dialer(1)) as (ami, _):
        with pytest.raises(ActionTimeout, match=r"no link to pbx:5038 within 5\.0 s"):
            async with ami.action_stream("CoreShowChannels"):
                pass  # pragma: no cover


# -- what is re-applied -------------------------------------------------------------------------
async def test_the_event_mask_and_filters_are_set_again_after_a_reconnect(
    autojump_clock: MockClock,
) -> None:
    async with reconnecting(events=True) as (ami, dialer):
        (first,) = await serve_logins(dialer, 1)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer, first, "Filter")
            await ami.filter("Event: Hangup")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer, first, "Filter")
            await ami.action("Filter", Operation="Add", Filter="!Event: Newexten")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer, first, "Events")
            await ami.events(["call", "system"])
        dialer.break_link()
        second = await dialer.server()
        await second.greet()
        login = await second.expect("Login")
        assert login["Events"] == "call,system"
        await second.answer(login, "Success")
        assert (await answer(second, "Filter"))["Filter"] == "Event: Hangup"
        assert (await answer(second, "Filter"))["Filter"] == "!Event: Newexten"
        await ami.wait_connected()


async def test_a_filter_the_server_refuses_is_not_set_again(autojump_clock: MockClock) -> None:
    async with reconnecting() as (ami, dialer):
        (first,) = await serve_logins(dialer, 1)

        async def refuse() -> None:
            action = await first.expect("Filter")
            await first.answer(action, "Error", ("Message", "Filter Not Permitted"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(refuse)
            result = await ami.request(requests.filter("Event: Hangup"), check=False)
        assert result["Response"] == "Error"
        dialer.break_link()
        (second,) = await serve_logins(dialer, 1)
        await ami.wait_connected()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer, second, "Ping")
            await ami.ping()
        assert [m["Action"] for m in second.received] == ["Login", "Ping"]


# -- statistics and state -----------------------------------------------------------------------
async def test_statistics_count_reconnects_and_time_up_and_down(autojump_clock: MockClock) -> None:
    policy = ReconnectPolicy(initial_delay=2.0)
    async with reconnecting(policy=policy) as (ami, dialer):
        assert ami.state == "connecting"
        assert not ami.connected
        await serve_logins(dialer, 1)
        await ami.wait_connected()
        assert ami.ami_version == "11.0.0"
        await trio.sleep(10)
        dialer.refusals = 1
        dialer.break_link()
        await trio.sleep(1)
        assert ami.statistics().state == "reconnecting"
        await serve_logins(dialer, 1)
        await ami.wait_connected()
        await trio.sleep(5)
        statistics = ami.statistics()
        assert statistics.state == "connected"
        assert statistics.reconnects == 1
        assert statistics.attempts == 3
        assert statistics.time_connected == pytest.approx(15.0)
        assert statistics.time_down == pytest.approx(2.0)
        assert isinstance(statistics.last_error, AMIConnectionError)
        assert statistics.connection is not None
        assert statistics.connection.waiting_actions == 0


async def test_a_protocol_instance_is_refused_and_a_factory_used_per_connection(
    autojump_clock: MockClock,
) -> None:
    with pytest.raises(TypeError, match="new protocol per connection"):
        ReconnectingAMI(
            Dialer().connect, username="a", secret="b", settings=Settings(protocol=ClientProtocol())
        )
    made: list[ClientProtocol] = []

    def factory() -> ClientProtocol:
        made.append(ClientProtocol(max_list_items=5))
        return made[-1]

    async with reconnecting(protocol=factory) as (ami, dialer):
        await serve_logins(dialer, 1)
        await ami.wait_connected()
        dialer.break_link()
        await serve_logins(dialer, 1)
        await ami.wait_connected()
        assert len(made) == 2
        assert ami.connection is not None
        assert ami.connection.protocol is made[1]


async def test_it_runs_once_and_closes_before_running(autojump_clock: MockClock) -> None:
    client = ReconnectingAMI(Dialer().connect, username="a", secret="b")
    await client.aclose()
    assert client.state == "closed"
    with pytest.raises(ConnectionClosed, match="closed"):
        await client.wait_connected()
    async with reconnecting() as (ami, _):
        with pytest.raises(RuntimeError, match="runs once"):
            await ami.run()


# -- the edges of a subscription ------------------------------------------------------------------
async def test_a_subscription_closed_during_the_login_gets_no_part(
    autojump_clock: MockClock,
) -> None:
    dialer = Dialer()
    settings = Settings(auth="plain", logoff_timeout=0.5)
    ami = ReconnectingAMI(dialer.connect, username="admin", secret=SECRET, settings=settings)
    events = ami.open_subscription()  # before the client runs: its part opens before the login
    async with trio.open_nursery() as nursery:
        await nursery.start(ami.run)
        server = await dialer.server()
        await server.greet()
        login = await server.expect("Login")
        await events.aclose()
        await server.answer(login, "Success")
        await ami.wait_connected()
        assert ami.connection is not None
        assert ami.connection.statistics().subscriptions == ()
        await ami.aclose()
    with pytest.raises(trio.EndOfChannel):
        await events.receive_batch()
    events.close()  # again: nothing happens
    with pytest.raises(ValueError, match="max_events must be at least 1"):
        await events.receive_batch(0)


async def test_a_batch_ends_with_the_client(autojump_clock: MockClock) -> None:
    async with reconnecting() as (ami, dialer):
        async with ami.subscribe() as events:
            (server,) = await serve_logins(dialer, 1)
            await server.send(event("A"), event("B"))
            assert names(await events.receive_batch()) == ["A", "B"]
            async with trio.open_nursery() as nursery:
                nursery.start_soon(server.answer_logoff)
                await ami.logoff()
            with pytest.raises(trio.EndOfChannel):
                await events.receive_batch()
            assert events.statistics().closed
    statistics = ami.statistics()
    assert statistics.state == "closed"
    later = ami.statistics()
    assert later.time_connected == statistics.time_connected  # the clock stopped with it


async def test_a_late_reader_gets_the_events_then_why_the_client_gave_up(
    autojump_clock: MockClock,
) -> None:
    policy = ReconnectPolicy(max_attempts=2)
    async with reconnecting(policy=policy) as (ami, dialer):
        async with ami.subscribe() as events:
            (server,) = await serve_logins(dialer, 1)
            await server.send(event("A"))
            await trio.testing.wait_all_tasks_blocked()
            dialer.refusals = 5
            dialer.break_link()
            await ami.wait_closed()
            assert names(await take(events, 1)) == ["A"]
            with pytest.raises(AMIConnectionError, match="after 2 attempts"):
                await events.receive()
            assert events.statistics().closed


async def test_a_client_closed_before_it_runs_ends_its_subscriptions(
    autojump_clock: MockClock,
) -> None:
    dialer = Dialer()
    client = ReconnectingAMI(dialer.connect, username="a", secret="b")
    events = client.open_subscription()
    await client.aclose()
    with pytest.raises(trio.EndOfChannel):
        await events.receive()
    await client.run()  # returns at once: it was closed
    assert dialer.attempts == []


# -- re-applying, when the new link fails meanwhile ---------------------------------------------
async def test_the_filters_are_applied_on_the_next_link_when_lost_meanwhile(
    autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with reconnecting(action_timeout=5.0) as (ami, dialer):
        (first,) = await serve_logins(dialer, 1)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer, first, "Events")
            await ami.action("Events")  # no mask given: the login's stays
        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer, first, "Filter")
            await ami.filter("Event: Hangup")
        dialer.break_link()
        (second,) = await serve_logins(dialer, 1)
        assert second.received[0]["Events"] == "on"
        await second.expect("Filter")
        dialer.break_link()  # lost while the filter is set again
        (third,) = await serve_logins(dialer, 1)
        await third.expect("Filter")  # unanswered: the link is used all the same
        await ami.wait_connected()
        assert ami.statistics().reconnects == 2
    assert any(
        "re-applying Filter on pbx:5038 failed: Filter got no complete answer within 5.0 s"
        in record.getMessage()
        for record in caplog.records
    )


def test_the_resilience_names_live_in_their_own_module() -> None:
    import trio_ami
    import trio_ami.resilience as resilience

    for name in resilience.__all__:
        assert getattr(resilience, name) is not None
        assert name not in trio_ami.__all__  # the top level stays what most users need
    assert resilience.open_reconnecting_ami.__module__ == "trio_ami._open"


async def test_no_error_statistic_or_log_of_a_refused_client_shows_the_secret(
    autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_ami")
    async with reconnecting() as (ami, dialer):
        async with ami.subscribe() as events:
            server = await dialer.server()
            await server.greet()
            login = await server.expect("Login")
            assert login["Secret"] == SECRET  # plain auth: the wire has it, nothing else may
            await server.answer(login, "Error", ("Message", "Authentication failed"))
            with pytest.raises(AuthenticationError) as caught:
                await events.receive()
    shown: list[object] = [caught.value, ami.failure, ami.closed_error(), ami.statistics()]
    shown.append(events.statistics())
    shown += [(record.getMessage(), record.args) for record in caplog.records]
    assert_no_secret(shown, SECRET)


async def test_a_failing_predicate_ends_its_subscription_only(autojump_clock: MockClock) -> None:
    def broken(event: Event) -> bool:
        raise LookupError("no such field")

    async with reconnecting() as (ami, dialer):
        async with ami.subscribe(predicate=broken) as bad, ami.subscribe() as good:
            (server,) = await serve_logins(dialer, 1)
            await server.send(event("Hangup"))
            with pytest.raises(LookupError, match="no such field"):
                await bad.receive()
            assert names(await take(good, 1)) == ["Hangup"]


async def test_links_lost_right_after_the_login_get_the_backoff(
    autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    policy = ReconnectPolicy(initial_delay=1.0, stable_after=5.0, max_attempts=4)
    async with reconnecting(policy=policy) as (ami, dialer):
        for _ in range(3):  # a server in a crash loop: it drops every client after the login
            (server,) = await serve_logins(dialer, 1)
            await trio.sleep(0.5)
            await server.close()
        (server,) = await serve_logins(dialer, 1)
        await trio.sleep(5.0)  # stable at last
        await server.close()
        (server,) = await serve_logins(dialer, 1)
        await ami.wait_connected()
        assert gaps(dialer.attempts) == pytest.approx([1.5, 2.5, 4.5, 5.0])
        assert ami.statistics().reconnects == 4
    assert (
        "AMI link to pbx:5038 lost 0.50 s after its login (attempt 2); next attempt in 2.00 s"
        in [record.getMessage() for record in caplog.records]
    )


async def test_a_crash_loop_counts_toward_max_attempts(autojump_clock: MockClock) -> None:
    policy = ReconnectPolicy(initial_delay=1.0, max_attempts=2)
    async with reconnecting(policy=policy) as (ami, dialer):
        for _ in range(2):
            (server,) = await serve_logins(dialer, 1)
            await server.close()
        await ami.wait_closed()
    assert ami.state == "failed"
    assert "no session with pbx:5038 after 2 attempts: the AMI connection is closed" in str(
        ami.failure
    )
