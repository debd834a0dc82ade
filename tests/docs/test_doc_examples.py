"""The code blocks of README.md and the docs run (see doc_blocks for the convention)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from doc_blocks import (
    EXCERPT,
    FILE,
    NOT_RUN,
    Block,
    all_blocks,
    misfiled_code,
    missing_excerpt_lines,
    pages,
    run_block,
)

BLOCKS = all_blocks()
PYTHON_BLOCKS = [block for block in BLOCKS if block.is_python]
RUN = [block for block in PYTHON_BLOCKS if block.marker is None or block.marker[0] == FILE]
NOT_RUN_BLOCKS = [block for block in PYTHON_BLOCKS if block.marker and block.marker[0] == NOT_RUN]
EXCERPTS = [block for block in PYTHON_BLOCKS if block.marker and block.marker[0] == EXCERPT]


@pytest.mark.parametrize("block", RUN, ids=[block.where for block in RUN])
def test_block_runs(
    block: Block,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    run = run_block(block, monkeypatch, tmp_path)
    out, err = capsys.readouterr()
    assert err == ""
    defined = re.findall(r"^async def (test_\w+)", block.code, re.MULTILINE)
    assert run.tests == defined
    if run.interrupted:
        assert out, "a block interrupted while it waits for events has shown some"


@pytest.mark.parametrize("block", EXCERPTS, ids=[block.where for block in EXCERPTS])
def test_excerpt_is_in_its_file(block: Block) -> None:
    assert block.marker is not None
    source = block.path.parent / block.marker[1]
    assert source.is_file(), f"{block.where}: no such file {source}"
    assert missing_excerpt_lines(block, source) == []


def test_every_marker_is_known_and_says_why() -> None:
    for block in BLOCKS:
        if block.marker is None:
            continue
        kind, value = block.marker
        if kind not in (NOT_RUN, EXCERPT, FILE):
            continue  # another comment
        assert block.is_python, f"{block.where}: only Python blocks are run, or marked"
        if kind == NOT_RUN:
            assert len(value.split()) >= 3, f"{block.where}: say why the block cannot run"


def test_marking_a_block_not_run_is_the_exception() -> None:
    assert len(RUN) >= 5
    assert len(NOT_RUN_BLOCKS) * 3 <= len(PYTHON_BLOCKS), [b.where for b in NOT_RUN_BLOCKS]


def test_python_code_is_tagged_python() -> None:
    assert [block.where for block in BLOCKS if misfiled_code(block)] == []


def test_every_page_is_read() -> None:
    names = {path.name for path in pages()}
    assert {"README.md", "client.md", "sansio.md", "testing.md", "tutorial.md"} <= names
    assert all(path.suffix == ".md" for path in pages())
