"""Message views computed on first read, bulk construction and the encoding a message keeps."""

from __future__ import annotations

import pickle
from types import MemberDescriptorType

import pytest

from trio_ami.sansio import Event, Message, PacketParser, Response
from trio_ami.sansio._fastpath import SlotView
from trio_ami.sansio._messages import check_encoding

LATIN = b"Event: Caf\xe9\r\nCallerIDName: Jos\xe9"


@pytest.mark.parametrize("cls", [Message, Event, Response])
def test_attribute_reads_stay_on_the_fast_path(cls: type[Message]) -> None:
    # A class-level __getattr__ (what attrs adds for functools.cached_property on a slotted
    # class) would take every attribute read of a message off CPython's fast path.
    assert not any("__getattr__" in vars(klass) for klass in cls.__mro__)
    assert not hasattr(cls("Event: A"), "__dict__")


def test_raw_reads_its_slot() -> None:
    event = Event("Event: A\nB: c")
    assert event.raw == b"Event: A\r\nB: c"
    assert isinstance(vars(Message)["raw"], MemberDescriptorType)  # no function between
    with pytest.raises(AttributeError):
        event.raw = b"Event: B"  # type: ignore[misc]
    assert event.raw == b"Event: A\r\nB: c"


def test_views_are_computed_once() -> None:
    event = Event("Event: A\nK: v\nk: w")
    headers = event.headers
    assert headers == (("Event", "A"), ("K", "v"), ("k", "w"))
    assert event.headers is headers
    assert event.get_all("K") == ["v", "w"]
    assert len(event) == 2
    assert isinstance(vars(Message)["headers"], SlotView)
    assert Message.headers is vars(Message)["headers"]
    assert (Message.headers.__doc__ or "").startswith("Every header as a ``(key, value)`` pair")


def test_messages_of_every_encoding_are_of_the_public_classes() -> None:
    parser = PacketParser(expect_banner=False, encoding="latin-1")
    parser.receive_data(LATIN + b"\r\n\r\nResponse: Success\r\n\r\nAction: Ping\r\n\r\n")
    event, response, other = parser.take_messages()
    assert (type(event), type(response), type(other)) == (Event, Response, Message)
    assert event.encoding == response.encoding == other.encoding == "latin-1"
    assert event.name == "Café" and event["CallerIDName"] == "José"


def test_equality_is_the_packet_whatever_the_encoding() -> None:
    [latin] = Event.from_packets([LATIN], "latin-1")
    utf8 = Event(LATIN)
    assert latin == utf8 and hash(latin) == hash(utf8)
    assert latin["CallerIDName"] == "José"
    assert utf8["CallerIDName"] == "Jos\udce9"  # the same bytes, kept as a lone surrogate
    assert latin != Message(LATIN)  # another kind
    head = b"Response: Follows\r\nPrivilege: Command"
    [legacy] = Response.from_packets([head], "latin-1", legacy_output=("caf\xe9",))
    assert legacy == Response(head, ("caf\xe9",))
    assert legacy != Response(head, ("cafe",)) != Response(head)


def test_messages_built_in_bulk_are_those_built_one_by_one() -> None:
    packets = [b"Event: A\r\nName: x", b"Event: B"]
    assert Event.from_packets(packets) == [Event(packet) for packet in packets]
    [response] = Response.from_packets([b"Response: Success"])
    assert response == Response(b"Response: Success")
    assert not response.is_legacy_command
    assert response.encoding == "utf-8"


def test_a_message_keeps_its_encoding_through_pickle_and_to_bytes() -> None:
    [event] = Event.from_packets([LATIN], "cp1252")
    copied = pickle.loads(pickle.dumps(event))
    assert copied.encoding == "cp1252" and copied["CallerIDName"] == "José"
    assert event.to_bytes() == LATIN + b"\r\n\r\n"
    assert event.to_bytes("utf-8") == LATIN.decode("cp1252").encode() + b"\r\n\r\n"
    assert pickle.loads(pickle.dumps(Event(LATIN))).encoding == "utf-8"


@pytest.mark.parametrize(
    ("name", "kept"),
    [("utf-8", None), ("UTF8", None), ("latin-1", "latin-1"), ("cp1252", "cp1252")],
)
def test_check_encoding(name: str, kept: str | None) -> None:
    assert check_encoding(name) == kept


def test_check_encoding_refuses_what_ami_cannot_use() -> None:
    with pytest.raises(LookupError):
        check_encoding("no-such-codec")
    with pytest.raises(ValueError, match="ASCII"):
        check_encoding("utf-16")


def test_a_legacy_command_answer_keeps_the_encoding() -> None:
    parser = PacketParser(expect_banner=False, encoding="latin-1")
    parser.receive_data(
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: 1\r\n"
        b"caf\xe9\n--END COMMAND--\r\n\r\n"
    )
    [response] = parser.take_messages()
    assert isinstance(response, Response) and response.is_legacy_command
    assert response.encoding == "latin-1"
    assert response.output == ["café"]
    assert response.to_bytes().endswith(b"caf\xe9\n--END COMMAND--\r\n\r\n")
