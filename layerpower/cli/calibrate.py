"""``calibrate``: fit the shipped predictors to this machine with a short probe run (thin over
:func:`layerpower.calibrate.run.calibrate`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import click

from layerpower.cli._common import CONTEXT, power_source_option, progress_option, user_errors

if TYPE_CHECKING:
    from layerpower.calibrate.run import CalibrationResult


def _pct(value: Any) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


@click.command("calibrate", context_settings=CONTEXT)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda:0.")
@click.option(
    "--budget",
    "budget_s",
    type=click.FloatRange(min=0, min_open=True),
    default=180.0,
    show_default=True,
    help="Seconds to spend in all, measuring and fitting.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Bundle folder to write [default: <user data dir>/predictors/<device-id>/].",
)
@click.option(
    "--reference",
    type=click.Path(file_okay=False, exists=True, path_type=str),
    default=None,
    help="The bundle to calibrate [default: the one shipped with the package].",
)
@click.option(
    "--record-reference",
    "record",
    type=click.Path(file_okay=False, exists=True, path_type=str),
    default=None,
    help="Instead: measure the whole probe set here and store it in this trained bundle of this "
    "machine, so that calibrations from it are paired (no budget).",
)
@power_source_option()
@progress_option()
@user_errors
def calibrate(
    device: str,
    budget_s: float,
    out: str | None,
    reference: str | None,
    record: str | None,
    power_source: str | None,
    progress: bool,
) -> None:
    """Measure a fixed probe set on this machine and write predictors calibrated to it.

    The budget left after one pass measures the probes again (up to three passes; each probe's measurement
    is the median over them). An interrupted run keeps the probes it measured; running it again measures
    only what is missing. predict-energy then uses the calibrated bundle by default.
    """
    from layerpower.calibrate.run import calibrate as run

    bars: dict[str, Any] = {}

    def report(name: str, done: int, total: int) -> None:
        if not progress:
            return
        from tqdm import tqdm

        bar = bars.get(name)
        if bar is None:
            bar = bars[name] = tqdm(total=total, desc=name, unit="probe", leave=False)
        bar.update(done - bar.n)

    try:
        if record is not None:
            from layerpower.calibrate.reference import record_reference_probes, state_mismatch

            entry = record_reference_probes(record, device, power_source=power_source, progress=report)
            click.echo(
                f"recorded {len(entry['layers'])} of {entry['planned']} layer probes and "
                f"{len(entry['whole'])} whole models ({entry['cpu_model']}) into {record}"
            )
            mismatch = state_mismatch(entry)
            if mismatch:
                click.echo(f"warning: {mismatch}", err=True)
            return
        result = run(device, budget_s, out, reference, power_source=power_source, progress=report)
    finally:
        for bar in bars.values():
            bar.close()
    click.echo(format_calibration(result))


def format_calibration(result: CalibrationResult) -> str:
    """What was measured, the held-out error of the probe fit, and what stays uncalibrated."""
    info = result.provenance
    held = info["held_out_probe_error"]
    probes = info["probes"]
    cal = result.bundle.calibration
    lines = [
        f"device: {result.bundle.device_id} ({info['cpu_model']}); reference: {info['reference_device']} "
        f"({info['reference_family']})",
        f"probes: {probes['layers']} of {probes['layers_planned']} layers, whole models: "
        f"{', '.join(probes['whole_models']) or 'none'}; {probes.get('passes', 1)} pass(es); "
        f"{result.wall_s:.0f} s of a {info['budget_s']:g} s budget",
        f"held-out probes ({held['split']}): median |error| {_pct(held['reference_uncorrected']['median_ape'])} "
        f"uncorrected -> {_pct(held['corrected']['median_ape'])} corrected; within 10% "
        f"{_pct(held['reference_uncorrected']['within_10'])} -> {_pct(held['corrected']['within_10'])}",
        f"layer correction kept: {held.get('variant', 'per-group only')} (the simplest within 1% of the best "
        "held-out error)",
        (
            f"whole model: runtime = {cal.a:.4g} x sum + {cal.b_s * 1e6:.3g} us x calls"
            if cal
            else "whole model: not calibrated (no whole-model probe measured and none in the reference)"
        ),
    ]
    lines += [f"note: {n}" for n in result.notes]
    lines += [f"uncalibrated: {u}" for u in info["uncalibrated"]]
    lines.append(f"bundle written to {result.path}")
    return "\n".join(lines)
