"""Validation of predicted energy and runtime against repeated measured runs of whole models.

For each model, :func:`validate` measures one forward pass end to end ``repeats`` times
(:func:`~layerpower.profiling.whole_model.measure_whole_model`: one fresh process per repeat, or all in
this process with ``in_process=True``), predicts it with
:func:`~layerpower.predictors.energy.predict_energy`, and reports per model:

* the measured mean, std and 95% Student-t confidence interval of energy (J) and runtime (s);
* the prediction with its interval (``*_low``/``*_high``);
* ``*_error_pct`` -- (predicted - measured mean) / measured mean × 100, and its absolute value;
* ``*_in_measured_ci`` -- whether the prediction lies inside the measured mean's confidence interval;
* ``*_measured_in_interval`` -- whether the measured mean lies inside the prediction interval;
* ``*_interval_coverage`` -- the share of the single measured repeats inside the prediction interval
  (compare with the bundle's nominal coverage, ``nominal_coverage``).

Energy columns carry their source (``measured_energy_source``, ``predicted_energy_source``,
``*_is_estimate``): on a machine without a power sensor both are ``estimate``. A model that cannot be
measured or predicted gets ``status = "failed"`` and its ``error``; the others go on.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerpower.errors import LayerpowerError
from layerpower.io import json_safe, write_csv_atomic, write_json_atomic
from layerpower.stats.summary import CI_METHODS, summarize

#: the two validated quantities: name -> (measured field of a process result, predicted total fields)
QUANTITIES: dict[str, tuple[str, tuple[str, str, str]]] = {
    "energy": ("energy_j", ("energy_j", "energy_low_j", "energy_high_j")),
    "runtime": ("runtime_s", ("runtime_s", "runtime_low_s", "runtime_high_s")),
}
UNITS = {"energy": "j", "runtime": "s"}


def validate(
    models: str | Sequence[str],
    *,
    repeats: int = 5,
    batch_size: int = 1,
    dtype: str = "fp32",
    device: str = "cpu",
    in_process: bool = False,
    forwards: int | None = None,
    predictors: str | os.PathLike[str] | Any | None = None,
    device_id: str | None = None,
    power_source: str | None = None,
    confidence: float = 0.95,
    progress: bool = False,
) -> pd.DataFrame:
    """Measure and predict each of ``models`` and compare them (one row per model; see the module docstring).

    ``repeats`` independent measurements per model (fresh processes unless ``in_process``); ``forwards``
    timed forward passes per measurement (default: the measurer's own choice); ``predictors``, ``device_id``
    are passed to ``predict_energy``; ``power_source`` to the measurement.
    """
    names = [models] if isinstance(models, str) else list(models)
    names = [n.strip() for n in names if n and n.strip()]
    if not names:
        raise LayerpowerError("no model to validate", "pass --model NAME or --models a,b,c")
    if int(repeats) < 1:
        raise LayerpowerError(f"repeats must be a positive integer, got {repeats}")
    if int(repeats) == 1:
        warnings.warn(
            "a single repeat gives no confidence interval: use --repeats 3 or more", UserWarning, stacklevel=2
        )
    measure, predict = _functions()
    iterator: Any = names
    if progress:
        from tqdm import tqdm

        iterator = tqdm(names, desc="validating", unit="model", leave=False)
    rows = []
    for name in iterator:
        row: dict[str, Any] = {
            "model": name,
            "batch_size": int(batch_size),
            "dtype": dtype,
            "status": "ok",
            "error": "",
        }
        try:
            samples = _measure(
                measure,
                name,
                int(repeats),
                int(batch_size),
                dtype,
                device,
                in_process,
                forwards,
                power_source,
            )
            prediction = predict(
                name, batch_size=int(batch_size), dtype=dtype, device_id=device_id, predictors=predictors
            )
            row.update(_compare(samples, prediction, confidence))
        except Exception as exc:  # one model failing must not stop the others
            if isinstance(exc, KeyboardInterrupt):
                raise
            row.update(status="failed", error=f"{type(exc).__name__}: {exc}".strip())
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs["ci_method"] = CI_METHODS["t"]
    return frame


def validation_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """Aggregate figures over the validated models: mean absolute error (%), the share of predictions inside
    the measured CI, the share of measured means inside the prediction interval, and the pooled coverage."""
    ok = frame[frame.get("status", pd.Series(dtype=str)) == "ok"] if "status" in frame else frame
    out: dict[str, Any] = {
        "models": int(len(frame)),
        "validated": int(len(ok)),
        "failed": int(len(frame) - len(ok)),
        "ci_method": CI_METHODS["t"],
    }
    for quantity in QUANTITIES:
        if f"{quantity}_abs_error_pct" not in ok or ok.empty:
            continue
        n = ok["repeats"].astype(float)
        coverage = ok[f"{quantity}_interval_coverage"].astype(float)
        out[quantity] = {
            "mean_abs_error_pct": float(ok[f"{quantity}_abs_error_pct"].mean()),
            "median_abs_error_pct": float(ok[f"{quantity}_abs_error_pct"].median()),
            "share_in_measured_ci": float(ok[f"{quantity}_in_measured_ci"].astype(float).mean()),
            "share_measured_in_interval": float(ok[f"{quantity}_measured_in_interval"].astype(float).mean()),
            "pooled_interval_coverage": float((coverage * n).sum() / n.sum()) if n.sum() else float("nan"),
        }
    if "measured_energy_source" in ok and not ok.empty:
        out["measured_energy_source"] = sorted(ok["measured_energy_source"].astype(str).unique())
        out["predicted_energy_source"] = sorted(ok["predicted_energy_source"].astype(str).unique())
    if "nominal_coverage" in ok and not ok.empty:
        out["nominal_coverage"] = float(ok["nominal_coverage"].astype(float).median())
    return out


def write_validation(frame: pd.DataFrame, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``validation.csv``, ``validation_summary.json`` and ``predicted_vs_measured.png`` into ``out``."""
    from layerpower.stats.plots import save_figure

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "table": write_csv_atomic(frame, folder / "validation.csv"),
        "summary": write_json_atomic(
            json_safe(validation_summary(frame)), folder / "validation_summary.json"
        ),
    }
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame
    if not ok.empty:
        files["plot"] = save_figure(predicted_vs_measured(ok), folder / "predicted_vs_measured.png")
    return files


