"""No error of the trio layer carries the secret, whatever the server or the caller does.

Every login scenario is played on a memory stream; everything a caller can get hold of (the
error, its causes and contexts, the connection's close reason and ``closed_error()``) is walked
for the secret as text and as bytes, and for the MD5 key derived from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

import pytest
import trio
from helpers.scripted import BreakableStream, ScriptedServer, stream_pair
from helpers.secrets import assert_no_secret
from trio.testing import MockClock

import trio_ami
from trio_ami.sansio import md5_key

SECRET = "Pa55-w0rd\udcff"  # with a byte that is not UTF-8, as os.environ gives it
CHALLENGE = "840415273"
Play = Callable[[ScriptedServer, BreakableStream], Awaitable[None]]


async def refuse(server: ScriptedServer, client: BreakableStream) -> None:
    await server.greet()
    action = await server.next_action()
    if action["Action"] == "Challenge":
        await server.answer(action, "Success", ("Challenge", CHALLENGE))
        action = await server.expect("Login")
    await server.answer(action, "Error", ("Message", "Authentication failed"))
    await server.close()


async def close_during_login(server: ScriptedServer, client: BreakableStream) -> None:
    await server.greet()
    await server.next_action()
    await server.close()


async def break_during_login(server: ScriptedServer, client: BreakableStream) -> None:
    await server.greet()
    await server.next_action()
    client.break_now()


async def garbage_during_login(server: ScriptedServer, client: BreakableStream) -> None:
    await server.greet()
    await server.next_action()
    await server.send(b"x" * 300 + b"\r\n\r\n")


async def challenge_then_silence(server: ScriptedServer, client: BreakableStream) -> None:
    await server.greet()
    action = await server.next_action()
    if action["Action"] == "Challenge":
        await server.answer(action, "Success", ("Challenge", CHALLENGE))
    await trio.sleep_forever()


async def odd_challenge(server: ScriptedServer, client: BreakableStream) -> None:
    await server.greet()
    action = await server.next_action()
    if action["Action"] == "Login":  # plain: no challenge to send
        await server.answer(action, "Error", ("Message", "Authentication failed"))
        return
    await server.send(
        b"Response: Success\r\nActionID: "
        + (action.action_id or "").encode()
        + b"\r\nChallenge: \xff\xfe\r\n\r\n"
    )
    login = await server.next_action()
    await server.answer(login, "Error", ("Message", "Authentication failed"))


async def lost_after_login(server: ScriptedServer, client: BreakableStream) -> None:
    await server.greet()
    action = await server.next_action()
    if action["Action"] == "Challenge":
        await server.answer(action, "Success", ("Challenge", CHALLENGE))
        action = await server.expect("Login")
    await server.answer(action, "Success")
    await server.close()


SCENARIOS: dict[str, Play] = {
    "refused": refuse,
    "closed": close_during_login,
    "broken": break_during_login,
    "garbage": garbage_during_login,
    "silent": challenge_then_silence,
    "odd-challenge": odd_challenge,
    "lost-after-login": lost_after_login,
}


@pytest.mark.parametrize("auth", ["md5", "plain"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_no_error_of_any_login_carries_the_secret(
    scenario: str, auth: Literal["md5", "plain"], autojump_clock: MockClock
) -> None:
    client, server = stream_pair()
    seen: list[object] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(SCENARIOS[scenario], server, client)
        try:
            ami = await trio_ami.wrap_ami_stream(
                nursery,
                client,
                username="admin",
                secret=SECRET,
                auth=auth,
                login_timeout=5,
                protocol=trio_ami.ClientProtocol(max_line_length=200),
            )
        except trio_ami.AMIError as exc:
            seen.append(exc)
        else:
            await ami.wait_closed()
            with pytest.raises(trio_ami.ConnectionClosed) as caught:
                await ami.ping()
            seen.extend([caught.value, ami.closed_error(), ami.close_reason, ami.statistics()])
        nursery.cancel_scope.cancel()
    assert seen
    assert_no_secret(seen, SECRET, md5_key(CHALLENGE, SECRET), md5_key("\udcff\udcfe", SECRET))


@pytest.mark.parametrize(
    ("secret", "auth"),
    [
        ("Zq8x\r\nW7pk", "plain"),  # MD5 hashes it: only a plain login must refuse it
        ("Zq8x" * 300, "plain"),
        ("Zq8x\ud800W7pk", "plain"),  # not even surrogateescape encodes it
        ("Zq8x\ud800W7pk", "md5"),
    ],
    ids=["crlf", "long", "lone-plain", "lone-md5"],
)
async def test_a_secret_that_cannot_be_sent_is_refused_without_showing_it(
    secret: str, auth: Literal["md5", "plain"], autojump_clock: MockClock
) -> None:
    client, server = stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.greet)
        with pytest.raises(trio_ami.LocalProtocolError) as caught:
            await trio_ami.wrap_ami_stream(
                nursery, client, username="admin", secret=secret, auth=auth
            )
    assert_no_secret(caught.value, secret)
    assert client.closed


async def test_the_secret_is_not_in_what_was_sent_with_md5(autojump_clock: MockClock) -> None:
    client, server = stream_pair()
    async with trio.open_nursery() as nursery:

        async def play() -> None:
            await server.greet()
            challenge = await server.expect("Challenge")
            await server.answer(challenge, "Success", ("Challenge", CHALLENGE))
            login = await server.expect("Login")
            assert login["Key"] == md5_key(CHALLENGE, SECRET)
            await server.answer(login, "Success")
            await server.answer_logoff()

        nursery.start_soon(play)
        ami = await trio_ami.wrap_ami_stream(nursery, client, username="admin", secret=SECRET)
        await ami.aclose()
    assert_no_secret(server.received, SECRET)
