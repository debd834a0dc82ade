"""The shape of trio_ami.testing: layers that import only the layers before them (no cycle,
not even under TYPE_CHECKING), no private name crossing a file, pure lower layers, small files,
and one registry of built-in actions."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.fake_server import serving

import trio_ami.testing
from trio_ami.sansio import Message
from trio_ami.testing import FakeSession, HandlerResult
from trio_ami.testing._actions import (  # the registry itself is what is tested
    BUILTINS,
    ActionRegistry,
    BuiltinAction,
)

PACKAGE = Path(trio_ami.testing.__file__).resolve().parent
#: The modules in layer order: each may import only those above it.
LAYERS = [
    "_wire",
    "_filters",
    "_settings",
    "_captures",
    "_pbx",
    "_calls",
    "_simulator",
    "_actions.context",
    "_actions.registry",
    "_actions.channels",
    "_actions.command",
    "_actions.config",
    "_actions.originate",
    "_actions.peers",
    "_actions.session",
    "_actions.variables",
    "_actions",
    "_session",
    "_faults",
    "_server",
    "",
]
#: Layers that must not import trio: they hold no I/O and no clock.
PURE = {"_wire", "_filters", "_settings", "_captures", "_pbx"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(path): ast.parse(path.read_text()) for path in PACKAGE.rglob("*.py")}


def imports(name: str, tree: ast.Module) -> list[tuple[str, list[str]]]:
    """``(absolute module, names)`` of every import in the module, whatever block it is in."""
    package = ["trio_ami", "testing", *name.split(".")] if name else ["trio_ami", "testing"]
    if not (PACKAGE / name.replace(".", "/") / "__init__.py").exists():
        package = package[:-1]  # a plain module: relative imports start at its package
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            found.append((module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
    return found


def local(module: str) -> str | None:
    """``module`` as a name in LAYERS, if it is part of trio_ami.testing."""
    prefix = "trio_ami.testing"
    if module == prefix:
        return ""
    return module.removeprefix(prefix + ".") if module.startswith(prefix + ".") else None


def test_the_layers_list_every_module() -> None:
    assert sorted(modules()) == sorted(LAYERS)


@pytest.mark.parametrize("name", LAYERS)
def test_a_module_imports_only_the_layers_before_it(name: str) -> None:
    tree = modules()[name]
    allowed = set(LAYERS[: LAYERS.index(name)])
    for module, names in imports(name, tree):
        target = local(module)
        if target is None:
            continue
        # "from . import channels" names modules of the package itself.
        targets = [
            f"{target}.{n}".strip(".") for n in names if f"{target}.{n}".strip(".") in LAYERS
        ]
        for dependency in targets or [target]:
            assert dependency in allowed, f"{name or '__init__'} imports {dependency}"


def test_no_private_name_crosses_a_file() -> None:
    for name, tree in modules().items():
        for module, names in imports(name, tree):
            if module.startswith("trio_ami"):
                assert not [n for n in names if n.startswith("_")], f"{name} imports {names}"


@pytest.mark.parametrize("name", sorted(PURE))
def test_the_lower_layers_are_pure(name: str) -> None:
    for module, _ in imports(name, modules()[name]):
        assert module.split(".")[0] not in ("trio", "socket", "asyncio"), f"{name}: {module}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_no_file_is_over_600_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 600


def test_each_layer_imports_in_a_fresh_interpreter() -> None:
    # The package's __init__ imports every layer, so importing it alone proves the order works
    # at run time; the tests above prove it holds for TYPE_CHECKING imports too.
    script = "; ".join(f"import trio_ami.testing.{name}" for name in LAYERS if name)
    subprocess.run([sys.executable, "-c", script], check=True)


# -- the registry ---------------------------------------------------------------------------------
def test_every_built_in_action_is_registered_once_with_its_asterisk_name() -> None:
    names = BUILTINS.names()
    assert len(names) == len({n.lower() for n in names}) == len(BUILTINS) == 23
    assert {"Login", "SIPpeers", "PJSIPShowEndpoints", "GetConfigJSON", "Setvar"} <= set(names)
    assert BUILTINS.get("coreshowchannels") is BUILTINS.get("CoreShowChannels") is not None
    assert BUILTINS.get("NoSuchAction") is None
    assert {a.name for a in BUILTINS if a.before_login} == {"Login", "Logoff", "Challenge"}
    # Synchronous unless they truly wait: a failed Login's delay, an Originate's call.
    assert {a.name for a in BUILTINS if a.waits} == {"Login", "Originate"}
    with pytest.raises(ValueError, match="two built-in actions"):
        ActionRegistry([*BUILTINS, BuiltinAction("PING", BUILTINS.names)])  # type: ignore[arg-type]


async def test_list_commands_names_the_registry_and_the_scripted_actions() -> None:
    def custom(session: FakeSession, action: Message) -> HandlerResult:
        session.log_in(action.get("Username") or "")
        return {"Response": "Success"}

    async with serving() as (server, connect):
        server.set_handler("MyAction", custom)
        server.set_handler("Login", custom)  # a scripted Login still runs before a login
        client = await connect(login=False)
        assert (await client.login()).name == "Success"
        listed = await client.call("ListCommands")
        assert {k for k, _ in listed.headers[2:]} == {*BUILTINS.names(), "MyAction"}
        assert server.action_names() == [*BUILTINS.names(), "MyAction"]
