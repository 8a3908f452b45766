"""Error metrics, conformal bands, held-out coverage and the model-level calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerpower.predictors.calibration import Calibration, fit_calibration
from layerpower.predictors.metrics import (
    apply_band,
    conformal_band,
    grouped_coverage,
    log_ratio,
    regression_metrics,
)


def test_regression_metrics_on_known_errors():
    measured = np.array([1.0, 2.0, 4.0, 10.0])
    predicted = np.array([1.05, 2.4, 4.0, 9.0])  # +5 %, +20 %, 0 %, -10 %
    m = regression_metrics(measured, predicted)
    assert m["n"] == 4
    assert m["mape"] == pytest.approx((0.05 + 0.2 + 0.0 + 0.1) / 4)
    assert m["rmspe"] == pytest.approx(math.sqrt((0.05**2 + 0.2**2 + 0.1**2) / 4))
    assert m["within_10"] == pytest.approx(0.75)
    assert 0.9 < m["r2"] < 1.0


def test_metrics_ignore_missing_predictions():
    m = regression_metrics(np.array([1.0, 2.0]), np.array([1.0, np.nan]))
    assert m["n"] == 1 and m["mape"] == 0.0


def test_conformal_band_uses_finite_sample_ranks():
    residuals = np.linspace(-1.0, 1.0, 199)
    lo, hi = conformal_band(residuals, coverage=0.9)
    assert lo == pytest.approx(residuals[9]) and hi == pytest.approx(residuals[189])
    few = np.array([-0.2, 0.1, 0.3])
    assert conformal_band(few, 0.9) == (-0.2, 0.3)  # too few residuals: the full range


def test_apply_band_brackets_the_measured_value():
    predicted = 2.0
    low, high = apply_band(predicted, (-0.1, 0.2))  # predictions between 10 % low and 22 % high
    assert low == pytest.approx(2.0 * math.exp(-0.2)) and high == pytest.approx(2.0 * math.exp(0.1))
    assert log_ratio(np.array([2.0]), np.array([1.0]))[0] == pytest.approx(math.log(2.0))


def test_grouped_coverage_near_nominal_for_exchangeable_errors():
    rng = np.random.default_rng(0)
    residuals = rng.normal(0.0, 0.1, 2000)
    groups = np.repeat(np.arange(20), 100)
    assert 0.85 < grouped_coverage(residuals, groups, 0.9) < 0.95


def test_calibration_recovers_a_and_b():
    rng = np.random.default_rng(1)
    sums = rng.uniform(0.01, 1.0, 30)
    calls = rng.integers(10, 300, 30)
    measured = 1.15 * sums + 2e-5 * calls
    cal = fit_calibration(sums, calls, measured)
    assert cal.a == pytest.approx(1.15, rel=1e-6) and cal.b_s == pytest.approx(2e-5, rel=1e-4)
    assert cal.apply(0.5, 100) == pytest.approx(1.15 * 0.5 + 2e-5 * 100)
    assert Calibration.from_dict(cal.to_dict()) == cal


def test_calibration_is_non_negative_and_falls_back_to_identity():
    cal = fit_calibration(np.array([1.0, 2.0, 3.0]), np.array([1000, 10, 10]), np.array([0.5, 2.0, 3.0]))
    assert cal.a > 0 and cal.b_s >= 0
    assert fit_calibration(np.array([1.0]), np.array([1]), np.array([1.0])) == Calibration()


def test_roofline_recovers_compute_rate_bandwidth_and_overhead():
    from layerpower.predictors.roofline import fit_roofline, roofline_time

    rng = np.random.default_rng(2)
    flops = rng.uniform(0, 1e9, 300) * (rng.random(300) < 0.6)  # 40 % memory-only layers (no FLOPs)
    moved = rng.uniform(1e4, 1e8, 300)
    truth = (1 / 5e10, 1 / 1e10, 5e-6)
    runtime = roofline_time(flops, moved, truth) * rng.lognormal(0.0, 0.02, 300)
    c_f, c_b, t0 = fit_roofline(flops, moved, runtime)
    assert c_f == pytest.approx(truth[0], rel=0.05) and c_b == pytest.approx(truth[1], rel=0.05)
    assert t0 == pytest.approx(truth[2], rel=0.3)
