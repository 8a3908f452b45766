"""Folders written by the backend x precision study's own tool: read by read_results and layerpower analyze.

The tree holds the three kinds the study leaves: its current layout (config in the folder name and in
global_metrics.csv, no config.json), its older 4-field names under <root>/<seed>/, and a partial run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from layerpower.stats import read_results

STUDY_RUN = "42/20250301-101500_torch_mlp_simple_mixed_fp16_42"
OLD_RUN = "43/20240501-090000_tf-keras_lstm_simple"
PARTIAL_RUN = "42/20250301-103000_jax_cnn_complex_bf16_42"


def gpu_samples(start: float, n: int, interval: float, gpus: tuple[int, ...], watts: float) -> str:
    """A study samples file: timestamp and per GPU utilisation (%), memory (MiB) and NVML power (W)."""
    columns = ["timestamp"] + [f"gpu_{g}_{k}" for g in gpus for k in ("utilization", "memory_used", "power")]
    lines = [",".join(columns)]
    for i in range(n):
        values = [f"{start + i * interval:.3f}"]
        for j in range(len(gpus)):
            values += [f"{50 + 5 * i}", f"{1000 + 10 * i + j}", f"{watts + 3 * i + 20 * j:.1f}"]
        lines.append(",".join(values))
    return "\n".join(lines) + "\n"


def write_study_tree(root: Path) -> Path:
    """Three runs in the study's layouts, as its tool writes them (real CSV text)."""
    files = {
        STUDY_RUN: {
            "global_metrics.csv": "backend,model_type,model_complexity,precision,epochs,batch_size,seed,gpu_ids,"
            'training_time,testing_time\ntorch,mlp,simple,mixed_fp16,2,64,42,"[2, 3]",1.2,0.05\n',
            "train.csv": "epoch,loss,accuracy,val_loss,val_accuracy,epoch_time\n"
            "1,1.9,0.41,1.7,0.48,0.61\n2,1.1,0.72,1.0,0.75,0.59\n",
            "test.csv": "loss,accuracy,epoch_time\n0.98,0.77,0.05\n",
            "train_samples.csv": gpu_samples(1740824100.0, 13, 0.1, (2, 3), 120.0),
            # the test phase: two samples 50 ms apart, shorter than three sampling intervals
            "test_samples.csv": gpu_samples(1740824101.3, 2, 0.05, (2, 3), 130.0),
        },
        OLD_RUN: {
            "global_metrics.csv": "epochs,batch_size,gpus,training_time,testing_time\n3,32,0,2.5,0.4\n",
            "train.csv": "epoch,loss,mae,val_loss,val_mae,epoch_time\n"
            "1,0.9,0.7,0.8,0.66,0.8\n2,0.5,0.5,0.45,0.49,0.85\n3,0.3,0.4,0.31,0.41,0.85\n",
            "test.csv": "loss,metric,time\n0.33,0.42,0.4\n",
            "train_samples.csv": gpu_samples(1714554000.0, 26, 0.1, (0,), 90.0),
            "test_samples.csv": gpu_samples(1714554002.6, 5, 0.1, (0,), 80.0),
        },
        PARTIAL_RUN: {
            "train.csv": "epoch,loss,accuracy,val_loss,val_accuracy,epoch_time\n1,2.1,0.3,2.0,0.33,3.1\n",
            "train_samples.csv": gpu_samples(1740825000.0, 31, 0.1, (0,), 200.0),
        },
    }
    for run, contents in files.items():
        (root / run).mkdir(parents=True)
        for name, text in contents.items():
            (root / run / name).write_text(text)
    return root


def trapezoid_j(file: Path) -> float:
    """Energy of a study samples file, all GPUs together, by the trapezoid rule (J)."""
    frame = pd.read_csv(file)
    power = frame[[c for c in frame.columns if c.endswith("_power")]].sum(axis=1).to_numpy()
    t = frame["timestamp"].to_numpy()
    return float(np.sum(0.5 * (power[1:] + power[:-1]) * np.diff(t)))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_study_tree(tmp_path / "study")


