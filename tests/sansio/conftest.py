from __future__ import annotations

import pytest
from helpers.splitting import SPLITTERS, Splitter


@pytest.fixture(params=SPLITTERS, ids=lambda split: split.__name__)
def split(request: pytest.FixtureRequest) -> Splitter:
    """Each way of cutting a stream: whole, one byte at a time, random chunks."""
    return request.param  # type: ignore[no-any-return]
