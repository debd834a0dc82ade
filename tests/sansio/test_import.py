"""The sans-IO core must not pull in any I/O or event-loop library."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ["trio", "asyncio", "socket", "selectors", "ssl", "select"]


def test_importing_sansio_imports_no_io_library() -> None:
    code = "import json, sys\nimport trio_ami.sansio\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    modules = set(json.loads(result.stdout))
    assert "trio_ami.sansio._parser" in modules
    assert not {name for name in modules if name.split(".")[0] in FORBIDDEN}
