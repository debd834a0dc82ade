"""The harness of the documentation's examples fails when an example is wrong."""

from __future__ import annotations

from pathlib import Path

import doc_blocks
import pytest
from doc_blocks import ROOT, Block, BlockHung, blocks, missing_excerpt_lines, run_block


def block(code: str, marker: tuple[str, str] | None = None) -> Block:
    """A block of a page of its own (no file blocks before it)."""
    return Block(Path(__file__), 1, "python", code, marker)


PROGRAM = """
import trio
import trio_ami

async def main():
    async with trio_ami.open_ami("pbx.example.com", username="admin", secret="...") as ami:
        {body}

trio.run(main)
"""


def test_a_program_runs_against_the_fake_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_block(block(PROGRAM.format(body="print(await ami.ping())")), monkeypatch, tmp_path)
    assert len(run.connections) == 1 and not run.interrupted
    assert "Pong" in capsys.readouterr().out


def test_a_wrong_call_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(AttributeError, match="no_such_helper"):
        run_block(block(PROGRAM.format(body="await ami.no_such_helper()")), monkeypatch, tmp_path)


def test_a_session_block_gets_ami(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    run = run_block(block('assert (await ami.get_var("X")) == ""\n'), monkeypatch, tmp_path)
    assert len(run.connections) == 1


def test_an_event_loop_is_interrupted_once_it_has_read_everything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loop = """async with ami.subscribe("Hangup") as events:
            async for event in events:
                print(event["Cause-txt"])"""
    run = run_block(block(PROGRAM.format(body=loop)), monkeypatch, tmp_path)
    assert run.interrupted
    assert capsys.readouterr().out == "Normal Clearing\n"


def test_waiting_on_anything_else_is_a_hang(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(doc_blocks, "HUNG_AFTER", 0.5)  # a bound, not a measure of speed
    with pytest.raises(BlockHung):
        run_block(block(PROGRAM.format(body="await trio.sleep_forever()")), monkeypatch, tmp_path)


def test_test_functions_are_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code = "async def test_fails():\n    raise RuntimeError('ran')\n"
    with pytest.raises(RuntimeError, match="ran"):
        run_block(block(code), monkeypatch, tmp_path)


def test_an_excerpt_must_match_its_file() -> None:
    source = ROOT / "docs" / "examples" / "blocking_client.py"
    quoted = "def _pump(self):\n    self._send(self.proto.data_to_send())  # comment\n    ...\n"
    assert missing_excerpt_lines(block(quoted), source) == []
    assert missing_excerpt_lines(block(quoted + "    self.gone()\n"), source) == ["self.gone()"]
    out_of_order = "self._send(self.proto.data_to_send())\ndef _pump(self):\n"
    assert missing_excerpt_lines(block(out_of_order), source) == ["def _pump("]


def test_blocks_and_their_markers_are_read(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n\n<!-- not-run: a reason for it -->\n```python\nx = 1\n```\n\n"
        "````md\n```python\nnot a block\n```\n````\n\n```sh\necho\n```\n"
    )
    found = list(blocks(page))
    assert [(b.line, b.language, b.marker) for b in found] == [
        (4, "python", ("not-run", "a reason for it")),
        (8, "md", None),
        (14, "sh", None),
    ]
    assert found[0].code == "x = 1\n"
