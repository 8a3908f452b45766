"""Correlation (against scipy) and Pareto frontiers (on crafted points)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from layerpower.errors import LayerpowerError
from layerpower.stats import (
    StatsWarning,
    correlate,
    correlation_strength,
    correlation_table,
    mark_pareto,
    pareto_front,
    pareto_mask,
)

# -- correlation ---------------------------------------------------------------------------------------


def test_correlate_matches_scipy() -> None:
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    y = [2.1, 3.9, 6.2, 8.1, 9.7, 12.5]
    result = correlate(x, y)
    pearson = stats.pearsonr(x, y)
    spearman = stats.spearmanr(x, y)
    assert result.pearson_r == pytest.approx(pearson.statistic)
    assert result.pearson_p == pytest.approx(pearson.pvalue)
    assert result.spearman_rho == pytest.approx(1.0)
    assert result.spearman_p == pytest.approx(spearman.pvalue)
    assert result.strength == "very strong positive"
    assert result.n == 6


@pytest.mark.parametrize(
    ("r", "words"),
    [
        (0.05, "negligible"),
        (-0.2, "weak negative"),
        (0.35, "moderate positive"),
        (-0.6, "strong negative"),
        (0.95, "very strong positive"),
        (float("nan"), "undefined (constant or too little data)"),
    ],
)
def test_strength_in_words(r: float, words: str) -> None:
    assert correlation_strength(r) == words


def test_correlate_drops_nan_pairs_and_handles_constant_input() -> None:
    result = correlate([1, 2, 3, np.nan, 5], [2, 4, 6, 8, np.nan])
    assert result.n == 3 and result.pearson_r == pytest.approx(1.0)
    constant = correlate([1, 1, 1, 1], [1, 2, 3, 4])
    assert np.isnan(constant.pearson_r) and constant.strength.startswith("undefined")
    with pytest.raises(LayerpowerError, match="at least three"):
        correlate([1, 2], [3, 4])
    with pytest.raises(LayerpowerError, match="different lengths"):
        correlate([1, 2, 3], [3, 4])


def test_nearly_constant_input_counts_as_constant_without_a_warning() -> None:
    # spread lost in floating-point noise: scipy would warn that r "may be inaccurate"
    flat = [1e9, 1e9 + 1e-6, 1e9, 1e9 + 2e-6]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = correlate(flat, [1, 2, 3, 4])
    assert np.isnan(result.pearson_r) and result.strength.startswith("undefined")
    # a small but real spread still correlates
    assert correlate([1e9, 1e9 + 1, 1e9 + 2, 1e9 + 3], [1, 2, 3, 4]).pearson_r == pytest.approx(1.0)


def test_correlation_table_sorted_by_strength() -> None:
    frame = pd.DataFrame(
        {
            "energy": [1.0, 2.0, 3.0, 4.0, 5.0],
            "time": [1.1, 2.0, 2.9, 4.2, 5.0],
            "noise": [3.0, 1.0, 4.0, 1.0, 5.0],
            "label": list("abcde"),
        }
    )
    table = correlation_table(frame, "energy")
    assert list(table["column"]) == ["time", "noise"]
    assert table.loc[0, "strength"] == "very strong positive"


# -- Pareto ---------------------------------------------------------------------------------------------


def test_pareto_min_latency_max_accuracy() -> None:
    points = pd.DataFrame(
        {
            "name": ["a", "b", "c", "d", "e"],
            "latency": [1.0, 2.0, 3.0, 2.0, 4.0],
            "accuracy": [0.70, 0.80, 0.90, 0.75, 0.85],
        }
    )
    front = pareto_front(points, {"latency": "min", "accuracy": "max"})
    # d is beaten by b (same latency, better accuracy), e by c (faster and better)
    assert list(front["name"]) == ["a", "b", "c"]


def test_pareto_ties_and_duplicates() -> None:
    points = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 2.0], [2.0, 1.0], [2.0, 2.0]])
    # minimise both: the duplicated (1, 1) pair dominates everything else and neither dominates the other
    assert pareto_mask(points, ["min", "min"]).tolist() == [True, True, False, False, False]
    frame = pd.DataFrame(points, columns=["x", "y"])
    assert len(pareto_front(frame, {"x": "min", "y": "min"})) == 2
    assert len(pareto_front(frame, {"x": "min", "y": "min"}, keep_duplicates=False)) == 1
    # a tie in one objective only: (1, 2) and (1, 3) with y maximised -> (1, 3) wins
    tie = np.array([[1.0, 2.0], [1.0, 3.0], [0.5, 1.0]])
    assert pareto_mask(tie, ["min", "max"]).tolist() == [False, True, True]


def test_pareto_single_point_and_all_maximised() -> None:
    assert pareto_mask(np.array([[3.0, 4.0]]), ["min", "max"]).tolist() == [True]
    points = np.array([[1.0, 1.0], [2.0, 2.0], [0.5, 3.0]])
    assert pareto_mask(points, ["max", "max"]).tolist() == [False, True, True]


def test_pareto_three_objectives() -> None:
    points = np.array([[1, 1, 1], [1, 1, 2], [0, 2, 2], [2, 0, 0]], dtype=float)
    assert pareto_mask(points, ["min", "min", "min"]).tolist() == [True, False, True, True]


def test_pareto_nan_rows_are_left_off_with_one_warning() -> None:
    frame = pd.DataFrame({"x": [1.0, np.nan, 2.0], "y": [1.0, 5.0, 0.5]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        marked = mark_pareto(frame, {"x": "min", "y": "min"})
    assert len([w for w in caught if issubclass(w.category, StatsWarning)]) == 1
    assert marked["pareto"].tolist() == [True, False, True]


def test_pareto_bad_input() -> None:
    with pytest.raises(LayerpowerError, match="no points"):
        pareto_front(pd.DataFrame({"x": [], "y": []}), {"x": "min", "y": "max"})
    with pytest.raises(LayerpowerError, match="not found: z"):
        pareto_front(pd.DataFrame({"x": [1.0], "y": [1.0]}), {"z": "min"})
    with pytest.raises(LayerpowerError, match="unknown direction"):
        pareto_mask(np.array([[1.0, 2.0]]), ["min", "up"])
    with pytest.raises(LayerpowerError, match="every point has a missing value"):
        pareto_front(pd.DataFrame({"x": [np.nan], "y": [1.0]}), {"x": "min", "y": "max"})
