"""trio's stream errors, as trio-ami's: one message a person can act on, the cause kept."""

from __future__ import annotations

import socket
import ssl
import sys

import pytest
import trio

from trio_ami import AMIConnectionError
from trio_ami._transport import describe_transport_error, open_stream, transport_error

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup


def verify_error(message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = message
    return error


def tls_error(reason: str) -> ssl.SSLError:
    error = ssl.SSLError(1, f"[SSL: {reason}]")
    error.reason = reason  # set by OpenSSL's wrapper on real errors
    return error


def attempts(*errors: OSError) -> OSError:
    """What trio.open_tcp_stream raises when every address failed."""
    error = OSError("all attempts to connect to pbx:5038 failed")
    error.__cause__ = ExceptionGroup("all attempts failed", list(errors))
    return error


def broken(cause: BaseException) -> trio.BrokenResourceError:
    error = trio.BrokenResourceError()
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (attempts(ConnectionRefusedError(111, "x"), ConnectionRefusedError(111, "y")),
         "connection refused"),
        (attempts(ConnectionRefusedError(111, "x"), OSError(113, "No route to host")),
         "connection refused; No route to host"),
        (socket.gaierror(-2, "Name or service not known"),
         "cannot resolve the host name (Name or service not known)"),
        (broken(ConnectionResetError(104, "Connection reset by peer")), "Connection reset by peer"),
        (broken(verify_error("self-signed certificate")),
         "TLS certificate verification failed: self-signed certificate"),
        (broken(tls_error("WRONG_VERSION_NUMBER")), "TLS failed: WRONG_VERSION_NUMBER"),
        (ssl.SSLError(1, "made in Python"), "TLS failed: made in Python"),
        (ssl.SSLCertVerificationError(1, "no detail"),
         "TLS certificate verification failed: no detail"),
        (trio.ClosedResourceError(), "the stream was closed"),
        (trio.BrokenResourceError(), "BrokenResourceError"),
        (OSError(), "OSError"),
    ],
    ids=["refused", "refused-twice", "refused-and-unreachable", "dns", "reset", "certificate",
         "tls", "tls-bare", "certificate-bare", "closed", "broken-bare", "bare-os-error"],
)  # fmt: skip
def test_each_transport_error_is_described(error: BaseException, text: str) -> None:
    assert describe_transport_error(error) == text
    mapped = transport_error(error, "could not connect to pbx:5038")
    assert isinstance(mapped, AMIConnectionError)
    assert isinstance(mapped, ConnectionError)
    assert str(mapped) == f"could not connect to pbx:5038: {text}"
    assert mapped.__cause__ is error


async def test_a_connection_that_takes_too_long(autojump_clock: trio.testing.MockClock) -> None:
    async def never(*args: object, **kwargs: object) -> trio.SocketStream:
        await trio.sleep_forever()
        raise AssertionError  # pragma: no cover

    with pytest.MonkeyPatch.context() as patch:
        # The network is not ours to slow down: the test stands in for trio's connect.
        patch.setattr(trio, "open_tcp_stream", never)
        with pytest.raises(
            AMIConnectionError, match=r"^could not connect to pbx:5038: no connection within 3 s$"
        ):
            await open_stream("pbx", 5038, None, 3)