def predicted_vs_measured(frame: pd.DataFrame) -> Any:
    """Predicted against measured energy and runtime, one point per model, with the y = x line.

    x error bars: the measured mean's 95% CI (Student's t); y error bars: the prediction interval.
    """
    from matplotlib.figure import Figure

    from layerpower.stats.plots import COLORS, energy_label

    figure = Figure(figsize=(11, 4.6), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, quantity in zip(axes, QUANTITIES, strict=True):
        unit = UNITS[quantity]
        x = frame[f"measured_{quantity}_{unit}"].astype(float).to_numpy()
        y = frame[f"predicted_{quantity}_{unit}"].astype(float).to_numpy()
        xerr = np.vstack(
            [
                x - frame[f"measured_{quantity}_ci95_low_{unit}"].astype(float),
                frame[f"measured_{quantity}_ci95_high_{unit}"].astype(float) - x,
            ]
        )
        yerr = np.vstack(
            [
                y - frame[f"predicted_{quantity}_low_{unit}"].astype(float),
                frame[f"predicted_{quantity}_high_{unit}"].astype(float) - y,
            ]
        )
        ax.errorbar(
            x,
            y,
            xerr=np.clip(np.nan_to_num(xerr), 0, None),
            yerr=np.clip(np.nan_to_num(yerr), 0, None),
            fmt="o",
            color=COLORS[0],
            ecolor="#999999",
            capsize=3,
        )
        for xi, yi, name in zip(x, y, frame["model"].astype(str), strict=True):
            ax.annotate(name, (xi, yi), fontsize=7, xytext=(4, 3), textcoords="offset points")
        ends = np.concatenate([x, y, x - xerr[0], x + xerr[1], y - yerr[0], y + yerr[1]])
        finite = ends[np.isfinite(ends) & (ends > 0)]
        if finite.size:
            lo, hi = finite.min() / 1.3, finite.max() * 1.3
            ax.plot([lo, hi], [lo, hi], "--", color=COLORS[3], lw=1, label="predicted = measured")
            if hi / lo > 20:
                ax.set_xscale("log")
                ax.set_yscale("log")
            ax.set_xlim(lo, hi)  # the same range on both axes: the dashed line is the diagonal
            ax.set_ylim(lo, hi)
            ax.set_aspect("equal", adjustable="box")
            ax.legend(fontsize=8)
        if quantity == "energy":
            m_sources = frame.get("measured_energy_source", pd.Series(dtype=str)).astype(str).tolist()
            p_sources = frame.get("predicted_energy_source", pd.Series(dtype=str)).astype(str).tolist()
            ax.set_xlabel(energy_label("measured energy per forward [J]", m_sources))
            ax.set_ylabel(energy_label("predicted energy per forward [J]", p_sources))
        else:
            ax.set_xlabel("measured runtime per forward [s]")
            ax.set_ylabel("predicted runtime per forward [s]")
        ax.grid(alpha=0.3, which="both")
        ax.set_title(
            f"{quantity}: x bars 95% CI of the measured mean (t), y bars prediction interval", fontsize=8
        )
    figure.suptitle("predicted against measured, one point per model", fontsize=10)
    return figure


# -- internals ------------------------------------------------------------------------------------------


def _functions() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The measurer and the predictor (imported here: they pull in torch)."""
    from layerpower.predictors.energy import predict_energy
    from layerpower.profiling.whole_model import measure_whole_model

    return measure_whole_model, predict_energy


def _measure(
    measure: Callable[..., Any],
    name: str,
    repeats: int,
    batch_size: int,
    dtype: str,
    device: str,
    in_process: bool,
    forwards: int | None,
    power_source: str | None,
) -> list[Any]:
    """``repeats`` independent per-process results (runtime_s, energy_j, power_source, is_estimate)."""
    kwargs = {
        "batch_size": batch_size,
        "dtype": dtype,
        "device": device,
        "repeats": forwards,
        "power_source": power_source,
    }
    if in_process:
        results = [measure(name, processes=0, **kwargs) for _ in range(repeats)]
        return [p for r in results for p in (r.per_process or [r])]
    result = measure(name, processes=repeats, **kwargs)
    return list(result.per_process) or [result]


def _compare(samples: list[Any], prediction: Any, confidence: float) -> dict[str, Any]:
    total = prediction.total
    row: dict[str, Any] = {"repeats": len(samples)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a single repeat: NaN CI, already warned about once by validate()
        for quantity, (field, (point, low, high)) in QUANTITIES.items():
            unit = UNITS[quantity]
            values = np.array([float(getattr(s, field)) for s in samples], dtype=float)
            summary = summarize(values, confidence=confidence, name=f"measured {quantity}")
            ci_low, ci_high = summary.ci("t")
            predicted = float(getattr(total, point))
            p_low, p_high = float(getattr(total, low)), float(getattr(total, high))
            error = (predicted - summary.mean) / summary.mean * 100 if summary.mean else float("nan")
            row.update(
                {
                    f"measured_{quantity}_{unit}": summary.mean,
                    f"measured_{quantity}_std_{unit}": summary.std,
                    f"measured_{quantity}_ci95_low_{unit}": ci_low,
                    f"measured_{quantity}_ci95_high_{unit}": ci_high,
                    f"measured_{quantity}_cv": summary.cv,
                    f"predicted_{quantity}_{unit}": predicted,
                    f"predicted_{quantity}_low_{unit}": p_low,
                    f"predicted_{quantity}_high_{unit}": p_high,
                    f"{quantity}_error_pct": error,
                    f"{quantity}_abs_error_pct": abs(error),
                    f"{quantity}_in_measured_ci": bool(
                        np.isfinite(ci_low) and ci_low <= predicted <= ci_high
                    ),
                    f"{quantity}_measured_in_interval": bool(p_low <= summary.mean <= p_high),
                    f"{quantity}_interval_coverage": float(np.mean((values >= p_low) & (values <= p_high))),
                }
            )
    sources = sorted({str(s.power_source) for s in samples})
    row.update(
        {
            "measured_energy_source": ",".join(sources),
            "measured_is_estimate": bool(any(bool(s.is_estimate) for s in samples)),
            "predicted_energy_source": str(total.power_source),
            "predicted_is_estimate": bool(total.is_estimate),
            "predictor_device_id": str(getattr(total, "device_id", "")),
            "predictors": str(getattr(prediction, "predictors", "")),
            "nominal_coverage": float(getattr(prediction, "coverage", float("nan"))),
            "calibrated": bool(getattr(total, "calibrated", False)),
            "ci_method": CI_METHODS["t"],
        }
    )
    return row
