"""The aggregate panel (median, IQM, mean, optimality gap; stratified bootstrap), names and directions,
and the headline's best configuration, on tiny hand-computed arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerpower.config.vocab import PRECISIONS
from layerpower.errors import LayerpowerError
from layerpower.stats import aggregate_panel
from layerpower.stats.aggregate import (
    aggregate_iqm,
    aggregate_mean,
    aggregate_median,
    aggregate_optimality_gap,
    stratified_bootstrap,
)
from layerpower.stats.headline import headline_table
from layerpower.stats.names import (
    configuration_label,
    default_direction,
    resolve_directions,
    sort_configurations,
)
from layerpower.stats.panel_plots import ema
from layerpower.stats.summary import summarize_frame

#: three tasks, three runs each; per-task means 0.5, 0.4, 0.1
SCORES = [np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.4, 0.6]), np.array([0.0, 0.0, 0.3])]


def test_aggregates_by_hand() -> None:
    assert aggregate_median(SCORES) == pytest.approx(0.4)
    assert aggregate_mean(SCORES) == pytest.approx(1 / 3)
    # pooled sorted: 0 0 | 0.1 0.2 0.3 0.4 0.5 | 0.6 0.9 -> two cut off each end of nine
    assert aggregate_iqm(SCORES) == pytest.approx(0.3)
    assert aggregate_optimality_gap(SCORES) == pytest.approx(2 / 3)  # gamma 1: 1 - mean
    # gamma 0.5: shortfalls (0.4, 0, 0), (0.3, 0.1, 0), (0.5, 0.5, 0.2) -> 2/15, 2/15, 4/10
    assert aggregate_optimality_gap(SCORES, 0.5) == pytest.approx((2 / 15 + 2 / 15 + 0.4) / 3)
    # minimised: excess over 0.5 is (0, 0, 0.4), (0, 0, 0.1), (0, 0, 0)
    assert aggregate_optimality_gap(SCORES, 0.5, "min") == pytest.approx((0.4 / 3 + 0.1 / 3) / 3)


def test_matches_rliable_on_a_matrix() -> None:
    """With equal runs per task, the same formulas as rliable's on a (runs x tasks) matrix."""
    rng = np.random.default_rng(3)
    matrix = rng.uniform(size=(5, 4))
    tasks = [matrix[:, j] for j in range(4)]
    assert aggregate_mean(tasks) == pytest.approx(np.mean(np.mean(matrix, axis=0)))
    assert aggregate_median(tasks) == pytest.approx(np.median(np.mean(matrix, axis=0)))
    ordered = np.sort(matrix.ravel())[5:15]  # trim_mean(0.25) of 20 values drops five each end
    assert aggregate_iqm(tasks) == pytest.approx(ordered.mean())
    assert aggregate_optimality_gap(tasks, 0.7) == pytest.approx(0.7 - np.mean(np.minimum(matrix, 0.7)))


def test_stratified_bootstrap_resamples_within_tasks() -> None:
    def mean(tasks: list[np.ndarray]) -> np.ndarray:
        return np.column_stack([t.mean(axis=1) for t in tasks]).mean(axis=1)

    low, high = stratified_bootstrap(SCORES, mean, reps=2000, seed=1)
    assert low < aggregate_mean(SCORES) < high
    assert (low, high) == stratified_bootstrap(SCORES, mean, reps=2000, seed=1)  # same seed, same interval
    assert (low, high) != stratified_bootstrap(SCORES, mean, reps=2000, seed=2)
    # every resample keeps one draw per run of each task: the bounds lie within the task-mean extremes
    assert low >= np.mean([t.min() for t in SCORES]) and high <= np.mean([t.max() for t in SCORES])
    constant = [np.array([1.0, 1.0]), np.array([2.0])]
    assert stratified_bootstrap(constant, mean, reps=50, seed=0) == (1.5, 1.5)
    with pytest.raises(LayerpowerError):
        stratified_bootstrap(SCORES, mean, confidence=1.5)


def _runs() -> pd.DataFrame:
    """Two backends x two precisions on two tasks, three seeds; torch/bf16 is the most accurate."""
    rows = []
    accuracy = {
        ("torch", "fp32"): 0.80,
        ("torch", "bf16"): 0.90,
        ("jax", "fp32"): 0.70,
        ("jax", "bf16"): 0.60,
    }
    for (backend, precision), base in accuracy.items():
        for model, shift in (("mlp", 0.0), ("cnn", -0.05)):
            for seed in (1, 2, 3):
                rows.append(
                    {
                        "backend": backend,
                        "model": model,
                        "precision": precision,
                        "seed": seed,
                        "test_accuracy": base + shift + 0.01 * seed,
                        "training_energy_j": 10 * base + seed,
                    }
                )
    return pd.DataFrame(rows)


