"""The headline of the report: per main metric (and task), the best configuration with its confidence
interval, the probability that it beats the runner-up, and how consistent the metric is across seeds.

"Best" follows each metric's direction (:mod:`.names`): lowest time or energy, highest accuracy. The
probability of improvement is :func:`~layerpower.stats.bootstrap.probability_of_improvement` of the
best configuration's runs against the runner-up's (P(a run of the best beats a run of the runner-up),
ties one half), with a percentile bootstrap interval; NaN where either has fewer than two runs. The
consistency share is the share of configurations whose metric has a CV below the threshold
(:func:`~layerpower.stats.variability.consistency_share`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from layerpower.errors import LayerpowerError
from layerpower.stats.bootstrap import probability_of_improvement
from layerpower.stats.names import configuration_label, display
from layerpower.stats.summary import ci_label
from layerpower.stats.variability import consistency_share

#: the metrics of the headline, when present: time, energy, quality
HEADLINE_METRICS: tuple[str, ...] = (
    "training_time",
    "training_energy_j",
    "testing_energy_j",
    "test_accuracy",
    "test_mae",
)


def headline_table(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    metrics: Sequence[str],
    keys: Sequence[str],
    directions: Mapping[str, str],
    *,
    task_keys: Sequence[str] = (),
    variability: pd.DataFrame | None = None,
    names: Mapping[str, str] | None = None,
    confidence: float = 0.95,
    reps: int = 2000,
    seed: int | None = 0,
) -> pd.DataFrame:
    """One row per metric and task: ``metric, direction, <task keys>, configurations, best, best_mean,
    best_low, best_high, best_cv, runner_up, runner_up_mean, p_improvement, p_low, p_high,
    consistent, determined, share_consistent``.

    ``summary`` is the wide :func:`~layerpower.stats.summary.summarize_frame` table of ``runs`` over
    ``keys``; ``variability`` the :func:`~layerpower.stats.variability.seed_variability` frame (optional).
    """
    task_keys = [k for k in task_keys if k in summary.columns]
    config_keys = [k for k in keys if k not in (*task_keys, "energy_source")]
    label = ci_label(confidence)
    rows: list[dict[str, object]] = []
    for metric in metrics:
        if f"{metric}_mean" not in summary:
            continue
        direction = directions.get(metric, "min")
        if direction not in ("min", "max"):
            raise LayerpowerError(f"unknown direction {direction!r} for {metric}", "use min or max")
        tasks = list(summary.groupby(task_keys, sort=True, observed=True)) if task_keys else [((), summary)]
        for task, part in tasks:
            part = part[part[f"{metric}_mean"].notna()]
            if part.empty:
                continue
            ranked = part.sort_values(f"{metric}_mean", ascending=direction == "min", kind="stable")
            best = ranked.iloc[0]
            where = dict(zip(task_keys, task if isinstance(task, tuple) else (task,), strict=True))
            row: dict[str, object] = {"metric": metric, "direction": direction, **where}
            row.update(
                configurations=len(ranked),
                best=configuration_label(best, config_keys, names),
                best_mean=float(best[f"{metric}_mean"]),
                best_low=float(best[f"{metric}_{label}_low"]),
                best_high=float(best[f"{metric}_{label}_high"]),
                best_cv=float(best[f"{metric}_cv"]),
                runner_up="",
                runner_up_mean=np.nan,
                p_improvement=np.nan,
                p_low=np.nan,
                p_high=np.nan,
            )
            if len(ranked) > 1:
                second = ranked.iloc[1]
                row["runner_up"] = configuration_label(second, config_keys, names)
                row["runner_up_mean"] = float(second[f"{metric}_mean"])
                a, b = _values(runs, best, keys, metric), _values(runs, second, keys, metric)
                if a.size >= 2 and b.size >= 2:
                    interval = probability_of_improvement(
                        a,
                        b,
                        higher_is_better=direction == "max",
                        confidence=confidence,
                        n_resamples=reps,
                        seed=seed,
                    )
                    row.update(p_improvement=interval.estimate, p_low=interval.low, p_high=interval.high)
            row.update(_consistency(variability, metric, where))
            rows.append(row)
    return pd.DataFrame(rows)


def headline_display(
    table: pd.DataFrame,
    headers: Mapping[str, str],
    *,
    task_keys: Sequence[str] = (),
    names: Mapping[str, str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """The headline as a page table: one readable row per metric (and task)."""
    pct = f"{round(confidence * 100):d}%"
    rows = []
    for row in table.to_dict(orient="records"):
        out: dict[str, object] = {"metric": headers.get(row["metric"], display(row["metric"], names))}
        out["goal"] = "lowest" if row["direction"] == "min" else "highest"
        for key in task_keys:
            if key in row:
                out[display(key, names)] = row[key]
        out["best configuration"] = row["best"]
        out[f"mean [{pct} CI]"] = f"{_num(row['best_mean'])} {_interval(row['best_low'], row['best_high'])}"
        out["runner-up"] = f"{row['runner_up']} ({_num(row['runner_up_mean'])})" if row["runner_up"] else ""
        out["P(best beats runner-up)"] = (
            f"{row['p_improvement']:.2f} {_interval(row['p_low'], row['p_high'], 2)}"
            if np.isfinite(row["p_improvement"])
            else ("only one configuration" if not row["runner_up"] else "needs ≥ 2 seeds each")
        )
        out["consistent across seeds"] = (
            f"{row['share_consistent']:.0%} of {row['determined']} configurations"
            if np.isfinite(row["share_consistent"])
            else "undetermined (single seeds)"
        )
        rows.append(out)
    return pd.DataFrame(rows)


def _values(runs: pd.DataFrame, config: pd.Series, keys: Sequence[str], metric: str) -> np.ndarray:
    mask = np.ones(len(runs), dtype=bool)
    for key in keys:
        mask &= (runs[key] == config[key]).to_numpy() | (runs[key].isna() & pd.isna(config[key])).to_numpy()
    values = pd.to_numeric(runs.loc[mask, metric], errors="coerce").to_numpy(dtype=float)
    return values[np.isfinite(values)]


def _consistency(variability: pd.DataFrame | None, metric: str, task: dict[str, object]) -> dict[str, object]:
    empty = {"consistent": 0, "determined": 0, "share_consistent": np.nan}
    if variability is None or variability.empty:
        return empty
    part = variability[variability["metric"] == metric]
    for key, value in task.items():
        if key in part:
            part = part[part[key] == value]
    if part.empty:
        return empty
    share = consistency_share(part).iloc[0]
    return {
        "consistent": int(share["consistent"]),
        "determined": int(share["metrics"]),
        "share_consistent": float(share["share_consistent"]),
    }


def _num(value: float) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:.4g}"


def _interval(low: float, high: float, digits: int = 4) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return ""
    return f"[{low:.{digits}g}, {high:.{digits}g}]"
