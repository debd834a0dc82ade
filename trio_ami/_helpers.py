"""The typed helpers of :class:`~trio_ami.AMIConnection`, made from the core's requests.

Each helper method is the core's request builder of the same name (``trio_ami.sansio.requests``)
sent through ``request()``: the same parameters, the same documentation, one definition.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from .sansio import Request

__all__ = ["Requester", "helper_method"]

P = ParamSpec("P")
T = TypeVar("T")


class Requester(Protocol):
    """What a helper method needs of its connection."""

    async def request(
        self, request: Request[T], *, timeout: float | None = ..., check: bool = ...
    ) -> T: ...


def helper_method(
    build: Callable[P, Request[T]],
) -> Callable[Concatenate[Requester, P], Coroutine[Any, Any, T]]:
    """A method that sends what ``build`` makes and returns what it reads: ``build``'s
    parameters and documentation (a deadline or ``check=False`` of one's own: ``request()``)."""

    async def helper(self: Requester, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.request(build(*args, **kwargs))

    helper.__name__ = build.__name__
    helper.__qualname__ = f"AMIConnection.{build.__name__}"
    helper.__doc__ = build.__doc__
    signature = inspect.signature(build)
    self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    parameters = [self_parameter, *signature.parameters.values()]
    setattr(helper, "__signature__", signature.replace(parameters=parameters))  # noqa: B010
    return helper
