"""Keepalive: a ``Ping`` after a quiet spell, and a peer that does not answer it declared dead.

A half-open link (the TCP connection looks up, nothing flows) is otherwise noticed only when the
kernel gives up on unacknowledged data, which can take a quarter of an hour, or never when this
side sends nothing. Traffic from the server counts as life, so a busy link is never pinged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from .sansio import ActionTimeout, ConnectionClosed, requests

if TYPE_CHECKING:
    from ._connection import AMIConnection

__all__ = ["keep_alive"]

logger = logging.getLogger("trio_ami")


async def keep_alive(connection: AMIConnection, interval: float, timeout: float) -> None:
    """Until the session ends: whenever ``interval`` seconds pass with nothing received from the
    server, send a ``Ping``; if it gets no answer within ``timeout`` seconds, abort the
    connection (the session ends as ``TRANSPORT_ERROR``). A peer that falls silent is thus
    declared dead at most ``interval + timeout`` seconds after it was last heard."""
    while True:
        quiet_until = connection.last_received + interval
        if trio.current_time() < quiet_until:
            with trio.move_on_at(quiet_until):
                await connection.wait_closed()
                return
            continue
        try:
            await connection.request(requests.ping(), timeout=timeout, check=False)
        except ConnectionClosed:
            return
        except ActionTimeout:
            reason = f"no answer to the keepalive Ping within {timeout} s"
            logger.warning("AMI peer declared dead: %s", reason)
            connection.abort(reason)
            return
