"""Sphinx configuration of the trio-ami documentation.

Build it with ``python -m sphinx -W -n -b html docs build/docs`` (the ``docs`` extra).
The guides are the Markdown files beside this one (MyST); the API reference in ``api/`` is
generated from the docstrings. The build needs no network: the Python and trio inventories
that intersphinx links against are kept in ``api/inventories/``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import typing
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

project = "trio-ami"
author = "trio-ami contributors"
copyright = "2026, trio-ami contributors"
release = importlib.metadata.version("trio-ami")
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinxcontrib_trio",
    "sphinxcontrib.mermaid",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
# examples/ holds scripts and a test module, shown by link; README.md is the repository's page.
exclude_patterns = ["_build", "examples", "api/inventories", "README.md"]

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
myst_fence_as_directive = ["mermaid"]  # the state diagram of sansio.md, drawn in the browser

html_theme = "alabaster"
add_module_names = False  # the page names the module; private paths never show
html_title = f"trio-ami {release}"

# -- API reference --------------------------------------------------------------------------------
# sphinxcontrib-trio marks async context managers and iterators through the class-based
# documenters, which Sphinx 9 keeps behind this switch.
autodoc_use_legacy_class_based = True
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_default_options: dict[str, Any] = {"members": True, "show-inheritance": True}
autoclass_content = "both"

nitpicky = True
# Third-party names with no inventory to link to, each with the reason.
nitpick_ignore = [
    # CPython 3.11's inventory lists the attributes of re.Pattern but not the class itself.
    ("py:class", "re.Pattern"),
    # The Redis client of the optional trio_ami.redis, coredis, is documented online only:
    # the offline build has no inventory of it.
    ("py:class", "coredis.client.basic.Redis"),
]

# -- intersphinx, offline ------------------------------------------------------------------------
# The inventories are vendored so that the build never reaches the network: python.inv is
# CPython 3.11's own (from its documentation package), trio.inv was built from the docs/source
# of the trio 0.35.0 sdist. Refresh them with a new minimum of either.
INVENTORIES = HERE / "api" / "inventories"
intersphinx_mapping = {
    "python": ("https://docs.python.org/3.11", str(INVENTORIES / "python.inv")),
    "trio": ("https://trio.readthedocs.io/en/v0.35.0", str(INVENTORIES / "trio.inv")),
}

# -- re-exported names ---------------------------------------------------------------------------
# The public modules re-export names defined in private ones. Autodoc finds a ``#:`` comment
# only in the module it was pointed at, and links a signature's types by where they are
# defined; these hooks look in the defining module and link to where a name is documented.
PUBLIC_MODULES = (
    "trio_ami",
    "trio_ami.resilience",
    "trio_ami.sansio",
    "trio_ami.testing",
    "trio_ami.redis",
)


def is_private(path: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in path.split("."))


def data_docstring(  # noqa: PLR0917 - the signature of Sphinx's event
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Give a re-exported constant the ``#:`` comment where it is defined, not its type's doc."""
    if what != "data":
        return
    if lines and obj.__doc__ is not None and obj.__doc__ == type(obj).__doc__:
        lines.clear()
    if lines:
        return
    from sphinx.pycode import ModuleAnalyzer

    package, _, attr = name.rpartition(".")
    for module_name, module in sorted(sys.modules.items()):
        if not module_name.startswith(package + ".") or getattr(module, attr, None) is not obj:
            continue
        comment = ModuleAnalyzer.for_module(module_name).find_attr_docs().get(("", attr))
        if comment:
            lines.extend(comment)
            return


def public_bases(app: Any, name: str, obj: Any, options: Any, bases: list[type]) -> None:
    """Show a class's public ancestors where it derives from a private helper class."""
    index = 0
    while index < len(bases):
        base = bases[index]
        if is_private(f"{base.__module__}.{base.__qualname__}"):
            bases[index : index + 1] = [b for b in base.__bases__ if b is not object]
        else:
            index += 1


def resolve_by_object(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Link a re-exported name, or a type seen at its defining path, to where it is documented.

    A type variable is shown as plain text: it has no page of its own.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    module, cls = node.get("py:module"), node.get("py:class")
    candidates = [f"{module}.{cls}.{target}", f"{module}.{target}", target]
    # As the docstring's own module sees the name, then as the public modules export it.
    defining = getattr(lookup(f"{module}.{cls}"), "__module__", None)
    if defining:
        candidates += [f"{defining}.{cls}.{target}", f"{defining}.{target}"]
    candidates += [f"{public}.{target}" for public in PUBLIC_MODULES]
    obj = next((found for path in candidates if (found := lookup(path)) is not None), None)
    if obj is None:
        return None
    if isinstance(obj, typing.TypeVar):
        return contnode
    domain = env.domains["py"]
    for documented in documented_names(env):
        if lookup(documented) is obj and documented != target:
            return domain.resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], documented, node, contnode
            )
    return None


def lookup(path: str) -> Any:
    """The object a dotted path names, or None: its longest imported module, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        obj = sys.modules.get(".".join(parts[:cut]))
        if obj is None:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part, None)
        return obj
    return None


def documented_names(env: Any) -> list[str]:
    return [name for name, entry in env.domains["py"].objects.items() if not entry.aliased]


# -- every public name is in the reference ---------------------------------------------------------
def check_reference_is_complete(app: Any, env: Any) -> None:
    """Warn (an error under ``-W``) for each public name the API reference does not describe."""
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    documented = set(documented_names(env)) | set(env.domains["py"].modules)
    described = [lookup(name) for name in documented if hasattr(lookup(name), "__qualname__")]
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if f"{module_name}.{name}" in documented:
                continue
            obj = getattr(module, name)
            if hasattr(obj, "__qualname__") and any(obj is each for each in described):
                continue  # a re-export of a name documented elsewhere
            logger.warning("%s.%s is public but not in the API reference", module_name, name)


def setup(app: Any) -> None:
    app.connect("autodoc-process-docstring", data_docstring)
    app.connect("autodoc-process-bases", public_bases)
    app.connect("missing-reference", resolve_by_object)
    app.connect("env-check-consistency", check_reference_is_complete)
