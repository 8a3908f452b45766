"""Bootstrap confidence intervals, the interquartile mean, and the probability of improvement.

* :func:`bootstrap_ci` -- percentile (or BCa / basic) interval of any statistic, via
  :func:`scipy.stats.bootstrap`.
* :func:`stratified_bootstrap_ci` -- resample within each group (seed, task, ...) keeping group sizes,
  then compute the statistic on the pooled sample: :func:`scipy.stats.bootstrap` with one sample per
  group (``paired=False`` resamples each independently).
* :func:`interquartile_mean` -- mean of the middle 50% (:func:`scipy.stats.trim_mean` with 25% cut on
  each side): robust to the outliers of a shared machine, less noisy than the median.
* :func:`probability_of_improvement` -- P(X_a > X_b) + ½ P(X_a = X_b) for a random run of each
  configuration (the Mann-Whitney U statistic divided by n·m), with a bootstrap interval.

Every function returns an :class:`Interval` that names its method and confidence level.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from layerpower.errors import LayerpowerError

Statistic = Callable[..., np.ndarray]

#: statistics that can be named by string
STATISTICS: dict[str, Statistic] = {
    "mean": np.mean,
    "median": np.median,
    "iqm": lambda values, axis=-1: stats.trim_mean(values, 0.25, axis=axis),
}


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    method: str
    n: int

    def as_dict(self, prefix: str = "") -> dict[str, float | str | int]:
        return {f"{prefix}{key}": value for key, value in asdict(self).items()}

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies within [low, high]."""
        return bool(self.low <= value <= self.high)


