"""The documentation site's sources: every page is in a table of contents, every public name
in the API reference. (The Sphinx build checks both again, on what it built: a page in no
toctree is a warning, hence an error under ``-W``.)"""

from __future__ import annotations

import fnmatch
import importlib
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
REFERENCE = {
    "trio_ami": DOCS / "api" / "trio_ami.md",
    "trio_ami.resilience": DOCS / "api" / "resilience.md",
    "trio_ami.sansio": DOCS / "api" / "sansio.md",
    "trio_ami.testing": DOCS / "api" / "testing.md",
    "trio_ami.redis": DOCS / "api" / "redis.md",
}
_TOCTREE = re.compile(r"^```\{toctree\}\n(.*?)^```", re.MULTILINE | re.DOTALL)


def toctree_entries(page: Path) -> list[str]:
    """The entries of every toctree of ``page``, as document names from the docs' root."""
    entries = []
    for body in _TOCTREE.findall(page.read_text()):
        for line in body.splitlines():
            if line.strip() and not line.startswith(":"):
                entries.append(str((page.parent / line.strip()).relative_to(DOCS)))
    return entries


def pages() -> list[str]:
    return sorted(
        str(path.relative_to(DOCS).with_suffix(""))
        for path in DOCS.rglob("*.md")
        if "_build" not in path.parts
    )


def test_every_page_is_in_a_toctree() -> None:
    entries = [entry for page in DOCS.rglob("*.md") for entry in toctree_entries(page)]
    assert "tutorial" in entries and "api/index" in entries
    missing = [
        page
        for page in pages()
        if page != "index" and not any(fnmatch.fnmatch(page, entry) for entry in entries)
    ]
    assert missing == []


@pytest.mark.parametrize("module_name", sorted(REFERENCE))
def test_every_public_name_is_in_the_reference(module_name: str) -> None:
    text = REFERENCE[module_name].read_text()
    module = importlib.import_module(module_name)
    missing = []
    for name in module.__all__:
        qualified = rf"({re.escape(module_name)}\.)?{re.escape(name)}\b"
        directive = rf"(auto)?(class|function|data|exception|module)::\s+{qualified}"
        reexport = rf"`~?trio_ami\.sansio\.{re.escape(name)}`"
        if not re.search(directive, text) and not re.search(reexport, text):
            missing.append(name)
    assert missing == []
