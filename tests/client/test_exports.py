"""The top-level package: what users need, from one table, with the core free of trio."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import trio_ami
import trio_ami.sansio

INIT = Path(trio_ami.__file__)


def test_the_type_checkers_names_are_the_table() -> None:
    tree = ast.parse(INIT.read_text())
    guarded = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
    )
    imported = {
        (f".{node.module}" if node.level else node.module, alias.name)
        for node in guarded.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.asname == alias.name  # an explicit re-export
    }
    table = trio_ami._EXPORTS  # noqa: SLF001 - the table itself is what is checked
    assert imported == {(module, name) for name, module in table.items()}


def test_every_name_resolves_to_its_modules_object() -> None:
    table = trio_ami._EXPORTS  # noqa: SLF001 - the table itself is what is checked
    assert set(trio_ami.__all__) == {*table, "__version__"}
    for name, module in table.items():
        assert getattr(trio_ami, name) is getattr(importlib.import_module(module, "trio_ami"), name)
    assert set(dir(trio_ami)) >= set(trio_ami.__all__)


def test_the_surface_is_what_users_use() -> None:
    # About 25 names; the protocol's machinery stays in trio_ami.sansio.
    assert 25 <= len(trio_ami.__all__) <= 35
    for machinery in ("TRANSITIONS", "Input", "PacketParser", "serialize_headers", "ListItem"):
        assert machinery not in trio_ami.__all__
        assert hasattr(trio_ami.sansio, machinery)
    try:
        trio_ami.TRANSITIONS  # noqa: B018
    except AttributeError as exc:
        assert "TRANSITIONS" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("protocol machinery leaked to the top level")


def test_the_helpers_are_documented_like_their_requests() -> None:
    from trio_ami.sansio import requests

    method = trio_ami.AMIConnection.originate
    assert method.__doc__ == requests.originate.__doc__
    parameters = list(inspect.signature(method).parameters)
    assert parameters[:2] == ["self", "channel"]
    assert "ring_timeout" in parameters and "wait" in parameters
