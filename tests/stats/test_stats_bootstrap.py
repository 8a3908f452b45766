"""Bootstrap intervals, interquartile mean and probability of improvement on small fixed data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from layerpower.errors import LayerpowerError
from layerpower.stats import (
    bootstrap_ci,
    interquartile_mean,
    probability_of_improvement,
    stratified_bootstrap_ci,
)

VALUES = np.array([3.1, 2.9, 3.4, 3.0, 5.2, 3.3, 2.8, 3.1])


def test_bootstrap_ci_equals_scipy_percentile_interval() -> None:
    ours = bootstrap_ci(VALUES, "mean", n_resamples=2000, seed=7)
    ref = stats.bootstrap(
        (VALUES,), np.mean, n_resamples=2000, method="percentile", rng=np.random.default_rng(7)
    ).confidence_interval
    assert ours.estimate == pytest.approx(VALUES.mean())
    assert (ours.low, ours.high) == pytest.approx((ref.low, ref.high))
    assert ours.low < ours.estimate < ours.high
    assert "percentile bootstrap of the mean" in ours.method and ours.n == 8


def test_bootstrap_of_the_median_and_constant_data() -> None:
    median = bootstrap_ci(VALUES, "median", n_resamples=500)
    assert median.estimate == pytest.approx(np.median(VALUES))
    constant = bootstrap_ci([2.0, 2.0, 2.0])
    assert (constant.low, constant.estimate, constant.high) == (2.0, 2.0, 2.0)
    assert "constant data" in constant.method


def test_interquartile_mean_by_hand_and_scipy() -> None:
    values = [1, 2, 3, 4, 100, -50, 5, 6]  # sorted: -50 1 2 3 4 5 6 100; the middle half: 2 3 4 5
    assert interquartile_mean(values) == pytest.approx(3.5)
    assert interquartile_mean(VALUES) == pytest.approx(stats.trim_mean(VALUES, 0.25))
    iqm = bootstrap_ci(VALUES, "iqm", n_resamples=500)
    assert iqm.estimate == pytest.approx(stats.trim_mean(VALUES, 0.25))
    with pytest.raises(LayerpowerError):
        interquartile_mean([])


def test_probability_of_improvement_by_hand() -> None:
    a, b = [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]
    # pairs a > b: (3 > 2) = 1; ties: (2 = 2), (3 = 3) = 2 -> (1 + 0.5 * 2) / 9
    poi = probability_of_improvement(a, b, n_resamples=1000)
    assert poi.estimate == pytest.approx(2 / 9)
    assert 0.0 <= poi.low <= poi.estimate <= poi.high <= 1.0
    # lower is better (latency): a wins 1 - 2/9 ... by symmetry P(-a > -b) = P(a < b) + ties / 2
    lower = probability_of_improvement(a, b, higher_is_better=False, n_resamples=1000)
    assert lower.estimate == pytest.approx(1 - 2 / 9)
    # Mann-Whitney U / (n m) is the same statistic
    u = stats.mannwhitneyu(a, b, alternative="two-sided").statistic
    assert poi.estimate == pytest.approx(u / 9)


def test_probability_of_improvement_of_separate_samples() -> None:
    poi = probability_of_improvement([5, 6, 7], [1, 2, 3], n_resamples=500)
    assert (poi.estimate, poi.low, poi.high) == (1.0, 1.0, 1.0)
    same = probability_of_improvement([1, 1], [1, 1])
    assert same.estimate == 0.5 and "constant data" in same.method


def test_stratified_bootstrap_resamples_within_groups() -> None:
    values = [1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 5.0]
    groups = ["a", "a", "a", "b", "b", "b", "c"]
    interval = stratified_bootstrap_ci(values, groups, n_resamples=2000, seed=3)
    assert interval.estimate == pytest.approx(np.mean(values))
    # each stratum keeps its size, so the pooled mean can never reach all-a or all-b values
    group_a_low = (1 * 3 + 10 * 3 + 5) / 7
    group_high = (3 * 3 + 12 * 3 + 5) / 7
    assert group_a_low <= interval.low <= interval.estimate <= interval.high <= group_high
    assert "3 group(s)" in interval.method
    # reference: scipy's multi-sample bootstrap over the two resampled groups, the singleton fixed
    ref = stats.bootstrap(
        (np.array(values[:3]), np.array(values[3:6])),
        lambda x, y, axis=-1: (x.sum(axis=-1) + y.sum(axis=-1) + 5.0) / 7,
        n_resamples=2000,
        method="percentile",
        paired=False,
        rng=np.random.default_rng(3),
    ).confidence_interval
    assert (interval.low, interval.high) == pytest.approx((ref.low, ref.high))


def test_bootstrap_bad_input() -> None:
    with pytest.raises(LayerpowerError, match="at least two finite values"):
        bootstrap_ci([1.0])
    with pytest.raises(LayerpowerError, match="at least two finite values"):
        probability_of_improvement([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(LayerpowerError, match="differ in length"):
        stratified_bootstrap_ci([1.0, 2.0], ["a"])
    with pytest.raises(LayerpowerError, match="unknown statistic"):
        bootstrap_ci([1.0, 2.0], "mode")
    with pytest.raises(LayerpowerError, match="confidence"):
        bootstrap_ci([1.0, 2.0, 3.0], confidence=1.5)
