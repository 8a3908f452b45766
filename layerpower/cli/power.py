"""``layerpower sources`` and ``layerpower measure``: what power sensors this machine has, and the
runtime and energy of another command."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from layerpower.cli._common import (
    CONTEXT,
    UsageFailure,
    comma_list,
    echo_json,
    power_source_option,
    tdp_option,
    user_errors,
)
from layerpower.errors import LayerpowerError

_root_option = click.option(
    "--sysfs-root",
    "root",
    default="/",
    hidden=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Read sensor files under this directory instead of / (testing).",
)
_tdp_option = tdp_option(
    help="CPU power at full load in watts, for the estimate (default: from a CPU table, else 3.5 W/core).",
)


def _gpu_indices(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int]:
    """click callback: ``"0,2"`` -> ``[0, 2]`` (non-negative integers)."""
    out: list[int] = []
    for part in comma_list(value):
        if not part.isdigit():
            raise click.BadParameter(f"{part!r} is not a GPU index (a non-negative integer)")
        out.append(int(part))
    return out


def _estimate_note(source: Any) -> str:
    tdp = getattr(source, "tdp", None)
    detail = (
        f"; CPU power modelled from load, TDP {tdp.tdp_w:.1f} W ({tdp.origin})" if tdp is not None else ""
    )
    return f"estimate: this machine has no power sensor{detail}"


def _period(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


@click.command("sources", context_settings=CONTEXT)
@_tdp_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@_root_option
@user_errors
def sources(tdp_w: float | None, as_json: bool, root: Path) -> None:
    """Show the power sources found on this machine, their devices and update periods, and why each
    missing one is missing."""
    from layerpower.profiling.power import get_source, unavailable_reasons

    report: list[dict[str, Any]] = []
    for name, reason in unavailable_reasons(root).items():
        entry: dict[str, Any] = {"name": name, "available": reason is None}
        if reason is not None:
            entry["reason"] = reason
        else:
            try:
                with get_source(name, root=root, tdp_w=tdp_w) as source:
                    entry.update(source.describe())
            except LayerpowerError as exc:
                entry.update(available=False, reason=str(exc))
        report.append(entry)
    if as_json:
        echo_json(report)
        return
    for entry in report:
        name = entry["name"]
        if not entry["available"]:
            click.echo(f"{name:9s} missing: {entry['reason']}")
            continue
        kind = "estimate" if entry["is_estimate"] else "measured"
        click.echo(
            f"{name:9s} available ({kind}; energy by {entry['energy']}, update period "
            f"{_period(entry['update_period_s'])})"
        )
        names = entry.get("device_names", {})
        for device in entry["devices"]:
            label = f" {names[device]}" if device in names else ""
            click.echo(f"          - {device}{label}")
        if entry["is_estimate"]:
            click.echo(
                f"          TDP {entry['tdp_w']:.1f} W ({entry['tdp_origin']}), idle fraction "
                f"{entry['idle_fraction']:.2f}"
            )
    best = next(e["name"] for e in report if e["available"])
    click.echo(f"best: {best}")


@click.command("measure", context_settings={**CONTEXT, "ignore_unknown_options": True})
@power_source_option(help="Power source to read (default: auto, the best found).")
@_tdp_option
@click.option(
    "--gpus",
    callback=_gpu_indices,
    default=None,
    help="NVML GPU indices to measure, e.g. 0,1 (implies --power-source nvml; default all).",
)
@click.option(
    "--trace",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also sample power every --interval seconds and write the series to this CSV.",
)
@click.option(
    "--interval",
    "interval_s",
    type=click.FloatRange(min=0.001),
    default=0.1,
    show_default=True,
    help="Sampling interval of --trace, in seconds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_root_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@user_errors
def measure(
    power_source: str | None,
    tdp_w: float | None,
    gpus: list[int],
    trace: Path | None,
    interval_s: float,
    as_json: bool,
    root: Path,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND and print its runtime, energy and average power, with their source.

    Example: layerpower measure -- python train.py. The report goes to stderr (like time(1)); the exit
    status is the command's.
    """
    from layerpower.profiling.meter import Meter, ShortWindowWarning

    if shutil.which(command[0]) is None and not Path(command[0]).is_file():
        raise UsageFailure(f"command not found: {command[0]}")
    if gpus and power_source not in (None, "nvml"):
        raise UsageFailure(f"--gpus selects NVIDIA GPUs and needs --power-source nvml, not {power_source}")
    if gpus:
        power_source = "nvml"  # GPU indices name NVML devices
    meter = Meter(power_source, tdp_w=tdp_w, gpus=gpus or None, root=root)
    sampler = None
    with meter, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ShortWindowWarning)
        if trace is not None:
            from layerpower.profiling.sampler import Sampler

            sampler = Sampler(
                interval_s=interval_s, source=meter.source, gpus=gpus or None, root=root
            ).start()
        try:
            with meter.window() as window:
                try:
                    returncode = subprocess.run(list(command), check=False).returncode
                except KeyboardInterrupt:
                    returncode = 130
                except OSError as exc:
                    raise UsageFailure(f"could not run {command[0]}: {exc}") from None
        finally:
            frame = sampler.stop() if sampler is not None else None
            if sampler is not None:
                sampler.close()
        result = window.result
        short = [str(w.message) for w in caught if issubclass(w.category, ShortWindowWarning)]
        note = _estimate_note(meter.source) if meter.source.is_estimate else ""
    assert result is not None
    if frame is not None and trace is not None:
        from layerpower.io import write_csv_atomic

        write_csv_atomic(frame, trace)
    if as_json:
        data = {"command": list(command), "returncode": returncode, **result.to_dict()}
        if note:
            data["note"] = note
        if short:
            data["warnings"] = short
        if trace is not None:
            data["trace"] = str(trace)
        echo_json(data)
    else:
        kind = result.source if result.is_estimate else f"{result.source}, measured"
        per_device = ", ".join(f"{dev} {joules:.3f} J" for dev, joules in result.per_device.items())
        lines = [
            f"command:   {' '.join(command)} (exit status {returncode})",
            f"runtime:   {result.duration_s:.3f} s",
            f"energy:    {result.energy_j:.3f} J [{kind}] ({per_device})",
            f"avg power: {result.avg_power_w:.2f} W [{kind}]",
            f"source:    {result.source} ({result.method}, update period {_period(result.update_period_s)})",
        ]
        if note:
            lines.append(f"note:      {note}")
        lines.extend(f"warning:   {message}" for message in short)
        if trace is not None:
            lines.append(f"trace:     {trace}")
        click.echo("\n".join(lines), err=True)
    sys.exit(returncode)