def test_read_results_reads_every_study_folder_kind(tree: Path) -> None:
    results = read_results(tree, workers=2)
    assert results.summary_line() == "3 run(s) read, 0 failed, 0 skipped"
    runs = results.runs.set_index("run_dir")
    assert set(runs.index) == {STUDY_RUN, OLD_RUN, PARTIAL_RUN}

    study = runs.loc[STUDY_RUN]
    assert (study["backend"], study["model"], study["complexity"]) == ("torch", "mlp", "simple")
    assert (study["precision"], study["seed"]) == ("mixed_fp16", 42)
    assert (study["epochs"], study["batch_size"], study["gpus"]) == (2, 64, "2,3")
    assert "model_type" not in runs.columns and "gpu_ids" not in runs.columns
    assert study["missing_files"] == ""
    assert study["timestamp"] == pd.Timestamp("2025-03-01 10:15:00")
    assert study["test_accuracy"] == pytest.approx(0.77) and study["test_time"] == pytest.approx(0.05)
    assert study["final_val_accuracy"] == pytest.approx(0.75) and study["epochs_run"] == 2
    # energy from the NVML samples, labelled so; the 50 ms test phase is not measurable from 2 samples
    expected = trapezoid_j(tree / STUDY_RUN / "train_samples.csv")
    assert study["training_energy_j"] == pytest.approx(expected)
    assert study["training_power_w"] == pytest.approx(expected / 1.2)
    assert study["energy_source"] == "nvml" and not study["energy_is_estimate"]
    assert study["training_energy_method"] == "integrated"
    assert np.isnan(study["testing_energy_j"]) and np.isnan(study["testing_power_w"])
    assert study["testing_energy_method"] == "none"
    assert "shorter than 3 sampling intervals" in study["testing_energy_note"]
    assert study["train_sampled_power_source"] == "nvml"
    assert study["train_gpu_utilization"] == pytest.approx(80.0)  # 50 .. 110 % in steps of 5

    old = runs.loc[OLD_RUN]
    assert (old["backend"], old["model"], old["precision"], old["seed"]) == ("tf-keras", "lstm", "fp32", 43)
    assert (old["epochs"], old["gpus"]) == (3, "0")
    assert old["test_mae"] == pytest.approx(0.42) and old["test_time"] == pytest.approx(0.4)
    assert old["final_val_mae"] == pytest.approx(0.41)
    assert old["testing_energy_j"] == pytest.approx(trapezoid_j(tree / OLD_RUN / "test_samples.csv"))

    partial = runs.loc[PARTIAL_RUN]
    assert partial["missing_files"] == "test.csv,test_samples.csv,global_metrics.csv"
    assert (partial["backend"], partial["precision"], partial["seed"]) == ("jax", "bf16", 42)
    assert partial["training_energy_j"] == pytest.approx(
        trapezoid_j(tree / PARTIAL_RUN / "train_samples.csv")
    )
    assert np.isnan(partial["training_power_w"])  # no training_time without global_metrics.csv

    samples = results.samples
    assert {"gpu_2_power", "gpu_3_power", "gpu_0_power"} <= set(samples.columns)
    assert set(samples["source"]) == {"nvml"}
    first = samples[samples["run_id"] == Path(STUDY_RUN).name].iloc[0]
    assert first["gpu_2_memory_used"] == 1000 * 2**20  # MiB in the file, bytes in the frame
    assert set(results.history["run_id"]) == {Path(r).name for r in (STUDY_RUN, OLD_RUN, PARTIAL_RUN)}


def test_layerpower_analyze_reads_the_study_tree(tree: Path, tmp_path: Path) -> None:
    from layerpower.cli import main

    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["analyze", str(tree), "--out", str(out), "--no-figures", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "3 run(s) read, 0 failed, 0 skipped" in result.output
    assert (out / "index.html").is_file()
    assert list((out / "tables").iterdir())