def interquartile_mean(values: Sequence[float] | np.ndarray, axis: int | None = None) -> float | np.ndarray:
    """Mean of the values between the 25th and 75th percentiles (``scipy.stats.trim_mean(values, 0.25)``)."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        raise LayerpowerError("cannot compute the interquartile mean of no values")
    result = stats.trim_mean(array, 0.25, axis=axis)
    return float(result) if np.ndim(result) == 0 else result


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    statistic: str | Statistic = "mean",
    *,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    method: str = "percentile",
    seed: int | None = 0,
) -> Interval:
    """Bootstrap confidence interval of ``statistic`` over ``values`` (``scipy.stats.bootstrap``).

    ``statistic`` is ``"mean"``, ``"median"``, ``"iqm"`` or a function ``f(values, axis=-1)``.
    """
    func, name = _statistic(statistic)
    data = _finite(values, "bootstrap")
    estimate = float(func(data, axis=-1))
    if np.ptp(data) == 0:  # every resample equals the sample: the interval is the point
        return Interval(
            estimate,
            estimate,
            estimate,
            confidence,
            f"{method} bootstrap of the {name} (constant data)",
            data.size,
        )
    result = _bootstrap(
        (data,), lambda sample, axis=-1: func(sample, axis=axis), confidence, n_resamples, method, seed
    )
    return Interval(
        estimate, *result, confidence, f"{method} bootstrap of the {name}, {n_resamples} resamples", data.size
    )


def stratified_bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    groups: Sequence[object] | np.ndarray,
    statistic: str | Statistic = "mean",
    *,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    method: str = "percentile",
    seed: int | None = 0,
) -> Interval:
    """Bootstrap interval of ``statistic`` of the pooled values, resampling within each group.

    Each group (stratum) keeps its size in every resample, so a configuration measured on many tasks is
    not dominated by whichever task happened to be drawn most. Groups of one value are kept fixed.
    """
    func, name = _statistic(statistic)
    array = np.asarray(values, dtype=float).ravel()
    labels = np.asarray(groups, dtype=object).ravel()
    if array.size != labels.size:
        raise LayerpowerError(f"values ({array.size}) and groups ({labels.size}) differ in length")
    keep = ~np.isnan(array)
    array, labels = array[keep], labels[keep]
    if array.size < 2:
        raise LayerpowerError("a bootstrap needs at least two finite values", "repeat the runs")
    uniques = list(dict.fromkeys(labels.tolist()))
    strata = [array[labels == label] for label in uniques]
    resampled = tuple(s for s in strata if s.size >= 2)
    fixed = (
        np.concatenate([s for s in strata if s.size < 2]) if any(s.size < 2 for s in strata) else np.empty(0)
    )
    estimate = float(func(array, axis=-1))
    label = (
        f"stratified {method} bootstrap of the {name} over {len(strata)} group(s), {n_resamples} resamples"
    )
    if not resampled or all(np.ptp(s) == 0 for s in resampled):
        return Interval(estimate, estimate, estimate, confidence, label + " (constant data)", array.size)

    def pooled(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        parts = list(samples)
        if fixed.size:
            shape = samples[0].shape[:-1] + (fixed.size,)
            parts.append(np.broadcast_to(fixed, shape))
        return func(np.concatenate(parts, axis=-1), axis=-1)

    low, high = _bootstrap(resampled, pooled, confidence, n_resamples, method, seed)
    return Interval(estimate, low, high, confidence, label, array.size)


def probability_of_improvement(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    higher_is_better: bool = True,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int | None = 0,
) -> Interval:
    """Probability that a run of configuration ``a`` beats a run of ``b`` (ties count one half).

    ``higher_is_better=False`` for latency or energy. 0.5 means no difference; the interval comes from
    resampling ``a`` and ``b`` independently (percentile bootstrap).
    """
    xa = _finite(a, "probability of improvement (a)")
    xb = _finite(b, "probability of improvement (b)")
    sign = 1.0 if higher_is_better else -1.0
    xa, xb = sign * xa, sign * xb

    def prob(sa: np.ndarray, sb: np.ndarray, axis: int = -1) -> np.ndarray:
        diff = sa[..., :, None] - sb[..., None, :]
        return (diff > 0).mean(axis=(-2, -1)) + 0.5 * (diff == 0).mean(axis=(-2, -1))

    estimate = float(prob(xa, xb))
    label = f"percentile bootstrap of P(a beats b), {n_resamples} resamples"
    if np.ptp(xa) == 0 and np.ptp(xb) == 0:
        return Interval(
            estimate, estimate, estimate, confidence, label + " (constant data)", xa.size + xb.size
        )
    low, high = _bootstrap(
        (xa, xb),
        prob,
        confidence,
        n_resamples,
        "percentile",
        seed,
        batch=max(1, int(2_000_000 // (xa.size * xb.size))),
    )
    return Interval(estimate, low, high, confidence, label, xa.size + xb.size)


# -- internals ------------------------------------------------------------------------------------------


def _statistic(statistic: str | Statistic) -> tuple[Statistic, str]:
    if callable(statistic):
        return statistic, getattr(statistic, "__name__", "statistic")
    if statistic not in STATISTICS:
        raise LayerpowerError(
            f"unknown statistic {statistic!r}", f"use one of {', '.join(STATISTICS)} or a function"
        )
    return STATISTICS[statistic], {"iqm": "interquartile mean"}.get(statistic, statistic)


def _finite(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    array = array[~np.isnan(array)]
    if array.size < 2:
        raise LayerpowerError(
            f"{what} needs at least two finite values, got {array.size}", "repeat the runs with more seeds"
        )
    return array


def _bootstrap(
    samples: tuple[np.ndarray, ...],
    statistic: Statistic,
    confidence: float,
    n_resamples: int,
    method: str,
    seed: int | None,
    batch: int | None = None,
) -> tuple[float, float]:
    if not 0 < confidence < 1:
        raise LayerpowerError(f"confidence must lie between 0 and 1, got {confidence}")
    if method not in ("percentile", "basic", "BCa"):
        raise LayerpowerError(f"unknown bootstrap method {method!r}", "use 'percentile', 'basic' or 'BCa'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            samples,
            statistic,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method=method,
            paired=False,
            vectorized=True,
            batch=batch,
            rng=np.random.default_rng(seed),
        )
    interval = result.confidence_interval
    return float(interval.low), float(interval.high)
