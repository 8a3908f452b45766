"""Correlation between two metrics: Pearson (linear) and Spearman (rank), with p-values and plain words.

The strength in words follows the usual bands of |r|: below 0.1 negligible, below 0.3 weak, below 0.5
moderate, below 0.7 strong, else very strong; with the sign (positive/negative). Constant input has no
correlation: r is NaN and the strength says so. So has input whose spread is lost in floating-point noise
(relative spread below ``FLAT_TOLERANCE``, the bound at which scipy calls a Pearson r inaccurate).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from layerpower.errors import LayerpowerError

#: (upper bound of |r|, word), checked in order
STRENGTH_BANDS: list[tuple[float, str]] = [
    (0.1, "negligible"),
    (0.3, "weak"),
    (0.5, "moderate"),
    (0.7, "strong"),
    (float("inf"), "very strong"),
]

#: relative spread (norm of deviations over |mean|) below which a sample counts as constant
FLAT_TOLERANCE = float(np.finfo(float).eps ** 0.75)


@dataclass(frozen=True)
class Correlation:
    """Pearson and Spearman correlation of two samples of length ``n``."""

    n: int
    pearson_r: float
    pearson_p: float
    spearman_rho: float
    spearman_p: float
    strength: str  # of the Pearson r, in words

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def correlation_strength(r: float) -> str:
    """Plain-words strength of a correlation coefficient, e.g. ``"strong positive"``."""
    if r is None or not np.isfinite(r):
        return "undefined (constant or too little data)"
    size = abs(r)
    word = next(word for bound, word in STRENGTH_BANDS if size < bound)
    if word == "negligible":
        return word
    return f"{word} {'positive' if r > 0 else 'negative'}"


def is_flat(values: np.ndarray) -> bool:
    """True when ``values`` do not vary beyond floating-point noise (a correlation would be meaningless)."""
    deviation = float(np.linalg.norm(values - values.mean()))
    return deviation == 0.0 or deviation < FLAT_TOLERANCE * abs(float(values.mean()))


def correlate(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> Correlation:
    """Pearson and Spearman correlation of ``x`` and ``y`` (pairs with a NaN are dropped)."""
    xa = np.asarray(x, dtype=float).ravel()
    ya = np.asarray(y, dtype=float).ravel()
    if xa.size != ya.size:
        raise LayerpowerError(f"cannot correlate samples of different lengths ({xa.size} and {ya.size})")
    keep = ~(np.isnan(xa) | np.isnan(ya))
    xa, ya = xa[keep], ya[keep]
    if xa.size < 3:
        raise LayerpowerError(
            f"a correlation needs at least three complete pairs, got {xa.size}", "collect more runs"
        )
    if is_flat(xa) or is_flat(ya):
        nan = float("nan")
        return Correlation(int(xa.size), nan, nan, nan, nan, correlation_strength(nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        warnings.simplefilter("ignore", stats.NearConstantInputWarning)
        pearson = stats.pearsonr(xa, ya)
        spearman = stats.spearmanr(xa, ya)
    r = float(pearson.statistic)
    return Correlation(
        n=int(xa.size),
        pearson_r=r,
        pearson_p=float(pearson.pvalue),
        spearman_rho=float(spearman.statistic),
        spearman_p=float(spearman.pvalue),
        strength=correlation_strength(r),
    )


def correlation_table(frame: pd.DataFrame, target: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Correlation of ``target`` with each of ``columns`` (default: the other numeric columns).

    One row per column: ``column, n, pearson_r, pearson_p, spearman_rho, spearman_p, strength``, sorted by
    |pearson_r| (largest first). Columns with fewer than three complete pairs are left out.
    """
    if target not in frame.columns:
        raise LayerpowerError(f"no column {target!r} to correlate with")
    if columns is None:
        columns = [
            c
            for c in frame.columns
            if c != target
            and pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])
        ]
    rows = []
    for column in columns:
        try:
            result = correlate(frame[column], frame[target])
        except LayerpowerError:
            continue
        rows.append({"column": column, **result.as_dict()})
    out = pd.DataFrame(
        rows, columns=["column", "n", "pearson_r", "pearson_p", "spearman_rho", "spearman_p", "strength"]
    )
    if out.empty:
        return out
    order = out["pearson_r"].abs().fillna(-1).sort_values(ascending=False).index
    return out.loc[order].reset_index(drop=True)
