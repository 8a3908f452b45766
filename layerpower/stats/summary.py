"""Summaries over repeated runs: mean, standard deviation, 95% confidence intervals and consistency.

Two confidence intervals are offered and every table names the one it shows (column ``ci_method``):

* ``"t"`` -- Student's t with n-1 degrees of freedom: ``mean ± t(0.975, n-1) × SEM``. The right one for the
  handful of repeats a benchmark usually has (with 3 repeats t = 4.30, not 1.96).
* ``"normal"`` -- the normal approximation: ``mean ± 1.96 × SEM``. Too narrow for few repeats.

The standard deviation is the sample one (ddof = 1), SEM = std / √n, and the coefficient of variation is
std / |mean|. A metric is *consistent* when its CV is below a threshold (5% by default). With fewer than
two values the spread is undefined: std, CI and CV are NaN and the metric is not consistent (one warning
names the affected groups). NaN values are dropped, with one warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from layerpower.errors import LayerpowerError
from layerpower.stats._warn import warn

#: default threshold on the coefficient of variation below which a metric counts as consistent
CV_THRESHOLD = 0.05

#: human-readable names of the confidence-interval methods, as written into tables
CI_METHODS: dict[str, str] = {
    "t": "Student's t (n-1 df) × SEM",
    "normal": "normal approximation (1.96 × SEM)",
}


def ci_label(confidence: float = 0.95) -> str:
    """Column stem for a confidence level: 0.95 -> ``"ci95"``."""
    return f"ci{round(confidence * 100):d}"


def critical_value(n: int | np.ndarray, confidence: float = 0.95, method: str = "t") -> float | np.ndarray:
    """The multiplier of the SEM for a two-sided interval: Student's t (n-1 df) or the normal z.

    NaN where ``n < 2`` for the t method.
    """
    _check_method(method)
    _check_confidence(confidence)
    q = 0.5 + confidence / 2
    if method == "normal":
        z = float(stats.norm.ppf(q))
        return np.where(np.asarray(n) >= 1, z, np.nan) if np.ndim(n) else z
    dof = np.asarray(n, dtype=float) - 1
    with np.errstate(invalid="ignore"):
        value = np.where(dof >= 1, stats.t.ppf(q, np.maximum(dof, 1)), np.nan)
    return value if np.ndim(n) else float(value)


@dataclass(frozen=True)
class Summary:
    """Summary of one metric over repeated runs (values in the metric's own unit; cv is a fraction)."""

    n: int
    mean: float
    std: float
    sem: float
    ci_normal_low: float
    ci_normal_high: float
    ci_t_low: float
    ci_t_high: float
    cv: float
    consistent: bool
    confidence: float = 0.95
    cv_threshold: float = CV_THRESHOLD

    def ci(self, method: str = "t") -> tuple[float, float]:
        """The (low, high) interval of ``method`` (``"t"`` or ``"normal"``)."""
        _check_method(method)
        if method == "t":
            return self.ci_t_low, self.ci_t_high
        return self.ci_normal_low, self.ci_normal_high

    def as_dict(self, prefix: str = "") -> dict[str, float | int | bool]:
        """A flat dict; keys prefixed with ``prefix`` (e.g. ``"latency_"``)."""
        return {f"{prefix}{key}": value for key, value in asdict(self).items()}


def summarize(
    values: Iterable[float],
    *,
    confidence: float = 0.95,
    cv_threshold: float = CV_THRESHOLD,
    name: str = "values",
) -> Summary:
    """Summarise repeated measurements of one metric.

    Raises :class:`LayerpowerError` when no finite value is given; warns (once) when NaN values were
    dropped or only one value is left.
    """
    _check_confidence(confidence)
    array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float).ravel()
    finite = array[~np.isnan(array)]
    if finite.size == 0:
        raise LayerpowerError(
            f"cannot summarise {name}: no values" + (" (all NaN)" if array.size else ""),
            "run the measurement at least twice",
        )
    notes = []
    if finite.size < array.size:
        notes.append(f"dropped {array.size - finite.size} NaN value(s) of {name}")
    if finite.size < 2:
        notes.append(f"{name} has a single value: std, CI and CV are undefined (repeat the run)")
    if notes:
        warn("; ".join(notes))
    row = _summary_arrays(
        np.array([finite.size]), np.array([finite.mean()]), np.array([_std(finite)]), confidence, cv_threshold
    )
    return Summary(
        n=int(finite.size),
        mean=float(row["mean"][0]),
        std=float(row["std"][0]),
        sem=float(row["sem"][0]),
        ci_normal_low=float(row["normal_low"][0]),
        ci_normal_high=float(row["normal_high"][0]),
        ci_t_low=float(row["t_low"][0]),
        ci_t_high=float(row["t_high"][0]),
        cv=float(row["cv"][0]),
        consistent=bool(row["consistent"][0]),
        confidence=confidence,
        cv_threshold=cv_threshold,
    )


