"""``train-predictors`` and ``predict-energy``: thin commands over :mod:`layerpower.predictors`.

Only click and the standard library are imported here; the predictors (numpy, pandas, xgboost, torch) load
when a command runs, so ``--help`` stays instant.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import click

from layerpower.cli._common import CONTEXT, echo_json, progress_option, user_errors
from layerpower.cli.layers import input_options

if TYPE_CHECKING:
    from layerpower.predictors.energy import EnergyPrediction
    from layerpower.predictors.training import TrainResult

FAMILY_CHOICES = ["xgboost", "random-forest", "polynomial", "best"]


def _num(value: float, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits ("-" when missing)."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}"


def _pct(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


# ---------------------------------------------------------------------------------------------- train


@click.command("train-predictors", context_settings=CONTEXT)
@click.argument("dataset", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--family",
    type=click.Choice(FAMILY_CHOICES),
    default="best",
    show_default=True,
    help="Regressor family; 'best' evaluates all three and keeps the one with the lowest held-out "
    "whole-model error among those that extrapolate in size (not random-forest: trees saturate).",
)
@click.option(
    "--sampled",
    type=click.Path(file_okay=False, exists=True, path_type=str),
    default=None,
    help="Sampled layer rows (training_data/<device-id>/_sampled/) to train on besides the zoo.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Bundle folder to write [default: predictors/<device-id>/].",
)
@click.option(
    "--coverage", type=float, default=0.9, show_default=True, help="Nominal coverage of the intervals."
)
@click.option("--jobs", type=int, default=1, show_default=True, help="Parallel leave-one-model-out folds.")
@progress_option()
@user_errors
def train_predictors(
    dataset: str,
    family: str,
    sampled: str | None,
    out: str | None,
    coverage: float,
    jobs: int,
    progress: bool,
) -> None:
    """Train per-layer runtime and power predictors on DATASET (a build-dataset folder) and write a bundle.

    Every family is evaluated leave-one-model-out (no model's layers on both sides); the evaluation sets the
    whole-model calibration and the prediction intervals stored in the bundle's manifest.
    """
    from pathlib import Path

    from layerpower.predictors.data import load_training_set
    from layerpower.predictors.training import train_predictors as train

    data = load_training_set(dataset, sampled)
    target = Path(out) if out else Path("predictors") / data.device_id
    bars: dict[str, Any] = {}

    def report(name: str, done: int, total: int) -> None:
        if not progress:
            return
        from tqdm import tqdm

        bar = bars.get(name)
        if bar is None:
            bar = bars[name] = tqdm(
                total=total, desc=f"{name} (leave-one-model-out)", unit="model", leave=False
            )
        bar.update(done - bar.n)
        if done == total:
            bar.close()

    result = train(data, family=family, out=target, coverage=coverage, n_jobs=jobs, progress=report)
    click.echo(format_training(result))


def format_training(result: TrainResult) -> str:
    """The evaluation of every family trained, as plain-text tables."""
    bundle = result.bundle
    lines = [
        f"device: {bundle.device_id}; power: {bundle.power_label}",
        f"training data: {len(bundle.training.get('models', []))} models, "
        f"{sum(bundle.training.get('rows', {}).values())} layer rows",
        "",
        "leave-one-model-out, per layer (RMSPE, MAPE, R2, share within 10%, interval coverage):",
    ]
    for family, evaluation in result.evaluations.items():
        lines.append(f"  {family}")
        for row in evaluation.layer_metrics.to_dict(orient="records"):
            lines.append(
                f"    {row['kind']:<14} {row['target']:<10} n={row['n']:<5} rmspe={_pct(row['rmspe']):>7} "
                f"mape={_pct(row['mape']):>7} r2={_num(row['r2'], 3):>6} within10={_pct(row['within_10']):>6} "
                f"coverage={_pct(row['coverage']):>6}"
                + (f" left_out={row['left_out']}" if row["left_out"] else "")
            )
    lines += ["", "leave-one-model-out, whole model (median |error|, share within 10%, interval coverage):"]
    for family, evaluation in result.evaluations.items():
        s = evaluation.summary
        for quantity in ("runtime_s", "energy_j"):
            raw, cal = s[f"{quantity}_raw"], s[f"{quantity}_calibrated"]
            lines.append(
                f"  {family:<14} {quantity:<10} sum of layers {_pct(raw['median_ape']):>6} / {_pct(raw['within_10']):>6}"
                f"   calibrated {_pct(cal['median_ape']):>6} / {_pct(cal['within_10']):>6}  coverage {_pct(cal['coverage'])}"
            )
    cal = bundle.calibration
    lines += [
        "",
        f"family kept: {bundle.family}"
        + (
            f"; calibration: runtime = {cal.a:.4g} x sum + {cal.b_s * 1e6:.3g} us x calls"
            if cal
            else "; no calibration (it did not lower the held-out whole-model error)"
        ),
        f"bundle written to {bundle.path}" if bundle.path else "bundle not written",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- predict


@click.command("predict-energy", context_settings=CONTEXT)
@click.option(
    "--model",
    "model",
    required=True,
    help="Zoo name (vgg16, resnet18, lenet, ...) or package.module:factory.",
)
@click.option("--batch-size", type=int, default=1, show_default=True)
@click.option("--dtype", default="fp32", show_default=True, help="fp32, fp16 or bf16.")
@click.option(
    "--device-id",
    default=None,
    help="Whose predictors to use [default: this machine's, else the bundled one].",
)
@click.option(
    "--predictors",
    type=click.Path(path_type=str),
    default=None,
    help="A bundle folder (or a folder of bundles) from train-predictors.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.option("--per-layer", is_flag=True, help="Also print every layer's prediction.")
@click.option(
    "--no-calibration",
    is_flag=True,
    help="Report the plain sum over layers (no whole-model a*sum+b*calls; a calibrated bundle's per-layer "
    "device correction still applies: pass --predictors to use another bundle).",
)
@input_options
@user_errors
def predict_energy(
    model: str,
    batch_size: int,
    dtype: str,
    device_id: str | None,
    predictors: str | None,
    fmt: str,
    per_layer: bool,
    no_calibration: bool,
    input_shape: str | None,
    input_dtype: str | None,
    seq_len: int | None,
) -> None:
    """Predict a model's energy, runtime and average power per forward pass, layer by layer.

    The layers are extracted without weights or data; each layer's runtime and power come from the
    predictors of one device, and the totals carry intervals from held-out models.
    """
    from layerpower.predictors.energy import predict_energy as predict

    result = predict(
        model,
        batch_size=batch_size,
        dtype=dtype,
        device_id=device_id,
        predictors=predictors,
        calibrate=not no_calibration,
        input_shape=input_shape,
        input_dtype=input_dtype,
        seq_len=seq_len,
    )
    if fmt == "json":
        echo_json(result.to_dict(per_layer=per_layer))
    elif fmt == "csv":
        click.echo(format_csv(result, per_layer), nl=False)
    else:
        click.echo(format_table(result, per_layer))


def format_csv(result: EnergyPrediction, per_layer: bool) -> str:
    """One CSV row of totals, or the per-layer rows."""
    import io
    from dataclasses import asdict

    import pandas as pd

    buffer = io.StringIO()
    if per_layer:
        frame = result.layers.assign(
            model=result.model,
            batch_size=result.batch_size,
            dtype=result.dtype,
            device_id=result.total.device_id,
            power_source=result.total.power_source,
            is_estimate=result.total.is_estimate,
        )
    else:
        total = asdict(result.total)
        total["left_out"] = ";".join(total["left_out"])
        frame = pd.DataFrame(
            [{"model": result.model, "batch_size": result.batch_size, "dtype": result.dtype, **total}]
        )
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


def format_table(result: EnergyPrediction, per_layer: bool) -> str:
    """Totals with intervals, provenance and notes (and the per-layer table on request), as text."""
    t = result.total
    cover = f"{round(100 * result.coverage)}% interval"
    lines = [
        f"{result.model} | batch size {result.batch_size} | {result.dtype}",
        f"predictors: {t.device_id}, family {t.family}, "
        + ("calibrated" if t.calibrated else "sum over layers, uncalibrated")
        + f" ({result.predictors})",
        "power: "
        + (
            "estimate (no sensor on the profiling machine)"
            if t.is_estimate
            else f"measured ({t.power_source})"
        ),
        "",
        f"{'':<15}{'predicted':>12}   {cover}",
        f"{'energy':<15}{_num(t.energy_j):>10} J   [{_num(t.energy_low_j)}, {_num(t.energy_high_j)}] J",
        f"{'runtime':<15}{_num(t.runtime_s):>10} s   [{_num(t.runtime_low_s)}, {_num(t.runtime_high_s)}] s",
        f"{'average power':<15}{_num(t.avg_power_w):>10} W" + ("   (estimate)" if t.is_estimate else ""),
        result.fallback.line(),
    ]
    if result.notes:
        lines.append("")
        lines += [f"note: {note}" for note in result.notes]
    if per_layer:
        lines += ["", _layer_table(result)]
    return "\n".join(lines)


def _layer_table(result: EnergyPrediction) -> str:
    header = (
        f"{'layer':<32} {'type':<18} {'kind':<13} {'runtime_s':>10} {'power_w':>8} {'energy_j':>10}"
        f"  {'by':<13} note"
    )
    rows = [header, "-" * len(header)]
    for row in result.layers.to_dict(orient="records"):
        by = str(row.get("predicted_by") or "-")
        if row.get("power_by") not in (None, "", "trained", by):
            by += f"/{row['power_by']}"
        note = str(row["left_out"])
        if row.get("page_faults"):
            priced = row.get("page_fault_s") or 0.0
            faults = f"{row['page_faults']:,.0f} page faults " + (
                f"({_num(priced)} s of it)" if priced else "(not priced)"
            )
            note = f"{note}; {faults}" if note else faults
        rows.append(
            f"{str(row['layer_name'])[:32]:<32} {str(row['layer_type'])[:18]:<18} {row['kind']:<13} "
            f"{_num(row['runtime_s']):>10} {_num(row['power_w']):>8} {_num(row['energy_j']):>10}"
            f"  {by:<13} {note}"
        )
    return "\n".join(rows)
