"""A blocking AMI client: the standard library's ``socket`` and trio_ami's sans-IO core.

    python docs/examples/blocking_client.py HOST PORT USER SECRET

Connects, logs in (MD5 challenge), sends Ping, lists the channels, runs a CLI command, reads a
configuration file, places a call and waits for its outcome, and logs off. The protocol decides
everything and the typed helpers come from the core (``trio_ami.sansio.requests``); this file
only moves bytes and sorts out the items.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from contextlib import closing
from typing import TypeVar

from trio_ami.sansio import (
    Action,
    ActionAborted,
    ActionCompleted,
    ActionResult,
    AMIError,
    AuthenticationError,
    ClientProtocol,
    ConnectionTerminated,
    Event,
    LoginFailed,
    LoginSucceeded,
    Request,
    requests,
)

T = TypeVar("T")


class BlockingAMI:
    """One AMI session over a blocking socket. Events are kept in ``events`` as they come."""

    def __init__(self, host: str, port: int, *, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.proto = ClientProtocol()
        self.events: list[Event] = []
        self.results: dict[str, ActionResult] = {}
        self.aborted: dict[str, AMIError] = {}  # ConnectionClosed, or ListTooLong
        self.logged_in = False
        self.login_error: AuthenticationError | None = None
        self.ended: ConnectionTerminated | None = None
        self._wait(lambda: self.proto.banner is not None)

    def close(self) -> None:
        self.sock.close()

    # -- moving bytes ------------------------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        if data:
            self.sock.sendall(data)

    def _pump(self) -> None:
        """Read once from the server and file away everything the protocol reports."""
        self.proto.receive_data(self.sock.recv(65536))  # b"" when the server closed
        self._send(self.proto.data_to_send())  # e.g. the Login answering a Challenge
        for item in self.proto.take_items():
            if isinstance(item, Event):
                self.events.append(item)
            elif isinstance(item, ActionCompleted):
                self.results[item.action_id] = item.result
            elif isinstance(item, ActionAborted):
                self.aborted[item.action_id] = item.error
            elif isinstance(item, LoginSucceeded):
                self.logged_in = True
            elif isinstance(item, LoginFailed):
                self.login_error = AuthenticationError(item.message)
            elif isinstance(item, ConnectionTerminated):
                self.ended = item
            # BannerReceived, ListItem (stream=True only) and UnexpectedMessage: nothing to do.

    def _wait(self, done: Callable[[], bool]) -> None:
        while not done():
            if self.ended is not None:
                raise self.ended.closed_error("the session is over")
            self._pump()

    # -- the API -----------------------------------------------------------------------------------
    def login(self, username: str, secret: str) -> None:
        self._send(self.proto.login(username, secret, auth="md5", events=True))
        self._wait(lambda: self.logged_in or self.login_error is not None)
        if self.login_error is not None:
            raise self.login_error

    def action(self, name: str, headers: dict[str, str] | None = None) -> ActionResult:
        """Send an action and wait for its complete result (a whole event list, if any)."""
        action_id, data = self.proto.send_action(Action(name, headers or {}))
        self._send(data)
        self._wait(lambda: action_id in self.results or action_id in self.aborted)
        if action_id in self.aborted:
            raise self.aborted.pop(action_id)
        return self.results.pop(action_id)

    def request(self, request: Request[T], *, check: bool = True) -> T:
        """Send one of the core's typed helpers and return what it reads (``ActionFailed`` if
        the action failed, unless ``check=False``)."""
        action_id, data = request.send(self.proto)
        self._send(data)
        self._wait(lambda: action_id in self.results or action_id in self.aborted)
        if action_id in self.aborted:
            raise self.aborted.pop(action_id)
        return request.read(self.results.pop(action_id), check=check)

    def logoff(self) -> None:
        self._send(self.proto.logoff())
        while self.ended is None:  # Goodbye, then the server closes
            self._pump()


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: blocking_client.py HOST PORT USER SECRET", file=sys.stderr)
        return 2
    host, port, username, secret = argv
    with closing(BlockingAMI(host, int(port))) as ami:
        assert ami.proto.banner is not None
        print(f"connected: AMI {ami.proto.banner.version}")
        ami.login(username, secret)
        print("logged in")
        print(f"Ping: {ami.request(requests.ping()).get('Ping')}")
        channels = ami.action("CoreShowChannels")
        print(f"channels: {len(channels.events)} (server counted {channels.expected_items})")
        for channel in channels.events:
            print(f"  {channel['Channel']} {channel.get('ChannelStateDesc', '')}")
        for line in ami.request(requests.command("core show uptime")):
            print(f"| {line}")
        for category, lines in ami.request(requests.get_config("sip.conf")).items():
            print(f"sip.conf [{category}]: {', '.join(lines)}")
        call = requests.originate("PJSIP/100", context="internal", exten="200", wait=True)
        outcome = ami.request(call).outcome
        assert outcome is not None
        print(f"call: {outcome['Response']}, Uniqueid {outcome['Uniqueid']}")
        ami.logoff()
        print(f"logged off after {len(ami.events)} events")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
