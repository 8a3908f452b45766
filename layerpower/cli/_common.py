"""Helpers shared by the CLI modules: error translation, comma lists, output formats."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from layerpower.config.vocab import POWER_SOURCES
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


class PowerSourceType(click.ParamType):
    """A power-source name from :data:`layerpower.config.vocab.POWER_SOURCES` (any case), or ``auto``.

    ``auto`` (the best source found on this machine) converts to ``None``; an unknown name fails with
    ``unknown power source 'X'`` and the list to choose from.
    """

    name = "source"

    def __init__(self, allow_auto: bool = True) -> None:
        self.allow_auto = allow_auto

    @property
    def choices(self) -> tuple[str, ...]:
        """The accepted names, in order of preference."""
        return (("auto",) if self.allow_auto else ()) + POWER_SOURCES

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self.choices) + "]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str | None:
        if value is None:
            return None
        text = str(value).strip().lower()
        if self.allow_auto and text == "auto":
            return None
        if text not in POWER_SOURCES:
            self.fail(f"unknown power source {value!r}; choose from {', '.join(self.choices)}", param, ctx)
        return text


def power_source_option(
    help: str = "Power source (default: the best found on this machine).", allow_auto: bool = True
) -> Callable[[F], F]:
    """``--power-source NAME``: the value is a name from the vocabulary, or ``None`` for the best found."""
    return click.option(
        "--power-source",
        "power_source",
        type=PowerSourceType(allow_auto=allow_auto),
        default=None,
        help=help,
    )


def tdp_option(
    help: str = "CPU power at full load in W, for the estimate (default: a CPU table, else 3.5 W/core).",
) -> Callable[[F], F]:
    """``--tdp W``: a positive number of watts, or ``None``."""
    return click.option(
        "--tdp", "tdp_w", type=click.FloatRange(min=0, min_open=True), default=None, help=help
    )


def progress_option(help: str = "Progress bar on stderr (--quiet: none).") -> Callable[[F], F]:
    """``--progress/--no-progress`` (``--quiet`` is the same as ``--no-progress``); the value is a bool."""
    return click.option(
        "--progress/--no-progress", " /--quiet", "progress", default=True, show_default=True, help=help
    )


def ray_options(
    task: str,
    cpus_help: str = "CPUs per Ray task (default: 1 on CUDA, where a task holds one GPU; on CPU all of a "
    "node's, so two measurements never share a machine).",
) -> Callable[[F], F]:
    """``--ray [ADDRESS|auto|local]`` (one Ray task per ``task``) and ``--ray-cpus N``.

    The values are ``ray_address`` (None without ``--ray``, ``local`` for a bare ``--ray``) and ``ray_cpus``.
    """
    address = click.option(
        "--ray",
        "ray_address",
        is_flag=False,
        flag_value="local",
        default=None,
        metavar="[ADDRESS|auto|local]",
        help=f"One Ray task per {task}: local (bare --ray) starts Ray here, auto joins the running cluster, "
        "or a cluster address. Needs the cluster extra.",
    )
    cpus = click.option("--ray-cpus", type=click.IntRange(min=1), default=None, help=cpus_help)

    def decorate(func: F) -> F:
        return address(cpus(func))

    return decorate


def window_options() -> Callable[[F], F]:
    """``--window S`` (positive seconds per trial, default by source) and ``--trials N`` (windows per layer)."""
    window = click.option(
        "--window",
        "window_s",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Measurement window per trial in s (default by source: nvml 1.0, rapl 0.25, estimate 0.05).",
    )
    trials = click.option(
        "--trials", type=click.IntRange(min=1), default=3, show_default=True, help="Windows per layer."
    )
    return lambda func: window(trials(func))
