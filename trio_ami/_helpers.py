"""The typed helpers of :class:`~trio_ami.AMIConnection`, made from the core's requests.

Each helper method is the core's request builder of the same name (``trio_ami.sansio.requests``)
sent through ``request()``: the same parameters, the same documentation, one definition.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from .sansio import Action, ActionResult, Headers, HeaderValue, Request, requests

__all__ = ["Requester", "TypedHelpers", "build_action", "helper_method"]

P = ParamSpec("P")
T = TypeVar("T")


def build_action(
    name: str | Action, headers: Headers | None, fields: Mapping[str, HeaderValue]
) -> Action:
    """The action a call names: an ``Action`` as it is, or a name with headers from a mapping
    or pairs and from keyword arguments."""
    if isinstance(name, Action):
        if headers or fields:
            raise TypeError("give headers either in the Action or as arguments, not both")
        return name
    pairs: list[tuple[str, HeaderValue]] = []
    if headers:
        pairs.extend(headers.items() if isinstance(headers, Mapping) else headers)
    pairs.extend(fields.items())
    return Action(name, pairs)


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


class TypedHelpers:
    """The typed helpers of a connection: each sends the core's request of the same name through
    :meth:`request`, which sends it through the connection's ``action()``."""

    #: The default deadline of every action, in seconds (``None``: wait for ever).
    action_timeout: float | None

    async def action(
        self,
        action: str | Action,
        headers: Headers | None = None,
        /,
        *,
        timeout: float | None = -1.0,
        check: bool = True,
        complete_on: str | None = None,
        outcome_event: str | None = None,
        max_items: int | None = None,
        **fields: Any,  # header values; Any lets a client add keyword options of its own
    ) -> ActionResult:
        raise NotImplementedError

    async def request(
        self, request: Request[T], *, timeout: float | None = -1.0, check: bool = True
    ) -> T:
        """Send a request of :mod:`trio_ami.sansio.requests` and return what it reads.

        Every typed helper is this call: ``await ami.originate(...)`` is
        ``await ami.request(requests.originate(...))``. Call it yourself for a deadline of your
        own (``timeout``; by default the connection's ``action_timeout`` plus the request's
        ``extra_time``, such as the ring time of a waited Originate) or ``check=False`` (no
        :class:`ActionFailed`; read the result yourself).
        """
        if timeout is not None and timeout < 0 and self.action_timeout is not None:
            timeout = self.action_timeout + request.extra_time
        result = await self.action(
            request.action, timeout=timeout, check=False, outcome_event=request.outcome_event
        )
        return request.read(result, check=check)

    ping = helper_method(requests.ping)
    command = helper_method(requests.command)
    originate = helper_method(requests.originate)
    redirect = helper_method(requests.redirect)
    set_var = helper_method(requests.set_var)
    get_var = helper_method(requests.get_var)
    status = helper_method(requests.status)
    core_show_channels = helper_method(requests.core_show_channels)
    sip_peers = helper_method(requests.sip_peers)
    iax_peers = helper_method(requests.iax_peers)
    pjsip_endpoints = helper_method(requests.pjsip_endpoints)
    get_config = helper_method(requests.get_config)
    get_config_json = helper_method(requests.get_config_json)
    extension_state = helper_method(requests.extension_state)
    user_event = helper_method(requests.user_event)
    events = helper_method(requests.events)
    filter = helper_method(requests.filter)
