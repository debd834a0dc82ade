"""The actions the fake server answers out of the box, by topic, in one registry.

Each handler takes an :class:`ActionContext` and sends its replies itself, with the texts,
header order and list framing of the recordings from real Asterisk 22 and 13 servers (and of
``manager.c`` where no recording shows a case). Handlers are synchronous unless they truly
wait (a delayed failed ``Login``, an ``Originate`` waiting for its call).
"""

from __future__ import annotations

from . import channels, command, config, originate, peers, session, variables
from .command import default_commands
from .context import ActionContext, CallEngine, Host, SessionView, UserCodeError
from .registry import ActionRegistry, BuiltinAction, BuiltinHandler, builtin

__all__ = [
    "BUILTINS",
    "ActionContext",
    "ActionRegistry",
    "BuiltinAction",
    "BuiltinHandler",
    "CallEngine",
    "Host",
    "SessionView",
    "UserCodeError",
    "builtin",
    "default_commands",
]

#: Every built-in action.
BUILTINS = ActionRegistry(
    [
        *session.ACTIONS,
        *command.ACTIONS,
        *channels.ACTIONS,
        *originate.ACTIONS,
        *variables.ACTIONS,
        *config.ACTIONS,
        *peers.ACTIONS,
    ]
)
