"""The banner, plain and MD5 logins, what a session may do before it logs in, and the
Asterisk 13 flavour of the login."""

from __future__ import annotations

import hashlib

import pytest
import trio
import trio.testing
from helpers.fake_server import TIMEOUT, Client, serving

from trio_ami import AuthenticationError, open_ami
from trio_ami.sansio import md5_key
from trio_ami.testing import FakeAMIServer


async def test_banner_and_plain_login() -> None:
    async with serving() as (server, connect):
        client = await connect(login=False)
        assert bytes(client.raw) == b"Asterisk Call Manager/11.0.0\r\n"
        await client.send(
            b"Action: Login\r\nActionID: a1\r\nUsername: admin\r\nSecret: secret\r\n\r\n"
        )
        await client.event("SuccessfulAuth")
        assert bytes(client.raw).startswith(
            b"Asterisk Call Manager/11.0.0\r\n"
            b"Response: Success\r\nActionID: a1\r\nMessage: Authentication accepted\r\n\r\n"
            b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: "
        )
        auth = client.seen[-1]
        assert auth["AccountID"] == "admin"
        assert auth["LocalAddress"].startswith("IPV4/TCP/127.0.0.1/")
        [session] = server.sessions
        assert session.logged_in and session.username == "admin"
        assert [m["Action"] for m in server.received] == ["Login"]
        again = await client.login()
        assert again["Message"] == "Already authenticated"


async def test_failed_login_closes() -> None:
    async with serving(auth_failure_delay=0.01) as (server, connect):
        client = await connect(login=False)
        response = await client.login(secret="wrong")
        assert response.headers == (
            ("Response", "Error"),
            ("ActionID", "t-1"),
            ("Message", "Authentication failed"),
        )
        assert await client.rest() == []
        unknown = await connect(login=False)
        assert (await unknown.login(username="nobody"))["Message"] == "Authentication failed"
        assert await unknown.rest() == []
        await server.wait_until(lambda: not server.sessions)


async def test_md5_login() -> None:
    async with serving() as (server, connect):
        client = await connect(login=False)
        challenge = (await client.call("Challenge", {"AuthType": "md5"}))["Challenge"]
        assert challenge.isdigit()
        again = await client.call("Challenge", {"AuthType": "MD5"})
        assert again.headers == (
            ("Response", "Success"),
            ("ActionID", "t-2"),
            ("Challenge", challenge),
        )
        key = md5_key(challenge, "secret")
        response = await client.call(
            "Login", {"AuthType": "md5", "Username": "admin", "Key": key.upper()}
        )
        assert response["Message"] == "Authentication accepted"
        assert server.sessions[0].logged_in

        wrong = await connect(login=False)
        await wrong.call("Challenge", {"AuthType": "md5"})
        bad = await wrong.call("Login", {"AuthType": "md5", "Username": "admin", "Key": "0" * 32})
        assert bad["Message"] == "Authentication failed"
        assert await wrong.rest() == []

        no_challenge = await connect(login=False)
        refused = await no_challenge.call(
            "Login", {"AuthType": "md5", "Username": "admin", "Key": key}
        )
        assert refused["Message"] == "Authentication failed"

        bad_type = await connect(login=False)
        error = await bad_type.call("Challenge", {"AuthType": "plain"})
        assert error["Message"] == "Must specify AuthType"


async def test_md5_login_with_a_challenge_and_a_secret_that_are_not_utf8(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The secret as os.environ gives the bytes b"pa\xffss"; a challenge of bytes that are not
    # UTF-8. Client and server hash the same bytes, and the client never fails on them.
    secret = b"pa\xffss".decode("utf-8", "surrogateescape")
    server = FakeAMIServer(users={"admin": secret})
    challenge_bytes = b"\xfe\xff12"
    monkeypatch.setattr(
        FakeAMIServer,
        "new_challenge",
        lambda self: challenge_bytes.decode("utf-8", "surrogateescape"),
    )
    # An independent oracle of the bytes hashed: hashlib on the raw bytes, not md5_key.
    expected_key = hashlib.md5(challenge_bytes + b"pa\xffss").hexdigest()
    async with server.listen_tcp() as (host, port):
        with trio.fail_after(TIMEOUT):
            client = Client(await trio.open_tcp_stream(host, port))
            challenge = (await client.call("Challenge", {"AuthType": "md5"}))["Challenge"]
            assert b"Challenge: " + challenge_bytes + b"\r\n" in client.raw
            assert md5_key(challenge, secret) == expected_key
            key = md5_key(challenge, secret)
            accepted = await client.call(
                "Login", {"AuthType": "md5", "Username": "admin", "Key": key}
            )
            assert accepted["Message"] == "Authentication accepted"
            await trio.aclose_forcefully(client.stream)

            async with open_ami(host, port, username="admin", secret=secret) as ami:
                await ami.ping()
            with pytest.raises(AuthenticationError):
                async with open_ami(host, port, username="admin", secret="pa\udcfess"):
                    pass  # pragma: no cover
    logins = [action for action in server.received if action["Action"] == "Login"]
    assert [login["Key"] for login in logins] == [
        expected_key,
        expected_key,
        hashlib.md5(challenge_bytes + b"pa\xfess").hexdigest(),
    ]


async def test_actions_before_login_are_denied() -> None:
    async with serving() as (server, connect):
        client = await connect(login=False)
        for name in ("Ping", "CoreShowChannels", "NoSuchAction"):
            response = await client.call(name)
            assert (response.name, response["Message"]) == ("Error", "Permission denied")
        server.push_event("Hangup", {"Channel": "PJSIP/100-00000001"})
        goodbye = await client.call("Logoff")
        assert goodbye.headers == (
            ("Response", "Goodbye"),
            ("ActionID", "t-4"),
            ("Message", "Thanks for all the fish."),
        )
        assert await client.rest() == []  # and no Hangup event reached it
        assert len(server.received) == 4


async def test_login_with_events_off_and_drop_after_login() -> None:
    async with serving() as (server, connect):
        client = await connect(Events="off")
        assert server.sessions[0].event_mask == 0
        assert server.push_event("Hangup", {"Channel": "x"}) == 0
        await client.call("Ping")
        assert [m.name for m in client.seen] == ["Success", "Success"]  # no FullyBooted
        server.drop_after_login = True
        dropped = await connect()
        assert [m.name for m in await dropped.rest()] == ["FullyBooted"]


async def test_legacy_asterisk_flavour() -> None:
    async with serving(ami_version="2.10.6") as (server, connect):
        client = await connect()
        booted = await client.event("FullyBooted")
        assert booted.headers == (
            ("Event", "FullyBooted"),
            ("Privilege", "system,all"),
            ("Status", "Fully Booted"),
        )
        assert server.settings.flavour.command_is_legacy
        version = await client.call("Command", {"Command": "core show version"})
        assert version.is_legacy_command
        assert version.output[0].startswith("Asterisk 13.38.3 built by")
