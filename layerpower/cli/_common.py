"""Helpers shared by the CLI modules: error translation, comma lists, output formats."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from layerpower.errors import LayerpowerError

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT = {"help_option_names": ["-h", "--help"]}


def user_errors(func: F) -> F:
    """Turn a :class:`LayerpowerError` raised by ``func`` into a one-line CLI error (exit status 2)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LayerpowerError as exc:
            raise UsageFailure(str(exc)) from None

    return wrapper  # type: ignore[return-value]


class UsageFailure(click.ClickException):
    """A user-facing failure: printed as ``Error: <message>``, exit status 2."""

    exit_code = 2


def comma_list(value: str | None) -> list[str]:
    """Split ``"a,b, c"`` into ``["a", "b", "c"]`` (empty entries dropped)."""
    if not value:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def comma_ints(ctx: click.Context | None, param: click.Parameter | None, value: str | None) -> list[int]:
    """click callback: parse ``"1,8"`` into ``[1, 8]``, refusing non-positive or non-integer entries."""
    out: list[int] = []
    for part in comma_list(value):
        try:
            number = int(part)
        except ValueError:
            raise click.BadParameter(f"{part!r} is not an integer") from None
        if number <= 0:
            raise click.BadParameter(f"{number} must be a positive integer")
        out.append(number)
    return out


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    click.echo(json.dumps(data, indent=2, default=str))
