"""The producer of ``bench_e2e.py --unthrottled``: a process that floods AMI clients with events.

Usage::

    python benchmarks/e2e_producer.py --events N

It listens on 127.0.0.1 (a free port, printed as the first line on stdout) and serves one
connection at a time, speaking just enough AMI for a session:

- the banner ``Asterisk Call Manager/11.0.0``;
- ``Challenge`` (MD5) and ``Login`` (any credentials are accepted, MD5 or plain): ``Response:
  Success``, ``Message: Authentication accepted``;
- ``Logoff``: ``Response: Goodbye``, then the connection is closed;
- any other action: ``Response: Success`` (with ``Ping: Pong`` for a ``Ping``).

The flood is ``N`` events (those of ``bench_e2e.build_events``, cycled; serialised once, at start)
written with ``sock.sendall`` in blocks of about 1 MB, as fast as the socket takes them, then
the end marker ``Event: BenchDone``. When it starts depends on the login's ``Username``:

- ``flood-on-trigger``: when the client sends its first ``UserEvent`` action (after answering it);
- ``flood-on-login``: right after the login's answer.

Actions are read between blocks only, so whatever the client sends during the flood is answered
after the end marker. The process exits when its stdin is closed (its parent has gone).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading

from bench_e2e import DISTINCT_EVENTS, build_events

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
MARKER = "BenchDone"
CLIENT_TIMEOUT = 120.0  # seconds a client may stay silent before it is dropped


def packet(*headers: tuple[str, str]) -> bytes:
    return ("".join(f"{key}: {value}\r\n" for key, value in headers) + "\r\n").encode()


class Flood:
    """The serialised events: whole cycles of the distinct events as blocks, then the rest."""

    def __init__(self, total: int) -> None:
        events = build_events(DISTINCT_EVENTS)
        self.block = b"".join(events)
        self.blocks = total // len(events)
        self.tail = b"".join(events[: total % len(events)])
        self.marker = packet(("Event", MARKER), ("Privilege", "user,all"), ("Events", str(total)))

    def write(self, sock: socket.socket) -> None:
        for _ in range(self.blocks):
            sock.sendall(self.block)
        sock.sendall(self.tail + self.marker)


def serve(sock: socket.socket, flood: Flood) -> None:
    """One session: log the client in, flood it when its mode says, answer until Logoff."""
    sock.settimeout(CLIENT_TIMEOUT)
    sock.sendall(BANNER)
    pending = b""
    trigger = False
    flooded = False
    while True:
        data = sock.recv(65536)
        if not data:
            return
        *packets, pending = (pending + data).split(b"\r\n\r\n")
        for raw in packets:
            action: dict[str, str] = {}
            for line in raw.decode("utf-8", "surrogateescape").split("\r\n"):
                key, _, value = line.partition(":")
                action[key.strip().lower()] = value.strip()
            name = action.get("action", "").lower()
            action_id = ("ActionID", action.get("actionid", ""))
            if name == "logoff":
                sock.sendall(
                    packet(
                        ("Response", "Goodbye"), action_id, ("Message", "Thanks for all the fish.")
                    )
                )
                return
            if name == "challenge":
                sock.sendall(packet(("Response", "Success"), action_id, ("Challenge", "8675309")))
            elif name == "login":
                sock.sendall(
                    packet(
                        ("Response", "Success"), action_id, ("Message", "Authentication accepted")
                    )
                )
                trigger = action.get("username") != "flood-on-login"
                if not trigger and not flooded:
                    flooded = True
                    flood.write(sock)
            elif name == "ping":
                sock.sendall(packet(("Response", "Success"), action_id, ("Ping", "Pong")))
            else:
                sock.sendall(packet(("Response", "Success"), action_id))
                if name == "userevent" and trigger and not flooded:
                    flooded = True
                    flood.write(sock)


def exit_when_orphaned() -> None:
    sys.stdin.buffer.read()  # returns at EOF: the parent closed the pipe or is gone
    os._exit(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, required=True, help="events per flood")
    args = ap.parse_args()
    flood = Flood(args.events)
    threading.Thread(target=exit_when_orphaned, daemon=True).start()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        print(listener.getsockname()[1], flush=True)
        while True:
            conn, _ = listener.accept()
            with conn:
                try:
                    serve(conn, flood)
                except OSError as exc:  # a client that went away: serve the next one
                    print(f"producer: {exc!r}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
