"""The profiler's parts: settings, calibration and trial summaries, de-duplication, the writer."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from layerpower.config.schema import LAYER_COLUMNS, MODEL_COLUMNS, SCHEMA_VERSION
from layerpower.config.vocab import LAYER_KINDS
from layerpower.errors import LayerpowerError, SchemaError
from layerpower.models.spec import LayerSpec
from layerpower.profiling.isolated import (
    Trial,
    calibrate,
    coefficient_of_variation,
    iterations_for,
    measure_window,
    summarize,
)
from layerpower.profiling.meter import Meter
from layerpower.profiling.rows import dedup_groups as _dedup_groups
from layerpower.profiling.settings import ProfileSettings
from layerpower.profiling.writer import ModelFolder, check_output_root, config_key, model_folder_name

# -- settings --------------------------------------------------------------------------------------------


def test_window_depends_on_source_and_respects_update_period() -> None:
    settings = ProfileSettings()
    assert settings.window_for("nvml", 0.1) == 1.0
    assert settings.window_for("estimate", 0.01) == 0.05
    assert settings.window_for("estimate", 0.1) == pytest.approx(0.3)  # never under 3 update periods
    assert ProfileSettings(window_s=0.01).window_for("nvml", 0.1) == 0.01  # an explicit window wins


def test_counts_are_clamped_to_their_ranges() -> None:
    settings = ProfileSettings(context_budget_s=1.0, whole_budget_s=2.0)
    assert settings.forwards_for(10.0) == 3
    assert settings.forwards_for(0.0001) == 20
    assert settings.repeats_for(0.1) == 20
    assert ProfileSettings(whole_repeats=7).repeats_for(0.0001) == 7


@pytest.mark.parametrize(
    "bad",
    [{"trials": 0}, {"window_s": 0.0}, {"kinds": ("conv",)}, {"kinds": ()}, {"context_forwards": 0}],
)
def test_bad_settings_are_refused(bad: dict) -> None:
    with pytest.raises(LayerpowerError):
        ProfileSettings(**bad)


# -- one layer alone -----------------------------------------------------------------------------------


def test_calibration_fills_the_window() -> None:
    calls = []

    def run() -> None:
        calls.append(1)
        sum(range(2000))

    cal = calibrate(run, lambda: None, 0.02, warmup_calls=3, warmup_s=0.005)
    assert cal.warmup_calls == len(calls) >= 3
    assert cal.per_call_s > 0
    assert cal.iterations == iterations_for(0.02, cal.per_call_s) >= 1
    assert iterations_for(1.0, 0.3) == 4
    assert iterations_for(0.1, 5.0) == 1


def test_window_with_the_estimate_source_carries_its_source() -> None:
    with Meter("estimate", warn_short=False) as meter:
        trial = measure_window(lambda: sum(range(5000)), meter, lambda: None, 10, prewarm=1)
    assert trial.iterations == 10
    assert trial.runtime_s > 0
    assert trial.window_s >= trial.runtime_s * 10 * 0.5
    assert trial.energy_j == pytest.approx(trial.power_w * trial.window_s / 10, rel=1e-6)
    result = summarize([trial, trial], meter.source.name, meter.source.is_estimate)
    assert result.source == "estimate" and result.is_estimate
    assert result.runtime_cv == 0.0


def test_summary_takes_medians_and_cvs() -> None:
    trials = [Trial(r, r * 10, 10.0 + i, 1.0, 5, False) for i, r in enumerate([1.0, 2.0, 9.0])]
    result = summarize(trials, "nvml", False)
    assert result.runtime_s == 2.0
    assert result.energy_j == 20.0
    assert result.power_w == 11.0
    assert result.trials == 3 and result.iterations == 5
    assert result.runtime_cv == pytest.approx(coefficient_of_variation([1.0, 2.0, 9.0]))
    assert coefficient_of_variation([5.0]) == 0.0
    assert math.isnan(coefficient_of_variation([1.0, -1.0]))


def test_identical_layers_share_one_measurement() -> None:
    conv = LayerSpec("a", "Conv2d", "convolutional", (1, 8, 8, 8), (1, 8, 8, 8), kernel=(3, 3), params=584)
    same = LayerSpec("b", "Conv2d", "convolutional", (1, 8, 8, 8), (1, 8, 8, 8), kernel=(3, 3), params=584)
    other = LayerSpec("c", "Conv2d", "convolutional", (1, 8, 8, 8), (1, 8, 8, 8), kernel=(1, 1), params=72)
    assert _dedup_groups([conv, other, same], dedup=True) == {0: [0, 2], 1: [1]}
    assert _dedup_groups([conv, other, same], dedup=False) == {0: [0], 1: [1], 2: [2]}


# -- the writer ----------------------------------------------------------------------------------------


def _rows(kind: str, batch: int, dtype: str, n: int) -> list[dict]:
    return [
        {
            c: (
                batch if c == "batch_size" else dtype if c == "dtype" else f"l{i}" if c == "layer_name" else 1
            )
            for c in LAYER_COLUMNS[kind]
        }
        for i in range(n)
    ]


def _model_row(batch: int, dtype: str) -> dict:
    return {c: (batch if c == "batch_size" else dtype if c == "dtype" else 1) for c in MODEL_COLUMNS}


def test_writer_replaces_one_config_and_keeps_the_others(tmp_path) -> None:
    folder = ModelFolder.at(tmp_path, "cpu-test-2c", "pkg.nets:build")
    assert folder.path == tmp_path / "cpu-test-2c" / "pkg.nets_build"
    for batch, n in ((1, 2), (8, 3)):
        rows = {kind: _rows(kind, batch, "float32", n) for kind in LAYER_KINDS}
        folder.write_config(
            batch, "float32", rows, _model_row(batch, "float32"), {"model": "m"}, {"kinds": list(LAYER_KINDS)}
        )
    assert folder.is_complete(1, "float32") and folder.is_complete(8, "float32")
    assert not folder.is_complete(8, "bfloat16")
    rows = {kind: _rows(kind, 1, "float32", 4) for kind in LAYER_KINDS}
    folder.write_config(1, "float32", rows, _model_row(1, "float32"), {}, {"kinds": ["dense"]})
    conv = pd.read_csv(folder.path / "convolutional.csv")
    assert list(conv.columns) == LAYER_COLUMNS["convolutional"]
    assert conv.groupby("batch_size").size().to_dict() == {1: 4, 8: 3}
    assert len(pd.read_csv(folder.path / "model.csv")) == 2
    meta = json.loads((folder.path / "meta.json").read_text())
    assert meta["schema_version"] == SCHEMA_VERSION
    assert set(meta["configs"]) == {config_key(1, "float32"), config_key(8, "float32")}
    assert not folder.is_complete(1, "float32")  # now only "dense" is recorded for batch 1
    assert folder.is_complete(1, "float32", kinds=["dense"])
    assert not list(folder.path.glob(".*.tmp"))  # no temporary files left behind


def test_a_call_whose_input_batch_is_not_the_models_is_written_once(tmp_path) -> None:
    """A position table or window mask has input batch 1 at every model batch size: profiling batch 8
    after batch 1 replaces that row instead of writing a second one with the same key."""
    folder = ModelFolder.at(tmp_path, "cpu-test-2c", "m")
    for batch in (1, 8):
        rows = {kind: _rows(kind, batch, "float32", 2) for kind in LAYER_KINDS}
        rows["other"][1] = {
            **rows["other"][1],
            "batch_size": 1,
            "layer_name": "positions",
            "runtime_s": batch,
        }
        folder.write_config(
            batch, "float32", rows, _model_row(batch, "float32"), {}, {"kinds": list(LAYER_KINDS)}
        )
    other = pd.read_csv(folder.path / "other.csv")
    assert sorted(zip(other.layer_name, other.batch_size, strict=True)) == [
        ("l0", 1),
        ("l0", 8),
        ("positions", 1),
    ]
    assert other.loc[other.layer_name == "positions", "runtime_s"].tolist() == [8]
    assert folder.is_complete(1, "float32") and folder.is_complete(8, "float32")


def test_incomplete_folder_is_not_complete(tmp_path) -> None:
    folder = ModelFolder.at(tmp_path, "dev", "m")
    folder.path.mkdir(parents=True)
    (folder.path / "convolutional.csv").write_text(",".join(LAYER_COLUMNS["convolutional"]) + "\n")
    assert not folder.is_complete(1, "float32")
    (folder.path / "meta.json").write_text("{not json")
    assert folder.completed() == {}


def test_writer_refuses_a_file_with_another_header(tmp_path) -> None:
    folder = ModelFolder.at(tmp_path, "dev", "m")
    folder.path.mkdir(parents=True)
    (folder.path / "dense.csv").write_text("a,b\n1,2\n")
    rows = {kind: _rows(kind, 1, "float32", 1) for kind in LAYER_KINDS}
    with pytest.raises(SchemaError, match="dense.csv"):
        folder.write_config(1, "float32", rows, _model_row(1, "float32"), {}, {})


def test_output_folder_that_is_a_file_is_refused(tmp_path) -> None:
    target = tmp_path / "data"
    target.write_text("x")
    with pytest.raises(LayerpowerError, match="is a file"):
        check_output_root(target)
    with pytest.raises(LayerpowerError, match="under a file"):
        check_output_root(target / "sub")
    assert model_folder_name("a b/c:d") == "a_b_c_d"


def test_consistency_flags_a_disturbed_configuration() -> None:
    from layerpower.profiling.rows import consistency

    quiet = consistency({"runtime_s": 0.030, "sum_runtime_s": 0.029, "sum_runtime_isolated_s": 0.027}, 0.05)
    assert quiet["problems"] == []
    assert quiet["sum_runtime_over_whole"] == pytest.approx(0.029 / 0.030, abs=1e-4)
    busy = consistency({"runtime_s": 0.085, "sum_runtime_s": 0.10, "sum_runtime_isolated_s": 2.5}, 0.9)
    assert [p.split(" =")[0] for p in busy["problems"]] == [
        "sum_isolated_over_sum_runtime",
        "whole_runtime_cv",
    ]


def test_one_slow_process_of_three_is_not_a_disturbance_but_no_agreement_is() -> None:
    from layerpower.profiling.rows import consistency

    row = {"runtime_s": 0.031, "sum_runtime_s": 0.029, "sum_runtime_isolated_s": 0.027}
    one_slow = consistency(row, 0.9, [0.030, 0.031, 0.090])  # the median, 0.031 s, stands
    assert one_slow["problems"] == [] and one_slow["whole_runtime_cv"] == 0.9
    assert one_slow["whole_runtime_mad"] == pytest.approx(0.001 / 0.031, abs=1e-4)
    apart = consistency(row, 0.33, [0.020, 0.031, 0.045])  # no two processes agree
    assert [p.split(" =")[0] for p in apart["problems"]] == ["whole_runtime_mad"]
