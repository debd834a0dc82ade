"""What comes out of an ``open_ami`` block, and the errors of connecting, over loopback TCP.

The server is played by the test (``helpers.scripted``) so that each case happens exactly when
the test wants it. No test waits on the wall clock.
"""

from __future__ import annotations

import contextlib
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
import trustme
from helpers.scripted import ScriptedServer

import trio_ami
from trio_ami import AMIConnectionError, ConnectionClosed, Ending

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup

Script = Callable[[ScriptedServer], Awaitable[None]]


@asynccontextmanager
async def scripted_server(script: Script) -> AsyncIterator[int]:
    """Listen on loopback; each connection is played by ``script``. Yields the port."""

    async def handler(stream: trio.SocketStream) -> None:
        with contextlib.suppress(trio.BrokenResourceError):  # the client went away
            await script(ScriptedServer(stream))

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        yield listeners[0].socket.getsockname()[1]
        nursery.cancel_scope.cancel()


def open_ami(port: int, **options: Any) -> Any:
    settings: dict[str, Any] = {"username": "admin", "secret": "pw", "auth": "plain"}
    settings.update(options)
    return trio_ami.open_ami("127.0.0.1", port, **settings)


async def log_in_then(server: ScriptedServer, then: Script) -> None:
    await server.accept_login()
    await then(server)


async def serve_until_logoff(server: ScriptedServer) -> None:
    """Answer every action with Success until the Logoff, which gets its Goodbye."""
    await server.accept_login()
    while True:
        action = await server.next_action()
        if action["Action"] == "Logoff":
            await server.answer(action, "Goodbye")
            await server.close()
            return
        await server.answer(action)


class Escaped:
    """Records what left the ``open_ami`` block, then lets it go on."""

    error: BaseException | None = None

    @asynccontextmanager
    async def watch(self, port: int, **options: Any) -> AsyncIterator[trio_ami.AMIConnection]:
        try:
            async with open_ami(port, **options) as ami:
                yield ami
        except BaseException as exc:
            self.error = exc
            raise


# -- cancellation -----------------------------------------------------------------------------
async def test_cancelling_the_block_is_a_plain_cancelled_and_logs_off() -> None:
    escaped = Escaped()
    async with scripted_server(serve_until_logoff) as port:
        with trio.CancelScope() as scope:
            async with escaped.watch(port) as ami:
                scope.cancel()
                await trio.sleep_forever()
    assert type(escaped.error) is trio.Cancelled
    assert ami.ending is Ending.LOGGED_OFF


@pytest.mark.parametrize("phase", ["tls handshake", "accepted", "greeted", "login read"])
async def test_cancelling_while_connecting_is_a_plain_cancelled(phase: str) -> None:
    reached = trio.Event()

    async def script(server: ScriptedServer) -> None:
        if phase not in ("accepted", "tls handshake"):  # a TLS client waits for a handshake
            await server.greet()
        if phase == "login read":
            await server.expect("Login")
        reached.set()
        await trio.sleep_forever()

    escaped = Escaped()
    async with scripted_server(script) as port, trio.open_nursery() as nursery:

        async def connect() -> None:
            async with escaped.watch(port, tls=phase == "tls handshake"):
                pytest.fail("the block ran although the login never completed")

        nursery.start_soon(connect)
        await reached.wait()
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert type(escaped.error) is trio.Cancelled


async def test_a_loss_under_an_outer_cancellation_is_the_cancellation() -> None:
    escaped = Escaped()

    async def script(server: ScriptedServer) -> None:
        await server.accept_login()
        await server.expect("Ping")
        await server.close()

    async with scripted_server(script) as port:
        with trio.CancelScope() as scope:
            async with escaped.watch(port) as ami:
                with pytest.raises(ConnectionClosed):
                    await ami.ping()
                scope.cancel()
                await trio.sleep_forever()
    assert type(escaped.error) is trio.Cancelled


# -- the session ends under the block ---------------------------------------------------------
async def test_a_loss_with_two_waiting_tasks_is_one_connection_closed() -> None:
    async def script(server: ScriptedServer) -> None:
        await server.accept_login()
        await server.expect("Ping")
        await server.expect("Ping")
        await server.close()

    escaped = Escaped()
    async with scripted_server(script) as port:
        with pytest.raises(ConnectionClosed) as caught:
            async with escaped.watch(port) as ami, trio.open_nursery() as nursery:
                nursery.start_soon(ami.ping)
                nursery.start_soon(ami.ping)
    assert type(escaped.error) is ConnectionClosed
    assert caught.value.ending is Ending.CLOSED_BY_SERVER
    assert str(caught.value) == "the AMI connection is closed: the server closed the connection"


async def test_a_loss_cancels_a_block_that_waits_on_something_else() -> None:
    async def script(server: ScriptedServer) -> None:
        await server.accept_login()
        await server.answer(await server.expect("Ping"))
        await server.send(b"Event: Junk\r\nData: " + b"x" * 300 + b"\r\n\r\n")

    async with scripted_server(script) as port:
        protocol = trio_ami.ClientProtocol(max_line_length=100)
        with pytest.raises(ConnectionClosed, match="protocol error: line longer") as caught:
            async with open_ami(port, protocol=protocol) as ami:
                await ami.ping()
                await trio.sleep_forever()
    assert caught.value.ending is Ending.PROTOCOL_ERROR
    assert isinstance(caught.value.__cause__, trio_ami.LimitExceeded)


