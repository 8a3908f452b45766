"""Seed variability and the share of consistent metrics."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from layerpower.errors import LayerpowerError
from layerpower.stats import consistency_share, seed_variability


def _runs() -> pd.DataFrame:
    # torch/fp32: energy CV 1% (consistent), time CV 50% (not); jax/fp32 both consistent;
    # torch/bf16 has one seed only (undetermined)
    return pd.DataFrame(
        {
            "backend": ["torch", "torch", "jax", "jax", "torch"],
            "precision": ["fp32", "fp32", "fp32", "fp32", "bf16"],
            "seed": [1, 2, 1, 2, 1],
            "energy": [99.0, 101.0, 50.0, 50.5, 70.0],
            "time": [1.0, 3.0, 2.0, 2.02, 1.5],
        }
    )


def test_seed_variability_per_configuration_and_metric() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = seed_variability(_runs())
    assert list(table.columns) == [
        "backend",
        "precision",
        "metric",
        "n_seeds",
        "mean",
        "std",
        "cv",
        "consistent",
        "cv_threshold",
    ]
    row = table[
        (table["backend"] == "torch") & (table["precision"] == "fp32") & (table["metric"] == "energy")
    ].iloc[0]
    assert row["n_seeds"] == 2
    assert row["mean"] == pytest.approx(100.0)
    assert row["cv"] == pytest.approx(pd.Series([99.0, 101.0]).std() / 100.0)
    assert row["consistent"]
    time = table[
        (table["backend"] == "torch") & (table["precision"] == "fp32") & (table["metric"] == "time")
    ].iloc[0]
    assert time["cv"] == pytest.approx(pd.Series([1.0, 3.0]).std() / 2.0)
    assert not time["consistent"]


def test_consistency_share_overall_and_grouped_sorted() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = seed_variability(_runs())
    overall = consistency_share(table)
    assert overall.loc[0, "metrics"] == 4  # two configurations with 2 seeds x 2 metrics
    assert overall.loc[0, "consistent"] == 3
    assert overall.loc[0, "undetermined"] == 2
    assert overall.loc[0, "share_consistent"] == pytest.approx(0.75)

    by_backend = consistency_share(table, "backend")
    assert list(by_backend["backend"]) == ["jax", "torch"]  # sorted from the highest share
    assert list(by_backend["share_consistent"]) == pytest.approx([1.0, 0.5])

    by_metric = consistency_share(table, ["metric"])
    assert by_metric.iloc[0]["metric"] == "energy"


def test_undetermined_group_has_nan_share_and_sorts_last() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = seed_variability(_runs())
    by_precision = consistency_share(table, "precision")
    assert by_precision.iloc[-1]["precision"] == "bf16"
    assert pd.isna(by_precision.iloc[-1]["share_consistent"])


def test_custom_threshold_and_bad_input() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        strict = seed_variability(_runs(), cv_threshold=0.001)
    assert not strict["consistent"].any()
    with pytest.raises(LayerpowerError, match="no runs"):
        seed_variability(_runs().iloc[0:0])
    with pytest.raises(LayerpowerError, match="cannot group by nope"):
        consistency_share(strict, "nope")
