"""Where trio meets the network: opening streams, and trio's stream errors made trio-ami's.

Every error of a socket, a TLS layer or a trio stream becomes an :class:`AMIConnectionError`
here and nowhere else, with a message that names what happened (a refused port, a certificate
that failed verification, a reset connection) and the original error as its ``__cause__``.
"""

from __future__ import annotations

import socket
import ssl
import sys

import trio

from .sansio import AMIConnectionError

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["TRANSPORT_ERRORS", "describe_transport_error", "open_stream", "transport_error"]

#: What a trio stream raises when the transport fails under it.
TRANSPORT_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


def _root(error: BaseException) -> BaseException:
    """The error under trio's wrappers: a ``BrokenResourceError`` carries the real one."""
    while isinstance(error, trio.BrokenResourceError) and error.__cause__ is not None:
        error = error.__cause__
    return error


def _os_error_text(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name ({error.strerror or error})"
    return error.strerror or str(error) or type(error).__name__


def describe_transport_error(error: BaseException) -> str:
    """What went wrong, in a few words a person can act on."""
    error = _root(error)
    if isinstance(error, ssl.SSLError):
        # OpenSSL's reason ("WRONG_VERSION_NUMBER"), and for a refused certificate the
        # verification's ("self-signed certificate"); errors made in Python may lack them.
        reason = getattr(error, "reason", None) or str(error)
        if isinstance(error, ssl.SSLCertVerificationError):
            detail = getattr(error, "verify_message", None) or reason
            return f"TLS certificate verification failed: {detail}"
        return f"TLS failed: {reason}"
    if isinstance(error, trio.ClosedResourceError):
        return "the stream was closed"
    if isinstance(error, OSError):
        # trio.open_tcp_stream tries every address, then raises one OSError whose cause holds
        # each attempt's error: say what they say, not "all attempts failed".
        attempts = error.__cause__
        if error.errno is None and isinstance(attempts, BaseExceptionGroup):
            texts = [
                _os_error_text(inner) if isinstance(inner, OSError) else str(inner)
                for inner in attempts.exceptions
            ]
            return "; ".join(dict.fromkeys(texts))
        return _os_error_text(error)
    return str(error) or type(error).__name__


def transport_error(error: BaseException, doing: str | None = None) -> AMIConnectionError:
    """``error`` from a stream as trio-ami's error; ``doing`` prefixes the message."""
    text = describe_transport_error(error)
    mapped = AMIConnectionError(f"{doing}: {text}" if doing else text)
    mapped.__cause__ = error
    return mapped


async def open_stream(
    host: str,
    port: int,
    tls: bool | ssl.SSLContext | None,
    connect_timeout: float,
) -> trio.abc.Stream:
    """A TCP stream to ``host:port``, with TLS over it if asked (verifying by default)."""
    where = f"could not connect to {host}:{port}"
    try:
        with trio.fail_after(connect_timeout):
            tcp = await trio.open_tcp_stream(host, port)
            if not tls:
                return tcp
            context = tls if isinstance(tls, ssl.SSLContext) else ssl.create_default_context()
            tls_stream = trio.SSLStream(tcp, context, server_hostname=host)
            try:
                await tls_stream.do_handshake()
            except BaseException:
                await trio.aclose_forcefully(tcp)
                raise
            return tls_stream
    except trio.TooSlowError:
        raise AMIConnectionError(f"{where}: no connection within {connect_timeout} s") from None
    except TRANSPORT_ERRORS as exc:
        raise transport_error(exc, where) from exc