async def test_a_loss_ends_a_subscription_with_the_reason() -> None:
    async def script(server: ScriptedServer) -> None:
        await server.accept_login()
        await server.answer(await server.expect("Ping"))
        await server.send(b"Event: Newchannel\r\nChannel: PJSIP/1\r\n\r\n")
        await server.close()

    seen: list[str] = []
    async with scripted_server(script) as port:
        with pytest.raises(ConnectionClosed, match="the server closed the connection"):
            async with open_ami(port) as ami, ami.subscribe() as events:
                await ami.ping()  # the server sends the event once this is answered
                async for event in events:
                    seen.append(event["Channel"])
    assert seen == ["PJSIP/1"]


async def test_a_block_that_handles_the_loss_itself_decides() -> None:
    async def script(server: ScriptedServer) -> None:
        await server.accept_login()
        await server.expect("Ping")
        await server.close()

    async with scripted_server(script) as port:
        with pytest.raises(LookupError, match="mine"):
            async with open_ami(port) as ami:
                try:
                    await ami.ping()
                except ConnectionClosed:
                    raise LookupError("mine") from None
        async with open_ami(port) as ami:
            with pytest.raises(ConnectionClosed):
                await ami.ping()
            # Done with it, without waiting again: no error comes out.


async def test_logging_off_inside_the_block_is_no_error() -> None:
    async with scripted_server(serve_until_logoff) as port:
        async with open_ami(port) as ami:
            await ami.ping()
            await ami.logoff()
            with pytest.raises(ConnectionClosed) as caught:
                await ami.ping()
            assert caught.value.ending is Ending.LOGGED_OFF
    assert ami.ending is Ending.LOGGED_OFF


# -- the block's own errors pass through as they are -----------------------------------------
async def test_an_error_of_the_block_comes_out_as_it_is() -> None:
    async with scripted_server(serve_until_logoff) as port:
        with pytest.raises(KeyError, match="mine"):
            async with open_ami(port):
                raise KeyError("mine")


async def test_a_group_of_one_from_the_blocks_nursery_stays_a_group() -> None:
    async def fail() -> None:
        raise KeyError("mine")

    async with scripted_server(serve_until_logoff) as port:
        with pytest.raises(BaseExceptionGroup) as caught:
            async with open_ami(port), trio.open_nursery() as nursery:
                nursery.start_soon(fail)
    assert [type(error) for error in caught.value.exceptions] == [KeyError]


async def test_two_errors_of_the_block_are_nested_once() -> None:
    async def fail(error: Exception) -> None:
        raise error

    async with scripted_server(serve_until_logoff) as port:
        with pytest.raises(ExceptionGroup) as caught:
            async with open_ami(port), trio.open_nursery() as nursery:
                nursery.start_soon(fail, KeyError("a"))
                nursery.start_soon(fail, ValueError("b"))
    assert sorted(type(error).__name__ for error in caught.value.exceptions) == [
        "KeyError",
        "ValueError",
    ]


# -- connecting -------------------------------------------------------------------------------
async def test_a_refused_port_says_so() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()
    with pytest.raises(AMIConnectionError) as caught:
        async with open_ami(port):
            pass
    assert str(caught.value) == f"could not connect to 127.0.0.1:{port}: connection refused"
    assert isinstance(caught.value.__cause__, OSError)


async def test_a_certificate_that_fails_verification_says_why() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)

    async def handler(stream: trio.SocketStream) -> None:
        tls = trio.SSLStream(stream, server_context, server_side=True)
        with pytest.raises(trio.BrokenResourceError):
            await tls.do_handshake()  # the client refuses the certificate

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        with pytest.raises(AMIConnectionError) as caught:
            async with open_ami(port, tls=True):
                pass
        nursery.cancel_scope.cancel()
    message = str(caught.value)
    prefix = f"could not connect to 127.0.0.1:{port}: TLS certificate verification failed: "
    assert message.startswith(prefix)
    assert len(message) > len(prefix)  # OpenSSL's reason, such as "self-signed certificate"
    assert isinstance(caught.value.__cause__, trio.BrokenResourceError)
    assert isinstance(caught.value.__cause__.__cause__, ssl.SSLCertVerificationError)


async def test_a_server_that_never_greets_over_tcp_names_the_address() -> None:
    async def silent(server: ScriptedServer) -> None:
        await trio.sleep_forever()

    async with scripted_server(silent) as port:
        with pytest.raises(AMIConnectionError, match=rf"^no banner from 127.0.0.1:{port} within"):
            async with open_ami(port, login_timeout=0.05):
                pass


async def test_cancelling_during_the_logoff_is_a_plain_cancelled() -> None:
    logoff_read = trio.Event()

    async def script(server: ScriptedServer) -> None:
        await server.accept_login()
        await server.expect("Logoff")
        logoff_read.set()
        await trio.sleep_forever()  # no Goodbye

    escaped = Escaped()
    async with scripted_server(script) as port, trio.open_nursery() as nursery:

        async def run() -> None:
            async with escaped.watch(port, logoff_timeout=0.1):
                pass

        nursery.start_soon(run)
        await logoff_read.wait()
        nursery.cancel_scope.cancel()
    assert type(escaped.error) is trio.Cancelled
