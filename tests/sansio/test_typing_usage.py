"""Documented uses, written as user code: CI runs ``mypy --strict`` on this file (with the rest
of ``tests/``), so each must type-check as well as run."""

from __future__ import annotations

from trio_ami.sansio import (
    Action,
    ActionFailed,
    ActionResult,
    HeaderValue,
    Response,
)

VARIABLES = (("Variable", "a=1"), ("Variable", "b=2"))


def test_the_action_docstring_example() -> None:
    channel = "PJSIP/100"
    action = Action("Originate", {"Channel": channel, "Variable": ["a=1", "b=2"], "Async": True})
    assert action.headers == (("Channel", channel), *VARIABLES, ("Async", "true"))


def test_header_mappings_built_beforehand() -> None:
    # A dict of lists, a dict of str, a dict of tuples: each is a Mapping[str, HeaderValue].
    variables: dict[str, list[str]] = {"Variable": ["a=1", "b=2"]}
    assert Action("Setvar", variables).headers == VARIABLES
    plain = {"Channel": "PJSIP/100", "Context": "internal"}  # dict[str, str]
    assert Action("Redirect", plain).get("Context") == "internal"
    as_tuples = {"Variable": ("a=1", "b=2")}  # dict[str, tuple[str, str]]
    assert Action("Setvar", as_tuples).headers == VARIABLES
    numbers: dict[str, list[int]] = {"Variable": [1, 2]}
    assert Action("UserEvent", numbers).headers == (("Variable", "1"), ("Variable", "2"))
    # Mixed values: annotate the dict with HeaderValue, as mypy would join them to object.
    mixed: dict[str, HeaderValue] = {
        "Channel": "PJSIP/100",
        "Variable": ["a=1", "b=2"],
        "Async": True,
        "Timeout": 30000,
        "CallerID": None,
    }
    assert len(Action("Originate", mixed).headers) == 5


def test_header_pairs_built_beforehand() -> None:
    pairs = [("Variable", ["a=1", "b=2"])]  # list[tuple[str, list[str]]]
    assert Action("Setvar", pairs).headers == VARIABLES
    generated = [("Variable", f"{name}=1") for name in "ab"]  # list[tuple[str, str]]
    assert len(Action("Setvar", generated).headers) == 2
    assert Action("Setvar", iter(VARIABLES)).headers == VARIABLES


def command_output(error: ActionFailed) -> list[str]:
    """What the ``command()`` docs show: ``error.result.output`` holds the refusal's lines."""
    if error.result is None:
        return []
    return error.result.output


def test_action_failed_result_is_an_action_result() -> None:
    refusal = Response(
        "Response: Error\nActionID: c-1\nMessage: Command output follows\n"
        "Output: No such command 'x'"
    )
    result = ActionResult(
        action=Action("Command", {"Command": "x"}, action_id="c-1"), response=refusal
    )
    error = ActionFailed(refusal, result, result.message)
    assert isinstance(error.result, ActionResult)
    assert command_output(error) == ["No such command 'x'"]
    assert command_output(ActionFailed(refusal)) == []
