"""What a release is made of: one version, the license, the changelog."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

import trio_ami
from trio_ami._cli import main

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = (ROOT / "pyproject.toml").read_text()
# tomllib is 3.11+: the two lines read here are simple enough for a pattern.
_VERSION_LINE = re.search(r'^version = "([^"]+)"$', PYPROJECT, re.MULTILINE)
assert _VERSION_LINE is not None, "pyproject.toml sets the version"
VERSION = _VERSION_LINE.group(1)


def test_the_version_is_the_one_in_pyproject() -> None:
    assert importlib.metadata.version("trio-ami") == VERSION, "reinstall: pip install -e ."
    assert trio_ami.__version__ == VERSION
    assert "__version__" in dir(trio_ami)
    init = (ROOT / "trio_ami" / "__init__.py").read_text()
    assert VERSION not in init, "the version is written in pyproject.toml only"


def test_version_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"trio-ami {VERSION}\n"


@pytest.mark.parametrize("command", ["module", "script"])
def test_version_option_of_the_installed_command(command: str) -> None:
    script = Path(sys.executable).with_name("trio-ami")
    if command == "script" and not script.exists():
        pytest.skip("no trio-ami script beside this interpreter")
    argv = [str(script)] if command == "script" else [sys.executable, "-m", "trio_ami"]
    done = subprocess.run(
        [*argv, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"trio-ami {VERSION}\n", "")


def test_the_license_is_the_declared_one() -> None:
    assert re.search(r'^license = "MIT"$', PYPROJECT, re.MULTILINE)
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 trio-ami contributors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_the_changelog_has_this_version_and_an_unreleased_section() -> None:
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert headings[0] == "Unreleased"
    released = [re.match(r"\[?(\d+\.\d+\.\d+)", heading) for heading in headings[1:]]
    versions = [match.group(1) for match in released if match]
    assert VERSION in versions
    assert len(versions) == len(headings) - 1, "every other heading is a release"
