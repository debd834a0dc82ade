"""Configuration files: ``GetConfig``, ``GetConfigJSON``, ``ListCategories``."""

from __future__ import annotations

import json
from collections.abc import Mapping

from .context import ActionContext
from .registry import BuiltinAction, builtin

__all__ = ["ACTIONS"]


def _config(ctx: ActionContext) -> Mapping[str, list[str]] | None:
    """The file the action names, or ``None`` after answering the error Asterisk gives."""
    filename = ctx.action.get("Filename") or ""
    if not filename:
        ctx.error("Filename not specified")
        return None
    config = ctx.pbx.configs.get(filename)
    if config is None:
        ctx.error("Config file not found")
    return config


@builtin("GetConfig")
def get_config(ctx: ActionContext) -> None:
    config = _config(ctx)
    if config is None:
        return
    wanted = ctx.action.get("Category") or ""
    pairs = [("Response", "Success")]
    number = 0
    for category, lines in config.items():
        if wanted and category != wanted:
            continue
        pairs.append((f"Category-{number:06d}", category))
        pairs += [(f"Line-{number:06d}-{i:06d}", line) for i, line in enumerate(lines)]
        number += 1
    if wanted and not number:
        pairs.append(("No categories found", ""))
    ctx.reply(pairs)


@builtin("GetConfigJSON")
def get_config_json(ctx: ActionContext) -> None:
    config = _config(ctx)
    if config is None:
        return
    parts = []
    for category, lines in config.items():
        items = []
        for line in lines:
            key, _, value = line.partition("=")
            items.append(f"{json.dumps(key.strip())}:{json.dumps(value.strip())}")
        parts.append(f"{json.dumps(category)}:{{{','.join(items)}}}")
    ctx.reply([("Response", "Success"), ("JSON", "{" + ",".join(parts) + "}")])


@builtin("ListCategories")
def list_categories(ctx: ActionContext) -> None:
    config = _config(ctx)
    if config is None:
        return
    pairs = [("Response", "Success")]
    pairs += [(f"Category-{i:06d}", category) for i, category in enumerate(config)]
    if len(pairs) == 1:
        pairs.append(("Error", "no categories found"))
    ctx.reply(pairs)


ACTIONS: tuple[BuiltinAction, ...] = (get_config, get_config_json, list_categories)
