"""The example of docs/testing.md's section on the faults a reconnecting client meets runs,
and shows each fault."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
SECTION = "## Faults a reconnecting client meets"


def section_example() -> str:
    text = DOC.read_text()
    assert SECTION in text
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1, "the section holds one example"
    return str(blocks[0])


def test_the_faults_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(section_example(), str(DOC), "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.splitlines() == [
        "lost: the AMI connection is closed: the server closed the connection",
        "refused while the server restarts",
        "no answer: the link is dead",
        "refused: Authentication failed",
        "the list was cut short",
    ]
