"""The table of built-in actions: name -> handler, and which may run before a login."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator

import attrs

from .context import ActionContext

__all__ = ["ActionRegistry", "BuiltinAction", "BuiltinHandler", "builtin"]

#: A built-in handler: synchronous, or a coroutine function when it truly waits.
BuiltinHandler = Callable[[ActionContext], Awaitable[None] | None]


@attrs.frozen
class BuiltinAction:
    """One built-in action."""

    #: The name as Asterisk spells it (``ListCommands`` lists it so).
    name: str
    handler: BuiltinHandler
    #: Whether a session that has not logged in may run it (``Permission denied`` otherwise).
    before_login: bool = False

    @property
    def waits(self) -> bool:
        """Whether the handler is a coroutine function (it may wait)."""
        return inspect.iscoroutinefunction(self.handler)


def builtin(name: str, *, before_login: bool = False) -> Callable[[BuiltinHandler], BuiltinAction]:
    """Decorate a handler into the :class:`BuiltinAction` ``name``."""

    def decorate(handler: BuiltinHandler) -> BuiltinAction:
        return BuiltinAction(name, handler, before_login)

    return decorate


class ActionRegistry:
    """Built-in actions by name (names compare case-insensitively, as Asterisk's do)."""

    def __init__(self, actions: Iterable[BuiltinAction]) -> None:
        self._actions: dict[str, BuiltinAction] = {}
        for action in actions:
            key = action.name.lower()
            if key in self._actions:
                raise ValueError(f"two built-in actions named {action.name!r}")
            self._actions[key] = action

    def get(self, name: str) -> BuiltinAction | None:
        """The built-in action ``name``, or ``None``."""
        return self._actions.get(name.lower())

    def allowed_before_login(self, name: str) -> bool:
        """Whether ``name`` may run before a login (whoever handles it)."""
        action = self.get(name)
        return action is not None and action.before_login

    def names(self) -> list[str]:
        """Every built-in action's name, as Asterisk spells it."""
        return [action.name for action in self._actions.values()]

    def __iter__(self) -> Iterator[BuiltinAction]:
        return iter(self._actions.values())

    def __len__(self) -> int:
        return len(self._actions)
