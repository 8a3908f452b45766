"""Error metrics and prediction intervals from held-out relative errors.

Errors are relative (a layer's runtime spans five orders of magnitude): RMSPE, MAPE, the share within
±10 %, and R² on the raw values. Intervals are split-conformal bands on the log-ratio ``log(pred/measured)``
of held-out (leave-one-model-out) predictions: a new prediction ``p`` gets ``[p·e^-hi, p·e^-lo]`` where
``lo``/``hi`` are finite-sample order statistics of those log-ratios.
"""

from __future__ import annotations

import math

import numpy as np


def _pair(measured: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(measured, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    keep = np.isfinite(y) & np.isfinite(p) & (y > 0)
    return y[keep], p[keep]


def regression_metrics(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """``n``, ``rmspe``, ``mape``, ``median_ape``, ``within_10`` (fractions, not %), ``r2`` and
    ``mean_abs_log`` (mean |log(pred/measured)|, symmetric in over- and under-prediction)."""
    y, p = _pair(measured, predicted)
    if len(y) == 0:
        return {
            "n": 0,
            "rmspe": math.nan,
            "mape": math.nan,
            "median_ape": math.nan,
            "r2": math.nan,
            "within_10": math.nan,
            "mean_abs_log": math.nan,
        }
    rel = (p - y) / y
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((p - y) ** 2)) / ss_tot if ss_tot > 0 else math.nan
    return {
        "n": int(len(y)),
        "rmspe": float(np.sqrt(np.mean(rel**2))),
        "mape": float(np.mean(np.abs(rel))),
        "median_ape": float(np.median(np.abs(rel))),
        "r2": r2,
        "within_10": float(np.mean(np.abs(rel) <= 0.10)),
        "mean_abs_log": float(np.mean(np.abs(np.log(p[p > 0] / y[p > 0])))) if (p > 0).any() else math.nan,
    }


def log_ratio(predicted: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """``log(pred/measured)``; NaN where either is missing or not positive."""
    p = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(measured, dtype=np.float64)
    out = np.full(np.broadcast(p, y).shape, np.nan)
    ok = np.isfinite(p) & np.isfinite(y) & (p > 0) & (y > 0)
    out[ok] = np.log(p[ok] / y[ok])
    return out


def conformal_band(residuals: np.ndarray, coverage: float = 0.9) -> tuple[float, float]:
    """(lo, hi) log-ratio bounds holding ``coverage`` of future residuals (finite-sample order statistics).

    With ``n`` residuals the bounds are the ``floor((n+1)·a/2)``-th and ``ceil((n+1)·(1-a/2))``-th smallest
    (``a = 1 - coverage``), clamped to the sample: with few residuals the band is their full range.
    """
    r = np.sort(np.asarray(residuals, dtype=np.float64)[np.isfinite(residuals)])
    n = len(r)
    if n == 0:
        return (math.nan, math.nan)
    alpha = 1.0 - coverage
    lo_rank = max(int(math.floor((n + 1) * alpha / 2 + 1e-9)), 1)  # 1e-9: 1 - 0.9 is not exactly 0.1
    hi_rank = min(int(math.ceil((n + 1) * (1 - alpha / 2) - 1e-9)), n)
    return (float(r[lo_rank - 1]), float(r[hi_rank - 1]))


def apply_band(predicted: np.ndarray | float, band: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) bounds of the measured value given a prediction and a log-ratio band."""
    p = np.asarray(predicted, dtype=np.float64)
    lo, hi = band
    return p * np.exp(-hi), p * np.exp(-lo)


def grouped_coverage(residuals: np.ndarray, groups: np.ndarray, coverage: float = 0.9) -> float:
    """Share of residuals inside the band built from the *other* groups' residuals (held-out coverage)."""
    r = np.asarray(residuals, dtype=np.float64)
    g = np.asarray(groups, dtype=object)
    ok = np.isfinite(r)
    r, g = r[ok], g[ok]
    if len(r) == 0:
        return math.nan
    inside = counted = 0
    for group in set(g.tolist()):
        mine = g == group
        if mine.all():
            continue
        lo, hi = conformal_band(r[~mine], coverage)
        inside += int(np.sum((r[mine] >= lo) & (r[mine] <= hi)))
        counted += int(mine.sum())
    return inside / counted if counted else math.nan