def test_aggregate_panel() -> None:
    runs = _runs()
    panel = aggregate_panel(runs, "test_accuracy", task_columns=["model"], reps=500, seed=7)
    assert list(panel.columns[:3]) == ["backend", "precision", "aggregate"]
    assert len(panel) == 4 * 4 and set(panel["runs"]) == {6} and set(panel["tasks"]) == {2}
    # groups in the package's order: backends as in vocab (torch before jax), precisions as in PRECISIONS
    order = list(dict.fromkeys(zip(panel["backend"], panel["precision"], strict=True)))
    assert order[0][0] == "torch" and PRECISIONS.index(order[0][1]) < PRECISIONS.index(order[1][1])
    best = panel[(panel["backend"] == "torch") & (panel["precision"] == "bf16")].set_index("aggregate")
    assert best.loc["mean", "estimate"] == pytest.approx(np.mean([0.92, 0.87]))
    assert best.loc["optimality gap", "estimate"] == pytest.approx(1 - np.mean([0.92, 0.87]))
    assert (panel["low"] <= panel["estimate"] + 1e-12).all() and (
        panel["estimate"] <= panel["high"] + 1e-12
    ).all()
    again = aggregate_panel(runs, "test_accuracy", task_columns=["model"], reps=500, seed=7)
    pd.testing.assert_frame_equal(panel, again)
    energy = aggregate_panel(runs, "training_energy_j", by="precision", task_columns=["model"], reps=200)
    assert set(energy["direction"]) == {"min"}
    # minimised: the gap is the excess over the best group's mean, zero-ish for the best group
    gaps = energy[energy["aggregate"] == "optimality gap"].set_index("precision")["estimate"]
    assert gaps.min() < gaps.max()
    with pytest.raises(LayerpowerError):
        aggregate_panel(runs, "nope")


def test_directions_and_names() -> None:
    assert default_direction("test_accuracy") == "max" and default_direction("final_val_accuracy") == "max"
    for metric in ("training_time", "training_energy_j", "training_power_w", "peak_memory_mb", "test_mae"):
        assert default_direction(metric) == "min", metric
    assert default_direction("test_loss") == "min"
    resolved = resolve_directions(["test_accuracy", "training_time"], {"training_time": "max"})
    assert resolved == {"test_accuracy": "max", "training_time": "max"}
    with pytest.raises(LayerpowerError):
        resolve_directions(["x"], {"x": "up"})
    row = {"backend": "torch", "precision": "bf16", "batch_size": np.int64(32)}
    label = configuration_label(row, ["backend", "precision", "batch_size"], {"batch_size": "batch"})
    assert label == "torch / bf16 / batch=32"
    frame = pd.DataFrame({"precision": list(reversed(PRECISIONS)) + ["int4"]})
    assert list(sort_configurations(frame, ["precision"])["precision"]) == [*PRECISIONS, "int4"]


def test_direction_flips_the_best_configuration() -> None:
    runs = _runs()
    keys = ["backend", "model", "precision"]
    summary = summarize_frame(runs, ["test_accuracy", "training_energy_j"], by=keys, layout="wide")
    table = headline_table(
        runs,
        summary,
        ["test_accuracy", "training_energy_j"],
        keys,
        {"test_accuracy": "max", "training_energy_j": "min"},
        task_keys=["model"],
        reps=500,
    )
    mlp = table[table["model"] == "mlp"].set_index("metric")
    assert mlp.loc["test_accuracy", "best"] == "torch / bf16"
    assert mlp.loc["test_accuracy", "runner_up"] == "torch / fp32"
    assert mlp.loc["training_energy_j", "best"] == "jax / bf16"
    # every seed of the best beats every seed of the runner-up
    assert mlp.loc["test_accuracy", "p_improvement"] == pytest.approx(1.0)
    flipped = (
        headline_table(
            runs,
            summary,
            ["test_accuracy", "training_energy_j"],
            keys,
            {"test_accuracy": "min", "training_energy_j": "max"},
            task_keys=["model"],
            reps=500,
        )
        .query("model == 'mlp'")
        .set_index("metric")
    )
    assert flipped.loc["test_accuracy", "best"] == "jax / bf16"
    assert flipped.loc["training_energy_j", "best"] == "torch / bf16"


def test_ema() -> None:
    assert ema([1.0, 2.0, 3.0], 0.0).tolist() == [1.0, 2.0, 3.0]
    # s1 = 1; s2 = 0.5 * 1 + 0.5 * 3 = 2; NaN skipped; s4 = 0.5 * 2 + 0.5 * 4 = 3
    smoothed = ema([1.0, 3.0, np.nan, 4.0], 0.5)
    assert smoothed[[0, 1, 3]].tolist() == [1.0, 2.0, 3.0] and np.isnan(smoothed[2])
    with pytest.raises(LayerpowerError):
        ema([1.0], 1.0)
