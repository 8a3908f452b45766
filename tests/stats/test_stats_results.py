"""The results reader on a crafted tree: good runs, a failed run, an unreadable file, an unknown folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from layerpower.errors import LayerpowerError
from layerpower.stats import parse_run_name, read_results

GLOBAL = (
    "training_time,testing_time,training_energy_j,testing_energy_j,energy_source,energy_is_estimate,"
    "peak_memory_bytes,parameter_count,device\n"
)


def write_run(
    root: Path,
    name: str,
    *,
    seed: int,
    energy: float = 10.0,
    accuracy: float = 0.9,
    config: dict | None = None,
) -> Path:
    run = root / str(seed) / name
    run.mkdir(parents=True)
    (run / "global_metrics.csv").write_text(GLOBAL + f"2.0,0.5,{energy},1.0,estimate,True,1000000,4810,cpu\n")
    (run / "train.csv").write_text(
        "epoch,loss,accuracy,val_loss,val_accuracy,epoch_time\n1,2.0,0.5,2.1,0.4,1.1\n2,1.0,0.8,1.2,0.7,0.9\n"
    )
    (run / "test.csv").write_text(f"loss,accuracy\n1.1,{accuracy}\n")
    (run / "train_samples.csv").write_text(
        "timestamp,cpu_power,cpu_utilization,memory_used,source,is_estimate,gpu_power_source,cpu_power_source\n"
        "100.0,5.0,50.0,1000,estimate,True,,estimate\n100.1,7.0,70.0,3000,estimate,True,,estimate\n"
    )
    if config is not None:
        (run / "config.json").write_text(json.dumps(config))
    return run


def crafted_tree(root: Path) -> Path:
    write_run(
        root,
        "20250101T120000_torch_mlp_simple_fp32_1",
        seed=1,
        energy=10.0,
        config={
            "backend": "torch",
            "model": "mlp",
            "complexity": "simple",
            "precision": "fp32",
            "seed": 1,
            "epochs": 2,
            "batch_size": 32,
            "run_name": "x",
            "versions": {"torch": "2"},
        },
    )
    write_run(root, "20250101T120100_tf-keras_mlp_simple_mixed-bf16_1", seed=1, energy=20.0)
    # the older spelling with an underscore in the precision
    write_run(root, "20250101T120200_jax_cnn_complex_mixed_fp16_2", seed=2, energy=30.0)
    # config.json wins over the folder name
    write_run(
        root,
        "20250101T120300_torch_mlp_simple_fp32_2",
        seed=2,
        energy=40.0,
        config={"backend": "torch", "model": "mlp", "complexity": "simple", "precision": "bf16", "seed": 2},
    )
    # a failed run: config.json + error.txt
    failed = root / "2" / "20250101T120400_jax_lstm_simple_fp16_2"
    failed.mkdir(parents=True)
    (failed / "config.json").write_text(
        json.dumps(
            {"backend": "jax", "model": "lstm", "complexity": "simple", "precision": "fp16", "seed": 2}
        )
    )
    (failed / "error.txt").write_text(
        "Traceback (most recent call last):\n  File x\nRuntimeError: no fp16 LSTM\n\n"
    )
    # an unreadable file
    broken = write_run(root, "20250101T120500_torch_cnn_simple_fp32_1", seed=1)
    (broken / "test.csv").write_bytes(b'loss,accuracy\n"1.0,0.5\n2,3,4,5\n')
    (broken / "global_metrics.csv").write_bytes(b'\x00\x01garbage\n"unterminated\n1,2,3\n4,5,6,7,8\n')
    # an unknown folder name with run files and no config.json
    write_run(root, "my-run", seed=1)
    # a hidden partial folder of a run in progress is not a run
    (root / "1" / ".20250101T120600_torch_mlp_simple_fp32_1.partial").mkdir()
    return root


def test_parse_run_name() -> None:
    # this package's older names: T in the timestamp, hyphenated precisions
    fields = parse_run_name("20250101T120000_tf-keras_mlp_simple_mixed-bf16_42")
    assert fields["backend"] == "tf-keras" and fields["precision"] == "mixed_bf16" and fields["seed"] == 42
    assert fields["timestamp"] == pd.Timestamp("2025-01-01 12:00:00")
    assert parse_run_name("20250101T120000_jax_cnn_complex_mixed_fp16_7")["precision"] == "mixed_fp16"
    # the study's layout, as its own code splits it
    name = "20250102-130405_jax-keras_cnn_complex_mixed_bf16_43"
    timestamp, backend, model, complexity, right = name.split("_", 4)
    precision, seed = right.rsplit("_", 1)
    fields = parse_run_name(name)
    assert (fields["backend"], fields["model"], fields["complexity"]) == (backend, model, complexity)
    assert (fields["precision"], fields["seed"]) == (precision, int(seed))
    assert fields["timestamp"] == pd.Timestamp("2025-01-02 13:04:05")
    # the study's older 4-field names: fp32, the seed comes from the parent folder
    fields = parse_run_name("20240501-090000_torch_lstm_simple")
    assert fields["precision"] == "fp32" and fields["seed"] is None and fields["model"] == "lstm"
    assert parse_run_name("my-run") is None
    assert parse_run_name("2025-01-01_torch_mlp_simple_fp32_1") is None


def test_run_names_written_by_the_experiment_config_parse() -> None:
    config = pytest.importorskip("layerpower.experiments.config")
    run = config.RunConfig(
        backend="tf-keras", model="cnn", complexity="complex", precision="mixed_fp16", seed=3
    )
    fields = parse_run_name(run.run_name())
    assert {k: fields[k] for k in ("backend", "model", "complexity", "precision", "seed")} == {
        "backend": "tf-keras",
        "model": "cnn",
        "complexity": "complex",
        "precision": "mixed_fp16",
        "seed": 3,
    }
    timestamp, *_ = run.run_name().split("_", 4)
    assert re.fullmatch(r"\d{8}-\d{6}", timestamp)


def test_read_results_on_a_crafted_tree(tmp_path: Path) -> None:
    results = read_results(crafted_tree(tmp_path / "results"), workers=4)
    runs = results.runs
    assert len(runs) == 4
    assert sorted(runs["backend"]) == ["jax", "tf-keras", "torch", "torch"]
    assert set(runs["precision"]) == {"fp32", "mixed_bf16", "mixed_fp16", "bf16"}
    assert set(runs["missing_files"]) == {"test_samples.csv"}  # write_run writes no test samples
    # config.json preferred over the folder name
    overridden = runs[runs["run_id"] == "20250101T120300_torch_mlp_simple_fp32_2"].iloc[0]
    assert overridden["precision"] == "bf16"
    first = runs[runs["run_id"] == "20250101T120000_torch_mlp_simple_fp32_1"].iloc[0]
    assert first["epochs"] == 2 and first["batch_size"] == 32
    assert "run_name" not in runs.columns and "versions" not in runs.columns
    # metrics from every file
    assert first["training_energy_j"] == 10.0 and first["energy_source"] == "estimate"
    assert runs["energy_is_estimate"].dtype == bool and runs["energy_is_estimate"].all()
    assert first["test_accuracy"] == pytest.approx(0.9)
    assert first["final_val_accuracy"] == pytest.approx(0.7)
    assert first["epochs_run"] == 2 and first["mean_epoch_time"] == pytest.approx(1.0)
    assert first["training_power_w"] == pytest.approx(5.0)
    assert first["train_sampled_power_w"] == pytest.approx(6.0)
    assert first["train_peak_memory_used"] == 3000
    assert runs["seed"].dtype.kind == "i"
    assert runs["timestamp"].is_monotonic_increasing

    failed = results.failed
    assert len(failed) == 1
    assert failed.iloc[0]["reason"] == "RuntimeError: no fp16 LSTM"
    assert failed.iloc[0]["backend"] == "jax" and "Traceback" in failed.iloc[0]["error"]

    skipped = dict(zip(results.skipped["path"], results.skipped["reason"], strict=True))
    assert set(skipped) == {"1/20250101T120500_torch_cnn_simple_fp32_1", "1/my-run"}
    assert "global_metrics.csv" in skipped["1/20250101T120500_torch_cnn_simple_fp32_1"]
    assert "unrecognised folder name" in skipped["1/my-run"]

    assert set(results.history["run_id"]) == set(runs["run_id"])
    assert len(results.history) == 8
    assert set(results.samples["phase"]) == {"train"}
    assert results.samples["elapsed_s"].max() == pytest.approx(0.1)
    assert "training_energy_j" in results.metric_columns
    assert "energy_source" not in results.metric_columns
    assert results.summary_line() == "4 run(s) read, 1 failed, 2 skipped"
    runs_again, failed_again = results  # unpacks like a tuple
    assert len(runs_again) == 4 and len(failed_again) == 1


def test_unknown_folder_name_with_a_complete_config_is_read(tmp_path: Path) -> None:
    write_run(
        tmp_path,
        "renamed-by-hand",
        seed=5,
        config={
            "backend": "torch",
            "model": "mlp",
            "complexity": "simple",
            "precision": "fp32",
            "seed": 5,
            "started_at": "2025-02-03T04:05:06",
        },
    )
    results = read_results(tmp_path)
    assert len(results.runs) == 1
    assert results.runs.iloc[0]["timestamp"] == pd.Timestamp("2025-02-03 04:05:06")


def test_a_single_run_folder_and_empty_or_missing_roots(tmp_path: Path) -> None:
    run = write_run(tmp_path, "20250101T120000_torch_mlp_simple_fp32_1", seed=1)
    assert len(read_results(run).runs) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    results = read_results(empty)
    assert results.runs.empty and results.failed.empty and results.skipped.empty
    with pytest.raises(LayerpowerError, match="does not exist"):
        read_results(tmp_path / "missing")


def test_samples_can_be_skipped(tmp_path: Path) -> None:
    results = read_results(crafted_tree(tmp_path), samples=False)
    assert results.samples.empty and len(results.runs) == 4


def test_an_older_run_with_a_too_short_phase_gets_no_power(tmp_path: Path) -> None:
    # written before phases were checked: a 5 ms test phase integrated from 0.1 s samples (12.56 W on a
    # 7 W estimate); its energy and power are NaN with the reason, the long training phase is kept
    run = write_run(
        tmp_path,
        "20250101T120000_torch_mlp_simple_fp32_1",
        seed=1,
        config={"backend": "torch", "model": "mlp", "complexity": "simple", "precision": "fp32", "seed": 1}
        | {"sample_interval_s": 0.1},
    )
    (run / "global_metrics.csv").write_text(GLOBAL + "2.0,0.005,10.0,0.0628,estimate,True,1000000,4810,cpu\n")
    row = read_results(tmp_path).runs.iloc[0]
    assert np.isnan(row["testing_energy_j"]) and np.isnan(row["testing_power_w"])
    assert row["testing_energy_method"] == "none"
    assert "phase of 5.0 ms is shorter than 3 sampling intervals" in row["testing_energy_note"]
    assert row["training_power_w"] == pytest.approx(10.0 / 2.0)
