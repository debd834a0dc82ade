"""Throughput of the sans-IO packet parser against a careful naive parser, in the same run.

Usage::

    python benchmarks/bench_parser.py            # full run: 20 MB corpus, report as text
    python benchmarks/bench_parser.py --quick    # 4 MB corpus, fewer repeats
    python benchmarks/bench_parser.py --json     # one JSON object on stdout

The corpus (``ami_corpus.py``, fixed seed) is the traffic of a busy PBX: ~480-byte events of
sixteen real types, responses, event lists and Command output, behind the AMI banner. It is fed in
64 KiB chunks to ``PacketParser`` and to the naive parser below; each workload then reads the same
things from every message:

- routing: the message name only (``msg.name`` / ``d.get("Event") or d.get("Response")``);
- typical: the name and three headers (``Channel``, ``Uniqueid``, ``ActionID``);
- full: every header of every message (``msg.headers`` / ``d.items()``).

Reading the ``ActionID`` too (``msg.get("ActionID")``, absent from most events) is measured
against the name alone. The protocol path is ``ClientProtocol.receive_data`` and ``take_items``
after a login (bytes to routed items: events, and responses no action is waiting for), against
naive routing: with no action pending, and with one action (an ``Async`` Originate awaiting its
outcome) that claims events carrying its ActionID, so every event is checked for it.

Legacy ``Command`` answers (Asterisk <= 13: raw output lines, blank lines among them, up to an
``--END COMMAND--`` line) are then mixed into the events, our parser only, messages built and
nothing read: one answer per 64 KiB of events fed in 64 KiB chunks, and one answer in the middle
of one 1 MB chunk. Each is reported against the events alone, fed the same way.

Each figure is the best of several repeats; the naive and our parser alternate within a repeat,
each timed from a fresh parser after ``gc.collect()``, with the garbage collector left on.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from io import IncrementalNewlineDecoder
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ami_corpus import BANNER, build_corpus

from trio_ami.sansio import Action, ClientProtocol, PacketParser

CHUNK = 64 * 1024
WORKLOADS = ("routing", "typical", "full")
TARGETS = {"routing": 3.5, "typical": 1.5, "full": 1.0}  # ours / naive throughput
PROTOCOL_TARGET = 2.5  # the protocol path / naive routing
TARGETS_VS_NAIVE = {f"{name}_vs_naive": target for name, target in TARGETS.items()}


# -- the naive baseline ---------------------------------------------------------------------------
class NaiveParser:
    """What one writes first, written with care: frame on bytes, keep the incomplete tail,
    decode each packet (UTF-8, surrogateescape), one dict per packet from ``partition(": ")``.

    It is not a complete AMI parser (a repeated key keeps its last value, bare ``\\n`` line ends
    and legacy Command output are not handled), which only makes it cheaper.
    """

    def __init__(self) -> None:
        self.tail = b""
        self.banner: bytes | None = None

    def receive(self, chunk: bytes) -> list[dict[str, str]]:
        buf = self.tail + chunk
        if self.banner is None:
            end = buf.find(b"\r\n")
            if end < 0:
                self.tail = buf
                return []
            self.banner, buf = buf[:end], buf[end + 2 :]
        packets = buf.split(b"\r\n\r\n")
        self.tail = packets.pop()
        messages = []
        for packet in packets:
            if not packet:
                continue
            headers = {}
            # A plain loop: faster than a dict comprehension over a generator of partitions.
            for line in packet.decode("utf-8", "surrogateescape").split("\r\n"):
                key, _, value = line.partition(": ")
                headers[key] = value
            messages.append(headers)
        return messages


def naive_framing(chunks: list[bytes]) -> int:
    """Framing only: split the byte stream into packets, nothing decoded."""
    tail = b""
    count = 0
    for chunk in chunks:
        packets = (tail + chunk).split(b"\r\n\r\n")
        tail = packets.pop()
        count += len(packets)
    return count


def naive_routing(chunks: list[bytes]) -> int:
    receive = NaiveParser().receive
    count = 0
    for chunk in chunks:
        messages = receive(chunk)
        for d in messages:
            _name = d.get("Event") or d.get("Response")
        count += len(messages)
    return count


def naive_routing_action_id(chunks: list[bytes]) -> int:
    receive = NaiveParser().receive
    count = 0
    for chunk in chunks:
        messages = receive(chunk)
        for d in messages:
            _name = d.get("Event") or d.get("Response")
            _action_id = d.get("ActionID")
        count += len(messages)
    return count


def naive_typical(chunks: list[bytes]) -> int:
    receive = NaiveParser().receive
    count = 0
    for chunk in chunks:
        messages = receive(chunk)
        for d in messages:
            _name = d.get("Event") or d.get("Response")
            _channel = d.get("Channel")
            _uniqueid = d.get("Uniqueid")
            _action_id = d.get("ActionID")
        count += len(messages)
    return count


def naive_full(chunks: list[bytes]) -> int:
    receive = NaiveParser().receive
    count = 0
    for chunk in chunks:
        messages = receive(chunk)
        for d in messages:
            for _key, _value in d.items():
                pass
        count += len(messages)
    return count


def block_passes(chunks: list[bytes]) -> int:
    """Only the whole-block passes ``PacketParser`` makes (find the last terminator, copy the
    block, tell which line ends it has, split on blank lines), no message built: a floor for a
    parser that frames this way and tolerates bare ``\\n`` exactly."""
    line_ends = IncrementalNewlineDecoder(None, translate=False)
    tail = b""
    count = 0
    for chunk in chunks:
        buf = tail + chunk
        end = buf.rfind(b"\n\r\n") + 3
        if end < 3:
            tail = buf
            continue
        block, tail = buf[:end], buf[end:]
        line_ends.reset()
        line_ends.decode(block.decode("latin-1"), True)
        assert line_ends.newlines == "\r\n"
        packets = block.split(b"\r\n\r\n")
        count += len(packets) - 1  # the banner line shares a piece with the first packet
    return count


# -- our parser -----------------------------------------------------------------------------------
def ours_parse_only(chunks: list[bytes]) -> int:
    """Framing, decoding and message construction; nothing read from the messages."""
    parser = PacketParser()
    feed, take = parser.receive_data, parser.take_messages
    count = 0
    for chunk in chunks:
        feed(chunk)
        count += len(take())
    return count


def ours_routing(chunks: list[bytes]) -> int:
    parser = PacketParser()
    feed, take = parser.receive_data, parser.take_messages
    count = 0
    for chunk in chunks:
        feed(chunk)
        messages = take()
        for msg in messages:
            _name = msg.name
        count += len(messages)
    return count


def ours_routing_action_id(chunks: list[bytes]) -> int:
    parser = PacketParser()
    feed, take = parser.receive_data, parser.take_messages
    count = 0
    for chunk in chunks:
        feed(chunk)
        messages = take()
        for msg in messages:
            _name = msg.name
            _action_id = msg.get("ActionID")
        count += len(messages)
    return count


def logged_in(*, claiming: bool) -> ClientProtocol:
    """A protocol past its login (and FullyBooted); with ``claiming``, an ``Async`` Originate
    awaits its outcome, so every event is checked for its ActionID."""
    proto = ClientProtocol(action_id_prefix="bench")
    proto.receive_data(BANNER)
    proto.login("admin", "secret", auth="plain")
    proto.receive_data(
        b"Response: Success\r\nActionID: bench-1\r\nMessage: Authentication accepted\r\n\r\n"
        b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
    )
    if claiming:
        originate = Action("Originate", {"Channel": "PJSIP/1000", "Async": "true"})
        proto.send_action(originate, outcome_event="OriginateResponse")
    proto.take_items()
    return proto


def protocol_path(chunks: list[bytes], *, claiming: bool) -> int:
    """Bytes to routed items; ``chunks`` start after the banner."""
    proto = logged_in(claiming=claiming)
    feed, take = proto.receive_data, proto.take_items
    count = 0
    for chunk in chunks:
        feed(chunk)
        count += len(take())
    return count


def ours_typical(chunks: list[bytes]) -> int:
    parser = PacketParser()
    feed, take = parser.receive_data, parser.take_messages
    count = 0
    for chunk in chunks:
        feed(chunk)
        messages = take()
        for msg in messages:
            _name = msg.name
            _channel = msg.get("Channel")
            _uniqueid = msg.get("Uniqueid")
            _action_id = msg.get("ActionID")
        count += len(messages)
    return count


def ours_full(chunks: list[bytes]) -> int:
    parser = PacketParser()
    feed, take = parser.receive_data, parser.take_messages
    count = 0
    for chunk in chunks:
        feed(chunk)
        messages = take()
        for msg in messages:
            for _key, _value in msg.headers:
                pass
        count += len(messages)
    return count


# -- legacy Command answers ------------------------------------------------------------------------
# The output of "dialplan show" on Asterisk 13 (tests/data/asterisk13/command_output.raw): lines
# end with a bare \n, one is blank, one looks like a header.
LEGACY_OUTPUT = [
    "[ Context 'from-internal' created by 'pbx_config' ]",
    *(
        f"  '{ext}' =>          1. Answer()                                   [pbx_config]\n"
        f"                    2. UserEvent(Dialed,Exten: {ext})             [pbx_config]\n"
        f"                    3. Dial(PJSIP/{ext},30,tT)                     [pbx_config]\n"
        f"                    4. Hangup()                                   [pbx_config]"
        for ext in range(1001, 1013)
    ),
    "",
    "-= 12 extensions (48 priorities) in 1 context. =-",
]
LEGACY_LINES = "\n".join(LEGACY_OUTPUT).split("\n")


def legacy_answer(serial: int) -> bytes:
    """One legacy Command answer, as Asterisk <= 13 sends it."""
    return (
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: cmd-%d\r\n" % serial
        + "\n".join(LEGACY_OUTPUT).encode()
        + b"\n--END COMMAND--\r\n\r\n"
    )


def with_legacy_answers(data: bytes, every: int) -> tuple[bytes, int]:
    """The corpus with a legacy answer after the packet that ends at or past ``every // 2``
    bytes, then every ``every`` bytes; and how many answers went in."""
    packets = data[len(BANNER) :].split(b"\r\n\r\n")
    packets.pop()  # after the last packet
    out = [BANNER]
    size = len(BANNER)
    due = every // 2
    for packet in packets:
        out.append(packet + b"\r\n\r\n")
        size += len(packet) + 4
        if size >= due:
            out.append(legacy_answer(len(out)))
            size += len(out[-1])
            due += every
    return b"".join(out), len(out) - 1 - len(packets)


def check_legacy(chunks: list[bytes], answers: int) -> None:
    """Our parser finds every legacy answer, with its output."""
    parser = PacketParser()
    legacy = []
    for chunk in chunks:
        parser.receive_data(chunk)
        legacy += [m for m in parser.take_messages() if getattr(m, "is_legacy_command", False)]
    assert len(legacy) == answers, (len(legacy), answers)
    assert all(m.output == LEGACY_LINES for m in legacy)  # type: ignore[attr-defined]


NAIVE: dict[str, Callable[[list[bytes]], int]] = {
    "routing": naive_routing,
    "typical": naive_typical,
    "full": naive_full,
}
OURS: dict[str, Callable[[list[bytes]], int]] = {
    "routing": ours_routing,
    "typical": ours_typical,
    "full": ours_full,
}


# -- measurement ----------------------------------------------------------------------------------
def timed(func: Callable[[list[bytes]], int], chunks: list[bytes]) -> tuple[float, int]:
    gc.collect()
    start = time.perf_counter()
    count = func(chunks)
    return time.perf_counter() - start, count


def check_agreement(chunks: list[bytes]) -> None:
    """Both parsers see the same messages with the same names and looked-up headers."""
    parser, naive = PacketParser(), NaiveParser()
    for chunk in chunks:
        parser.receive_data(chunk)
        ours = parser.take_messages()
        theirs = naive.receive(chunk)
        assert len(ours) == len(theirs), (len(ours), len(theirs))
        for msg, d in zip(ours, theirs, strict=True):
            assert msg.name == (d.get("Event") or d.get("Response")), (msg, d)
            assert dict(msg.headers) == d, (msg, d)
            first: dict[str, str] = {}
            for key, value in msg.headers:
                first.setdefault(key.lower(), value)
            for key in ("Channel", "Uniqueid", "ActionID"):
                # Ours is case-insensitive (a Cdr says "UniqueID"), the naive dict is not.
                assert msg.get(key) == first.get(key.lower()), (key, msg)
                assert key not in d or d[key] == msg.get(key), (key, msg, d)
    parser.receive_data(b"")
    assert not parser.take_messages() and parser.at_eof


def peak_memory(chunks: list[bytes]) -> int:
    """Peak bytes allocated by Python (tracemalloc) while parsing the corpus, full workload."""
    gc.collect()
    tracemalloc.start()
    try:
        ours_full(chunks)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def big_packet(size: int) -> bytes:
    """One Command response of about ``size`` bytes: one ``Output:`` header per CLI line."""
    head = b"Response: Success\r\nActionID: big-1\r\nMessage: Command output follows\r\n"
    lines = []
    total = len(head) + 2
    n = 0
    while total < size:
        line = b"Output: PJSIP/%04d-%08x  from-internal  Up  Dial(PJSIP/%04d,30,tT)  %6d\r\n" % (
            1000 + n % 300, n, 1000 + (n * 7) % 300, n,
        )  # fmt: skip
        lines.append(line)
        total += len(line)
        n += 1
    return head + b"".join(lines) + b"\r\n"


def feed_cost(packet: bytes, step: int, repeats: int) -> tuple[float, int]:
    """Best seconds to feed ``packet`` in ``step``-byte pieces and take its one message."""
    pieces = [packet[i : i + step] for i in range(0, len(packet), step)]
    best = float("inf")
    lines = 0
    for _ in range(repeats):
        parser = PacketParser()
        parser.receive_data(BANNER)
        feed = parser.receive_data
        gc.collect()
        start = time.perf_counter()
        for piece in pieces:
            feed(piece)
        (msg,) = parser.take_messages()
        best = min(best, time.perf_counter() - start)
        lines = len(msg.headers)
    return best, lines


def run(
    quick: bool, size_mb: float | None, repeats: int | None, log: Callable[[str], None]
) -> dict[str, object]:
    size = int((size_mb if size_mb is not None else (4 if quick else 20)) * 1_000_000)
    repeats = repeats or (3 if quick else 5)
    data, stats = build_corpus(size)
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    megabytes = len(data) / 1e6
    messages = int(stats["messages"])  # type: ignore[call-overload]
    log(
        f"corpus: {len(data):,} bytes, {messages:,} messages "
        f"(mean {stats['mean_message_bytes']} bytes, {stats['non_ascii_messages']:,} not ASCII), "
        f"{len(chunks)} chunks of {CHUNK // 1024} KiB"
    )
    kinds = stats["kinds"]
    assert isinstance(kinds, dict)
    log("kinds: " + ", ".join(f"{kind.split(': ')[1]} {count}" for kind, count in kinds.items()))
    check_agreement(chunks)
    log("agreement check: both parsers return the same messages, names and headers")

    # The protocol path is fed the corpus after the banner, which its login went past.
    body = data[len(BANNER) :]
    body_chunks = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
    best: dict[str, float] = {}
    for _ in range(repeats):
        for kind, func, count_expected in (
            ("naive_framing", naive_framing, messages),
            ("block_passes", block_passes, messages),
            ("ours_parse_only", ours_parse_only, messages),
            ("naive_routing_action_id", naive_routing_action_id, messages),
            ("ours_routing_action_id", ours_routing_action_id, messages),
        ):
            seconds, count = timed(func, chunks)
            assert count == count_expected, (kind, count)
            best[kind] = min(best.get(kind, float("inf")), seconds)
        for kind, claiming in (("protocol", False), ("protocol_claiming", True)):
            seconds, count = timed(partial(protocol_path, claiming=claiming), body_chunks)
            assert count == messages, (kind, count)
            best[kind] = min(best.get(kind, float("inf")), seconds)
        for workload in WORKLOADS:
            for side, funcs in (("naive", NAIVE), ("ours", OURS)):
                seconds, count = timed(funcs[workload], chunks)
                assert count == messages, (side, workload, count)
                key = f"{side}_{workload}"
                best[key] = min(best.get(key, float("inf")), seconds)

    result: dict[str, object] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "nproc": os.cpu_count(),
        "corpus_bytes": len(data),
        "corpus_messages": messages,
        "mean_message_bytes": stats["mean_message_bytes"],
        "corpus_kinds": kinds,
        "chunk_bytes": CHUNK,
        "repeats": repeats,
        "targets": TARGETS_VS_NAIVE,
    }
    log(f"\nbest of {repeats}; MB = 10^6 bytes\n")
    log(
        f"{'workload':<10} {'naive MB/s':>10} {'ours MB/s':>10} {'ours msg/s':>12} {'ratio':>7} "
        f"{'target':>7}"
    )
    for workload in WORKLOADS:
        naive_s, ours_s = best[f"naive_{workload}"], best[f"ours_{workload}"]
        ratio = naive_s / ours_s
        result[f"{workload}_vs_naive"] = round(ratio, 3)
        result[f"mb_per_s_{workload}"] = round(megabytes / ours_s, 1)
        result[f"naive_mb_per_s_{workload}"] = round(megabytes / naive_s, 1)
        result[f"messages_per_s_{workload}"] = round(messages / ours_s)
        target = TARGETS[workload]
        log(
            f"{workload:<10} {megabytes / naive_s:>10.1f} {megabytes / ours_s:>10.1f} "
            f"{messages / ours_s:>12,.0f} {ratio:>6.2f}x {target:>6.1f}x "
            f"{'met' if ratio >= target else 'MISSED'}"
        )
    framing_s, parse_s = best["naive_framing"], best["ours_parse_only"]
    naive_routing_s = best["naive_routing"]
    result["naive_framing_mb_per_s"] = round(megabytes / framing_s, 1)
    result["naive_framing_vs_naive_routing"] = round(naive_routing_s / framing_s, 3)
    result["mb_per_s_parse_only"] = round(megabytes / parse_s, 1)
    result["parse_only_vs_naive"] = round(naive_routing_s / parse_s, 3)
    log(
        f"\nframing only (naive bytes.split, nothing decoded): {megabytes / framing_s:.1f} MB/s, "
        f"{naive_routing_s / framing_s:.2f}x naive routing"
    )
    passes_s = best["block_passes"]
    result["block_passes_mb_per_s"] = round(megabytes / passes_s, 1)
    result["block_passes_vs_naive_routing"] = round(naive_routing_s / passes_s, 3)
    log(
        f"our whole-block passes only (line-end check, split; no message built): "
        f"{megabytes / passes_s:.1f} MB/s, {naive_routing_s / passes_s:.2f}x naive routing"
    )
    log(
        f"ours, parse only (messages built, nothing read): {megabytes / parse_s:.1f} MB/s, "
        f"{naive_routing_s / parse_s:.2f}x naive routing"
    )

    naive_aid_s, ours_aid_s = best["naive_routing_action_id"], best["ours_routing_action_id"]
    result["mb_per_s_routing_action_id"] = round(megabytes / ours_aid_s, 1)
    result["routing_action_id_vs_naive"] = round(naive_aid_s / ours_aid_s, 3)
    result["routing_action_id_vs_routing"] = round(best["ours_routing"] / ours_aid_s, 3)
    log(
        f"\nrouting by name and ActionID: {megabytes / ours_aid_s:.1f} MB/s, "
        f"{naive_aid_s / ours_aid_s:.2f}x naive (name and ActionID), "
        f"{best['ours_routing'] / ours_aid_s:.2f}x as fast as the name alone"
    )
    log(
        f"\nprotocol path (ClientProtocol.receive_data + take_items after a login), target "
        f"{PROTOCOL_TARGET}x naive routing:"
    )
    result["targets"] = {**TARGETS_VS_NAIVE, "protocol_vs_naive": PROTOCOL_TARGET}
    for kind, label in (
        ("protocol", "no action pending"),
        ("protocol_claiming", "an action claiming events"),
    ):
        ratio = naive_routing_s / best[kind]
        result[f"mb_per_s_{kind}"] = round(megabytes / best[kind], 1)
        result[f"{kind}_vs_naive"] = round(ratio, 3)
        log(
            f"  {label:<28} {megabytes / best[kind]:>7.1f} MB/s {ratio:>6.2f}x "
            f"{'met' if ratio >= PROTOCOL_TARGET else 'MISSED'}"
        )

    result.update(legacy_section(data, chunks, messages, repeats, log))

    peak = peak_memory(chunks)
    result["peak_traced_bytes_full"] = peak
    maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["max_rss_kib"] = maxrss_kib
    log(
        f"\npeak memory while parsing the corpus (full workload, tracemalloc, corpus excluded): "
        f"{peak / 1e6:.2f} MB; process max RSS (resource.ru_maxrss, corpus included): "
        f"{maxrss_kib / 1024:.1f} MiB"
    )

    log("\none big packet (Command output, one Output: line per CLI line):")
    log(f"{'packet':>10} {'lines':>7} {'feed':>9} {'seconds':>9} {'ns/byte':>9}")
    feeds: dict[str, float] = {}
    cases = [(256 * 1024, 1), (1024 * 1024, 1), (1024 * 1024, CHUNK)]
    if not quick:
        cases.insert(0, (64 * 1024, 1))
    for packet_size, step in cases:
        packet = big_packet(packet_size)
        seconds, lines = feed_cost(packet, step, 20 if step != 1 else 1 if quick else 3)
        per_byte = seconds / len(packet) * 1e9
        label = f"{packet_size // 1024}k_by_{'1' if step == 1 else '64k'}"
        feeds[label] = per_byte
        result[f"ns_per_byte_{label}"] = round(per_byte, 2)
        log(
            f"{len(packet):>10,} {lines:>7,} {'1 B' if step == 1 else '64 KiB':>9} "
            f"{seconds:>9.3f} {per_byte:>9.2f}"
        )
    ratio = feeds["1024k_by_1"] / feeds["1024k_by_64k"]
    growth = feeds["1024k_by_1"] / feeds["256k_by_1"]
    result["byte_at_a_time_vs_64k_per_byte"] = round(ratio, 1)
    result["byte_at_a_time_1m_vs_256k_per_byte"] = round(growth, 3)
    log(
        f"1 MiB packet: 1-byte feeds cost {ratio:.1f}x the 64 KiB feeds per byte; per-byte cost "
        f"at 1 MiB is {growth:.2f}x that at 256 KiB (1.0 = linear)"
    )
    return result


def legacy_section(
    data: bytes, chunks: list[bytes], messages: int, repeats: int, log: Callable[[str], None]
) -> dict[str, object]:
    """Legacy Command answers among the events, against the events alone fed the same way."""
    mixed, mixed_answers = with_legacy_answers(data, CHUNK)
    mixed_chunks = [mixed[i : i + CHUNK] for i in range(0, len(mixed), CHUNK)]
    # One chunk of whole packets, about 1 MB (less from a corpus under 2 MB).
    cut = data.index(b"\r\n\r\n", min(1_000_000, len(data) // 2)) + 4
    events_mb = data[:cut]
    legacy_mb, mb_answers = with_legacy_answers(events_mb, len(events_mb))
    mb_messages = events_mb.count(b"\r\n\r\n")
    runs = {  # name: (chunks, messages expected)
        "events_64k": (chunks, messages),
        "legacy_64k": (mixed_chunks, messages + mixed_answers),
        "events_1mb": ([BANNER, events_mb[len(BANNER) :]], mb_messages),
        "legacy_1mb": ([BANNER, legacy_mb[len(BANNER) :]], mb_messages + mb_answers),
    }
    check_legacy(mixed_chunks, mixed_answers)
    check_legacy(runs["legacy_1mb"][0], mb_answers)
    best: dict[str, float] = {}
    for _ in range(repeats):
        for name, (run_chunks, expected) in runs.items():
            seconds, count = timed(ours_parse_only, run_chunks)
            assert count == expected, (name, count, expected)
            best[name] = min(best.get(name, float("inf")), seconds)
    size = {
        "events_64k": len(data),
        "legacy_64k": len(mixed),
        "events_1mb": len(events_mb),
        "legacy_1mb": len(legacy_mb),
    }
    rate = {name: size[name] / 1e6 / best[name] for name in runs}
    result: dict[str, object] = {
        "legacy_answer_bytes": len(legacy_answer(0)),
        "legacy_64k_answers": mixed_answers,
        "mb_per_s_legacy_64k": round(rate["legacy_64k"], 1),
        "mb_per_s_events_64k": round(rate["events_64k"], 1),
        "legacy_64k_vs_events": round(rate["legacy_64k"] / rate["events_64k"], 3),
        "legacy_1mb_chunk_bytes": len(legacy_mb) - len(BANNER),
        "mb_per_s_legacy_1mb_chunk": round(rate["legacy_1mb"], 1),
        "mb_per_s_events_1mb_chunk": round(rate["events_1mb"], 1),
        "legacy_1mb_chunk_vs_events": round(rate["legacy_1mb"] / rate["events_1mb"], 3),
    }
    log(
        f"\nlegacy Command answers among the events ({len(legacy_answer(0)):,} bytes each, "
        f"{len(LEGACY_LINES)} output lines), parse only, best of {repeats}:"
    )
    log(f"{'stream':<44} {'MB/s':>8} {'events MB/s':>12} {'ratio':>7}")
    for label, legacy, events in (
        (f"one per 64 KiB ({mixed_answers}), 64 KiB chunks", "legacy_64k", "events_64k"),
        (f"one in one {len(legacy_mb) - len(BANNER):,}-byte chunk", "legacy_1mb", "events_1mb"),
    ):
        log(
            f"{label:<44} {rate[legacy]:>8.1f} {rate[events]:>12.1f} "
            f"{rate[legacy] / rate[events]:>6.2f}x"
        )
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="4 MB corpus, 3 repeats")
    ap.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    ap.add_argument("--size-mb", type=float, help="corpus size in MB (default 20, quick 4)")
    ap.add_argument("--repeats", type=int, help="repeats per measurement (default 5, quick 3)")
    args = ap.parse_args()

    def log(line: str) -> None:
        if not args.json:
            print(line, flush=True)

    log(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{os.cpu_count()} CPUs, {platform.platform()}"
    )
    result = run(args.quick, args.size_mb, args.repeats, log)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