def summarize_frame(
    frame: pd.DataFrame,
    metrics: Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    ci: str = "t",
    confidence: float = 0.95,
    cv_threshold: float = CV_THRESHOLD,
    layout: str = "long",
) -> pd.DataFrame:
    """Summarise ``metrics`` of ``frame`` within each group of ``by`` (all rows when ``None``).

    ``layout="long"``: one row per group and metric with columns ``<by...>, metric, n, mean, std, sem,
    ci95_low, ci95_high, ci95_half, cv, consistent, ci_method``.
    ``layout="wide"``: one row per group with ``<metric>_n, <metric>_mean, <metric>_std, <metric>_ci95_low,
    <metric>_ci95_high, <metric>_ci95_half, <metric>_cv, <metric>_consistent`` and ``ci_method``.
    NaN values are dropped (one warning); groups with a single value get NaN spread (one warning).
    """
    _check_method(ci)
    _check_confidence(confidence)
    if layout not in ("long", "wide"):
        raise LayerpowerError(f"unknown layout {layout!r}", "use 'long' or 'wide'")
    keys = _as_list(by)
    metrics = list(metrics)
    missing = [c for c in [*keys, *metrics] if c not in frame.columns]
    if missing:
        raise LayerpowerError(
            f"columns not found: {', '.join(missing)}", f"available: {', '.join(map(str, frame.columns))}"
        )
    if not metrics:
        raise LayerpowerError("no metrics to summarise")
    if frame.empty:
        raise LayerpowerError("cannot summarise an empty table", "are there any successful runs?")
    data = frame[[*keys, *metrics]].copy()
    for metric in metrics:
        data[metric] = pd.to_numeric(data[metric], errors="coerce")
    label = ci_label(confidence)
    parts = []
    nan_cells = int(data[metrics].isna().sum().sum())
    grouped = data.groupby(keys, dropna=False, sort=True, observed=True) if keys else None
    for metric in metrics:
        if grouped is not None:
            agg = grouped[metric].agg(["count", "mean", "std"]).reset_index()
        else:
            col = data[metric]
            agg = pd.DataFrame({"count": [col.count()], "mean": [col.mean()], "std": [col.std(ddof=1)]})
        arrays = _summary_arrays(
            agg["count"].to_numpy(),
            agg["mean"].to_numpy(dtype=float),
            agg["std"].to_numpy(dtype=float),
            confidence,
            cv_threshold,
        )
        low, high = (
            (arrays["t_low"], arrays["t_high"])
            if ci == "t"
            else (arrays["normal_low"], arrays["normal_high"])
        )
        part = agg[keys].copy() if keys else pd.DataFrame(index=agg.index)
        part["metric"] = metric
        part["n"] = agg["count"].astype(int).to_numpy()
        part["mean"] = arrays["mean"]
        part["std"] = arrays["std"]
        part["sem"] = arrays["sem"]
        part[f"{label}_low"] = low
        part[f"{label}_high"] = high
        part[f"{label}_half"] = (high - low) / 2
        part["cv"] = arrays["cv"]
        part["consistent"] = arrays["consistent"]
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    long["ci_method"] = CI_METHODS[ci]
    _warn_thin(long, keys, nan_cells)
    if layout == "long":
        return long
    return _to_wide(long, keys, metrics, label)


def format_mean_std(mean: float, std: float, digits: int = 3) -> str:
    """``"1.23 ± 0.04"`` with ``digits`` significant digits; ``"1.23"`` when std is NaN; ``""`` for NaN."""
    if mean is None or not np.isfinite(mean):
        return ""
    if std is None or not np.isfinite(std):
        return f"{mean:.{digits}g}"
    return f"{mean:.{digits}g} ± {std:.{max(digits - 1, 1)}g}"


# -- internals ------------------------------------------------------------------------------------------


def _std(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if values.size >= 2 else float("nan")


def _summary_arrays(
    n: np.ndarray, mean: np.ndarray, std: np.ndarray, confidence: float, cv_threshold: float
) -> dict[str, np.ndarray]:
    n = np.asarray(n, dtype=float)
    std = np.where(n >= 2, std, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        sem = std / np.sqrt(n)
        z = float(stats.norm.ppf(0.5 + confidence / 2))
        t = critical_value(n, confidence, "t")
        cv = np.where(mean != 0, std / np.abs(mean), np.nan)
    consistent = np.where(np.isnan(cv), False, cv < cv_threshold)
    return {
        "mean": mean,
        "std": std,
        "sem": sem,
        "normal_low": mean - z * sem,
        "normal_high": mean + z * sem,
        "t_low": mean - t * sem,
        "t_high": mean + t * sem,
        "cv": cv,
        "consistent": consistent.astype(bool),
    }


def _to_wide(long: pd.DataFrame, keys: list[str], metrics: list[str], label: str) -> pd.DataFrame:
    fields = ["n", "mean", "std", f"{label}_low", f"{label}_high", f"{label}_half", "cv", "consistent"]
    wide: pd.DataFrame | None = None
    for metric in metrics:
        part = long[long["metric"] == metric][[*keys, *fields]].rename(
            columns={field: f"{metric}_{field}" for field in fields}
        )
        part = part.reset_index(drop=True)
        if wide is None:
            wide = part
        elif keys:
            wide = wide.merge(part, on=keys, how="outer")
        else:
            wide = pd.concat([wide, part], axis=1)
    assert wide is not None
    wide["ci_method"] = long["ci_method"].iloc[0]
    return wide


def _warn_thin(long: pd.DataFrame, keys: list[str], nan_cells: int) -> None:
    notes = []
    if nan_cells:
        notes.append(f"dropped {nan_cells} NaN value(s)")
    thin = long[long["n"] < 2]
    if not thin.empty:
        names = []
        for _, row in thin.head(5).iterrows():
            where = "/".join(str(row[k]) for k in keys) if keys else "all rows"
            names.append(f"{row['metric']} @ {where}" + (" (no values)" if row["n"] == 0 else ""))
        more = f" and {len(thin) - 5} more" if len(thin) > 5 else ""
        notes.append(
            f"{len(thin)} group/metric pair(s) have fewer than 2 values, so std, CI and CV are undefined: "
            f"{'; '.join(names)}{more} (repeat the runs with more seeds)"
        )
    if notes:
        warn("; ".join(notes), stacklevel=4)


def _as_list(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


def _check_method(method: str) -> None:
    if method not in CI_METHODS:
        raise LayerpowerError(f"unknown confidence-interval method {method!r}", "use 't' or 'normal'")


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise LayerpowerError(f"confidence must lie between 0 and 1, got {confidence}")
