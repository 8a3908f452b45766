"""Summaries over repeated runs, checked against values worked out by hand and by scipy."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from layerpower.errors import LayerpowerError
from layerpower.stats import StatsWarning, summarize, summarize_frame
from layerpower.stats.summary import critical_value, format_mean_std


def test_summary_of_four_values_by_hand() -> None:
    s = summarize([2.0, 4.0, 4.0, 6.0])
    # mean 4, sample variance (4 + 0 + 0 + 4) / 3 = 8/3
    assert s.n == 4
    assert s.mean == pytest.approx(4.0)
    assert s.std == pytest.approx(math.sqrt(8 / 3))
    sem = math.sqrt(8 / 3) / 2
    assert s.sem == pytest.approx(sem)
    assert s.ci("normal") == pytest.approx((4 - 1.959964 * sem, 4 + 1.959964 * sem), rel=1e-6)
    # Student's t with 3 degrees of freedom: 3.182446
    assert s.ci("t") == pytest.approx((4 - 3.182446 * sem, 4 + 3.182446 * sem), rel=1e-6)
    assert s.cv == pytest.approx(math.sqrt(8 / 3) / 4)
    assert not s.consistent  # CV 0.41


def test_t_interval_matches_scipy() -> None:
    values = np.array([10.1, 9.8, 10.3, 10.0, 9.9])
    s = summarize(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert s.ci("t") == pytest.approx((low, high))
    assert s.consistent  # CV about 2%


def test_consistency_threshold_is_configurable() -> None:
    values = [100.0, 103.0, 97.0]  # CV 3%
    assert summarize(values).consistent
    assert not summarize(values, cv_threshold=0.02).consistent


def test_t_interval_is_wider_than_normal_for_few_repeats() -> None:
    s = summarize([1.0, 2.0, 3.0])
    assert s.ci_t_high - s.ci_t_low > s.ci_normal_high - s.ci_normal_low
    assert critical_value(3, 0.95, "t") == pytest.approx(stats.t.ppf(0.975, 2))
    assert critical_value(3, 0.95, "normal") == pytest.approx(1.959964, rel=1e-6)


def test_single_value_warns_once_and_has_no_spread() -> None:
    with pytest.warns(StatsWarning, match="single value") as record:
        s = summarize([5.0], name="latency")
    assert len(record) == 1
    assert s.mean == 5.0
    assert math.isnan(s.std) and math.isnan(s.ci_t_low) and math.isnan(s.cv)
    assert not s.consistent


def test_nan_values_are_dropped_with_one_warning() -> None:
    with pytest.warns(StatsWarning, match="dropped 1 NaN") as record:
        s = summarize([1.0, float("nan"), 3.0])
    assert len(record) == 1
    assert s.n == 2 and s.mean == 2.0


@pytest.mark.parametrize("values", [[], [float("nan")]])
def test_no_values_is_a_clear_error(values: list[float]) -> None:
    with pytest.raises(LayerpowerError, match="cannot summarise"):
        summarize(values)


def test_zero_mean_has_undefined_cv() -> None:
    s = summarize([-1.0, 1.0])
    assert math.isnan(s.cv) and not s.consistent


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "backend": ["torch", "torch", "torch", "jax", "jax", "jax"],
            "energy": [10.0, 12.0, 14.0, 20.0, 20.5, 19.5],
            "time": [1.0, 1.0, 1.0, 2.0, 2.2, 1.8],
        }
    )


def test_summarize_frame_long_layout_per_group() -> None:
    long = summarize_frame(_frame(), ["energy", "time"], by="backend")
    assert set(long.columns) >= {
        "backend",
        "metric",
        "n",
        "mean",
        "std",
        "sem",
        "ci95_low",
        "ci95_high",
        "ci95_half",
        "cv",
        "consistent",
        "ci_method",
    }
    assert (long["ci_method"] == "Student's t (n-1 df) × SEM").all()
    torch_energy = long[(long["backend"] == "torch") & (long["metric"] == "energy")].iloc[0]
    expected = summarize([10.0, 12.0, 14.0])
    assert torch_energy["mean"] == pytest.approx(12.0)
    assert torch_energy["std"] == pytest.approx(2.0)
    assert (torch_energy["ci95_low"], torch_energy["ci95_high"]) == pytest.approx(expected.ci("t"))
    torch_time = long[(long["backend"] == "torch") & (long["metric"] == "time")].iloc[0]
    assert torch_time["cv"] == 0.0 and torch_time["consistent"]


def test_summarize_frame_wide_layout_and_normal_ci() -> None:
    wide = summarize_frame(_frame(), ["energy"], by=["backend"], ci="normal", layout="wide")
    assert list(wide["backend"]) == ["jax", "torch"]
    row = wide[wide["backend"] == "jax"].iloc[0]
    sem = np.std([20.0, 20.5, 19.5], ddof=1) / math.sqrt(3)
    assert row["energy_ci95_half"] == pytest.approx(1.959964 * sem, rel=1e-6)
    assert row["energy_n"] == 3
    assert wide["ci_method"].iloc[0] == "normal approximation (1.96 × SEM)"


def test_summarize_frame_without_groups() -> None:
    long = summarize_frame(_frame(), ["time"])
    assert len(long) == 1 and long.loc[0, "n"] == 6


def test_summarize_frame_warns_once_for_thin_groups_and_nans() -> None:
    frame = pd.DataFrame({"g": ["a", "a", "b"], "m": [1.0, np.nan, 2.0], "k": [1.0, 2.0, 3.0]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        long = summarize_frame(frame, ["m", "k"], by="g")
    stats_warnings = [w for w in caught if issubclass(w.category, StatsWarning)]
    assert len(stats_warnings) == 1
    assert "dropped 1 NaN" in str(stats_warnings[0].message)
    assert "fewer than 2 values" in str(stats_warnings[0].message)
    assert long[(long["g"] == "a") & (long["metric"] == "m")]["n"].iloc[0] == 1


def test_summarize_frame_bad_input() -> None:
    with pytest.raises(LayerpowerError, match="columns not found: nope"):
        summarize_frame(_frame(), ["nope"])
    with pytest.raises(LayerpowerError, match="empty table"):
        summarize_frame(_frame().iloc[0:0], ["energy"])
    with pytest.raises(LayerpowerError, match="unknown confidence-interval method"):
        summarize_frame(_frame(), ["energy"], ci="bayes")


def test_format_mean_std() -> None:
    assert format_mean_std(1.2345, 0.0456) == "1.23 ± 0.046"
    assert format_mean_std(1.2345, float("nan")) == "1.23"
    assert format_mean_std(float("nan"), 1.0) == ""
