"""Shared helpers for the packet-layer tests: ways to split a byte stream, and feeding."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from pathlib import Path

from trio_ami.sansio import Message, PacketParser

DATA = Path(__file__).resolve().parent.parent / "data"
CAPTURES = sorted([*DATA.glob("*.raw"), *DATA.glob("asterisk13/*.raw")])

Splitter = Callable[[bytes], list[bytes]]


def whole(data: bytes) -> list[bytes]:
    return [data] if data else []


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def random_chunks(seed: int, max_size: int = 16) -> Splitter:
    """A splitter cutting into random chunks of 1..max_size bytes, reproducibly."""

    def split(data: bytes) -> list[bytes]:
        rng = random.Random(seed)
        chunks, pos = [], 0
        while pos < len(data):
            size = rng.randint(1, max_size)
            chunks.append(data[pos : pos + size])
            pos += size
        return chunks

    split.__name__ = f"random{seed}"
    return split


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (any order, duplicates and bounds allowed)."""
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if a < b]


SPLITTERS: list[Splitter] = [whole, bytewise, random_chunks(1), random_chunks(2, 5)]


def drain(parser: PacketParser) -> list[Message]:
    """Every message available now, taken one by one with ``next_message``."""
    messages = []
    while (message := parser.next_message()) is not None:
        messages.append(message)
    return messages


def feed(parser: PacketParser, chunks: list[bytes], *, eof: bool = False) -> None:
    for chunk in chunks:
        parser.receive_data(chunk)
    if eof:
        parser.receive_data(b"")


def parse(
    data: bytes,
    split: Splitter = whole,
    *,
    banner: bool = False,
    eof: bool = True,
    **limits: int,
) -> list[Message]:
    """Parse ``data`` fed in the chunks ``split`` makes; raise the stream's error if any."""
    parser = PacketParser(expect_banner=banner, **limits)  # type: ignore[arg-type]
    feed(parser, split(data), eof=eof)
    return drain(parser)
