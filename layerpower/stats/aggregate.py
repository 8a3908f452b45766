"""The aggregate panel of RL-style evaluation (Agarwal et al. 2021, "Deep RL at the edge of the statistical
precipice"), as the ``rliable`` package computes it, on our DataFrames with numpy only.

Scores of one group (a backend × precision, say) are runs (seeds) on tasks (model × complexity). Per group:

* :func:`aggregate_median` -- median over tasks of the per-task mean score,
* :func:`aggregate_iqm` -- interquartile mean of all run scores pooled (25% cut off each end),
* :func:`aggregate_mean` -- mean over tasks of the per-task mean score,
* :func:`aggregate_optimality_gap` -- how far the scores fall short of a target ``gamma``:
  the mean of ``max(gamma - score, 0)`` (``direction="min"``: of ``max(score - gamma, 0)``).

With equally many runs per task these equal rliable's ``aggregate_*`` on a (runs × tasks) matrix; a task
with fewer runs is allowed here (the mean and the gap weight each task equally, the IQM pools runs).
Intervals: :func:`stratified_bootstrap` resamples runs with replacement *within each task* (rliable's
``StratifiedBootstrap``), percentile interval. rliable itself is not a dependency (it pulls in arch and
seaborn); these ~100 lines give the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from layerpower.errors import LayerpowerError
from layerpower.stats.names import default_direction, sort_configurations

#: one group's scores: one array of run scores per task
Scores = Sequence[np.ndarray]

#: the aggregates of the panel, in the order they are drawn
AGGREGATES: tuple[str, ...] = ("median", "IQM", "mean", "optimality gap")


def aggregate_median(scores: Scores) -> float:
    """Median over tasks of the per-task mean score."""
    return float(np.median([np.mean(task) for task in scores]))


def aggregate_iqm(scores: Scores) -> float:
    """Interquartile mean of all run scores pooled over tasks (``trim_mean(..., 0.25)``)."""
    return float(stats.trim_mean(np.concatenate([np.ravel(t) for t in scores]), 0.25))


def aggregate_mean(scores: Scores) -> float:
    """Mean over tasks of the per-task mean score."""
    return float(np.mean([np.mean(task) for task in scores]))


def aggregate_optimality_gap(
    scores: Scores, gamma: float | Sequence[float] = 1.0, direction: str = "max"
) -> float:
    """Mean shortfall from the target ``gamma`` (one value, or one per task): ``mean(max(gamma - s, 0))``;
    for ``direction="min"`` the excess ``mean(max(s - gamma, 0))``. Tasks weigh equally."""
    gammas = np.broadcast_to(np.asarray(gamma, dtype=float), (len(scores),))
    sign = 1.0 if direction == "max" else -1.0
    return float(
        np.mean(
            [
                np.mean(np.maximum(sign * (g - np.asarray(t)), 0.0))
                for t, g in zip(scores, gammas, strict=True)
            ]
        )
    )


def stratified_bootstrap(
    scores: Scores,
    statistic: Callable[[list[np.ndarray]], np.ndarray],
    *,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> tuple[float, float]:
    """Percentile interval of ``statistic`` when the runs of each task are resampled with replacement.

    ``statistic`` takes one array per task of shape (reps, runs of that task) and returns ``reps`` values.
    The same ``seed`` gives the same interval.
    """
    if not 0 < confidence < 1:
        raise LayerpowerError(f"confidence must lie between 0 and 1, got {confidence}")
    if reps < 1:
        raise LayerpowerError(f"reps must be at least 1, got {reps}")
    rng = np.random.default_rng(seed)
    resampled = [np.asarray(t, dtype=float)[rng.integers(0, len(t), size=(reps, len(t)))] for t in scores]
    values = np.asarray(statistic(resampled), dtype=float)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _vectorised(name: str, gamma: np.ndarray, direction: str) -> Callable[[list[np.ndarray]], np.ndarray]:
    sign = 1.0 if direction == "max" else -1.0
    if name == "median":
        return lambda tasks: np.median(np.column_stack([t.mean(axis=1) for t in tasks]), axis=1)
    if name == "IQM":
        return lambda tasks: stats.trim_mean(np.concatenate(tasks, axis=1), 0.25, axis=1)
    if name == "mean":
        return lambda tasks: np.column_stack([t.mean(axis=1) for t in tasks]).mean(axis=1)
    return lambda tasks: np.column_stack(
        [np.maximum(sign * (g - t), 0.0).mean(axis=1) for t, g in zip(tasks, gamma, strict=True)]
    ).mean(axis=1)


def aggregate_panel(
    frame: pd.DataFrame,
    metric: str,
    by: str | Sequence[str] = ("backend", "precision"),
    *,
    task_columns: Sequence[str] | None = None,
    direction: str | None = None,
    gamma: float | None = None,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Median, IQM, mean and optimality gap of ``metric`` per group of ``by``, with stratified bootstrap
    intervals (runs resampled within each task of ``task_columns``, default model × complexity).

    ``gamma`` is the optimality-gap target in the metric's unit: by default 1 for a maximised metric (a
    fraction such as accuracy) and, for a minimised one, the best group's mean on each task (the gap then
    reads "how far above the best configuration"). Returns one row per group and aggregate: ``<by...>,
    aggregate, estimate, low, high, runs, tasks, metric, direction, confidence, method``.
    """
    keys = [by] if isinstance(by, str) else list(by)
    keys = [k for k in keys if k in frame.columns]
    if task_columns is None:
        task_columns = [c for c in ("model", "complexity") if c in frame.columns]
    tasks = [c for c in task_columns if c not in keys]
    if metric not in frame.columns:
        raise LayerpowerError(
            f"no column {metric!r} to aggregate", f"available: {', '.join(map(str, frame.columns))}"
        )
    direction = direction or default_direction(metric)
    if direction not in ("min", "max"):
        raise LayerpowerError(f"unknown direction {direction!r}", "use min or max")
    data = frame[[*keys, *tasks]].copy()
    data["_score"] = pd.to_numeric(frame[metric], errors="coerce")
    data = data[data["_score"].notna()]
    if data.empty:
        raise LayerpowerError(f"{metric} has no finite value to aggregate")
    data["_task"] = data[tasks].astype(str).agg(" / ".join, axis=1) if tasks else "all"
    task_names = sorted(data["_task"].unique())
    if gamma is not None:
        targets = dict.fromkeys(task_names, float(gamma))
    elif direction == "max":
        targets = dict.fromkeys(task_names, 1.0)
    else:
        means = (
            data.groupby([*keys, "_task"], observed=True)["_score"].mean()
            if keys
            else data.groupby("_task")["_score"].mean()
        )
        best = means.groupby(level="_task").min()
        targets = {t: float(best[t]) for t in task_names}
    groups = list(data.groupby(keys, sort=False, observed=True)) if keys else [((), data)]
    rows = []
    for index, (name, part) in enumerate(groups):
        values = name if isinstance(name, tuple) else (name,)
        per_task = [(t, part.loc[part["_task"] == t, "_score"].to_numpy()) for t in task_names]
        per_task = [(t, s) for t, s in per_task if s.size]
        scores = [s for _, s in per_task]
        gammas = np.array([targets[t] for t, _ in per_task])
        points = {
            "median": aggregate_median(scores),
            "IQM": aggregate_iqm(scores),
            "mean": aggregate_mean(scores),
            "optimality gap": aggregate_optimality_gap(scores, gammas, direction),
        }
        for offset, aggregate in enumerate(AGGREGATES):
            low, high = stratified_bootstrap(
                scores,
                _vectorised(aggregate, gammas, direction),
                reps=reps,
                confidence=confidence,
                seed=None if seed is None else [seed, index, offset],
            )
            rows.append(
                {
                    **dict(zip(keys, values, strict=True)),
                    "aggregate": aggregate,
                    "estimate": points[aggregate],
                    "low": low,
                    "high": high,
                    "runs": int(sum(s.size for s in scores)),
                    "tasks": len(scores),
                    "metric": metric,
                    "direction": direction,
                    "confidence": confidence,
                    "method": f"stratified percentile bootstrap over runs within tasks, {reps} resamples",
                }
            )
    out = pd.DataFrame(rows)
    out["_aggregate"] = out["aggregate"].map(AGGREGATES.index)
    out = sort_configurations(out, [*keys, "_aggregate"]) if keys else out.sort_values("_aggregate")
    return out.drop(columns="_aggregate").reset_index(drop=True)
