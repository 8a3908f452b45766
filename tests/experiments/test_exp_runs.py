"""Whole runs, each in its own subprocess: one tiny run per backend, failures, timeouts, resume, the CLI.

Runs use a few dozen samples, one epoch, one thread and the CPU power estimate, so the file stays within
a couple of minutes on two cores (TensorFlow's import alone takes several seconds per process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from layerpower.cli.experiments import _seeds
from layerpower.cli.experiments import run_experiments as run_experiments_cli
from layerpower.experiments.backends import BACKENDS
from layerpower.experiments.config import parse_run_name
from layerpower.experiments.param_counts import expected_parameter_counts
from layerpower.experiments.run_one import GLOBAL_COLUMNS
from layerpower.experiments.run_one import main as run_one_main
from layerpower.experiments.rundir import RUN_FILES
from layerpower.experiments.runner import RESULT_COLUMNS, run_experiments
from layerpower.profiling.power.estimate import EstimateSource
from layerpower.profiling.sampler import CAP_TOLERANCE

#: one model per backend, so every backend and every task runs once
RUNS = [("torch", "lstm"), ("jax", "cnn"), ("tf-keras", "mlp"), ("jax-keras", "lstm"), ("torch-keras", "cnn")]
COMMON = {
    "complexities": ["simple"],
    "precisions": ["fp32"],
    "seeds": [7],
    "epochs": 1,
    "limit": 48,
    "batch_size": 16,
    "threads": 1,
    "power_source": "estimate",
    "progress": False,
}
SAMPLE_COLUMNS = {"timestamp", "cpu_power", "cpu_utilization", "memory_used", "source", "is_estimate"}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("results")
    frames = [run_experiments([backend], [model], out=out, **COMMON) for backend, model in RUNS]
    return out, pd.concat(frames, ignore_index=True)


def _error(run_dir: str) -> str:
    path = Path(run_dir) / "error.txt"
    return path.read_text() if path.exists() else ""


def test_every_backend_writes_the_run_files_and_columns(sweep: tuple[Path, pd.DataFrame]) -> None:
    out, frame = sweep
    assert list(frame.columns) == list(RESULT_COLUMNS)
    expected_params = expected_parameter_counts()
    for row in frame.itertuples():
        run_dir = Path(row.run_dir)
        assert row.status == "done", f"{row.backend} {row.model} failed:\n{_error(row.run_dir)}"
        assert sorted(os.listdir(run_dir)) == sorted(RUN_FILES)
        assert run_dir.parent == out / "7"
        assert parse_run_name(run_dir.name) | {"timestamp": None} == {
            "timestamp": None,
            "backend": row.backend,
            "model": row.model,
            "complexity": "simple",
            "precision": "fp32",
            "seed": 7,
        }

        metric = "mae" if row.model == "lstm" else "accuracy"
        train = pd.read_csv(run_dir / "train.csv")
        assert list(train.columns) == ["epoch", "loss", metric, "val_loss", f"val_{metric}", "epoch_time"]
        assert train["epoch"].tolist() == [1]
        assert train[["loss", "val_loss"]].notna().all().all() and (train["epoch_time"] > 0).all()
        test = pd.read_csv(run_dir / "test.csv")
        assert list(test.columns) == ["loss", metric] and len(test) == 1

        metrics = pd.read_csv(run_dir / "global_metrics.csv")
        assert list(metrics.columns) == list(GLOBAL_COLUMNS) and len(metrics) == 1
        g = metrics.iloc[0]
        assert g["energy_source"] == "estimate" and bool(g["energy_is_estimate"]) is True
        assert g["training_energy_j"] > 0 and g["testing_energy_j"] >= 0 and g["training_time"] > 0
        # no phase implies a power above the estimate's TDP, however short it was
        tdp = EstimateSource().tdp.tdp_w
        for phase in ("training", "testing"):
            assert g[f"{phase}_energy_method"] in ("integrated", "window")
            assert g[f"{phase}_energy_j"] / g[f"{phase}_time"] <= tdp * (1 + CAP_TOLERANCE)
            if g[f"{phase}_energy_method"] == "window":
                note = g[f"{phase}_energy_note"]
                assert "shorter than 3 sampling intervals" in note or "above the source's maximum" in note
        assert g["peak_memory_bytes"] > 10 * 2**20
        assert g["parameter_count"] == expected_params[f"{row.model}/simple"]

        for name in ("train_samples.csv", "test_samples.csv"):
            samples = pd.read_csv(run_dir / name)
            assert set(samples.columns) >= SAMPLE_COLUMNS and len(samples) >= 2
            assert set(samples["source"]) == {"estimate"} and samples["is_estimate"].all()

        config = json.loads((run_dir / "config.json").read_text())
        assert (config["backend"], config["model"], config["seed"]) == (row.backend, row.model, 7)
        assert config["dataset"] == ("sequence" if row.model == "lstm" else "digits")
    # nothing half-written left beside the runs
    assert not [p for p in (out / "7").iterdir() if p.name.startswith(".")]


def test_resume_skips_finished_runs(sweep: tuple[Path, pd.DataFrame]) -> None:
    out, first = sweep
    before = sorted((out / "7").iterdir())
    again = pd.concat([run_experiments([b], [m], out=out, resume=True, **COMMON) for b, m in RUNS])
    assert again["status"].tolist() == ["skipped"] * len(RUNS)
    assert again["run_dir"].tolist() == first["run_dir"].tolist()  # pointing at the finished folders
    assert sorted((out / "7").iterdir()) == before


def test_cli_resume_prints_a_summary(sweep: tuple[Path, pd.DataFrame]) -> None:
    out, _ = sweep
    args = [
        "--backends",
        "torch",
        "--models",
        "lstm",
        "--seeds",
        "7",
        "--epochs",
        "1",
        "--limit",
        "48",
        "--batch-size",
        "16",
        "--threads",
        "1",
        "--power-source",
        "estimate",
        "--out",
        str(out),
        "--resume",
        "--no-progress",
    ]
    result = CliRunner().invoke(run_experiments_cli, args)
    assert result.exit_code == 0, result.output
    assert "runs: 1  done: 0  failed: 0  skipped: 1" in result.output


def test_cli_refuses_unknown_names_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(run_experiments_cli, ["--precisions", "fp8", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown precision 'fp8'" in result.output and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


def test_seeds_accept_spaces_and_commas() -> None:
    assert _seeds(("42", "43", "44,45")) == [42, 43, 44, 45]


def _lstm_trains_under_autocast(dtype_name: str) -> bool:
    """Whether this CPU's torch runs an LSTM forward and backward under ``autocast(cpu, dtype)``.

    oneDNN's LSTM kernels depend on the processor (bf16 and fp16 need native support on some CPUs), so the
    test asks this machine instead of assuming one.
    """
    import torch

    lstm = torch.nn.LSTM(4, 8, batch_first=True)
    try:
        with torch.autocast(device_type="cpu", dtype=getattr(torch, dtype_name)):
            out, _ = lstm(torch.randn(2, 3, 4))
        out.float().sum().backward()
    except RuntimeError:
        return False
    return True


def test_failing_precision_leaves_config_and_error_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # torch's LSTM on the CPU runs under mixed_fp16 / mixed_bf16 only where oneDNN has the kernels: each run
    # must end as this machine's probe says, and a failure must not stop the sweep. The precisions are
    # asked for in the hyphenated spelling and written in the study's (mixed_fp16) everywhere.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    expected = {
        precision: "done" if _lstm_trains_under_autocast(dtype) else "failed"
        for precision, dtype in (("mixed_fp16", "float16"), ("mixed_bf16", "bfloat16"))
    }
    frame = run_experiments(
        ["torch"], ["lstm"], out=tmp_path, **{**COMMON, "precisions": ["mixed-fp16", "mixed-bf16"]}
    )
    status = dict(zip(frame["precision"], frame["status"], strict=True))
    assert status == expected, frame.to_string()
    for precision in expected:
        run_dir = Path(frame.loc[frame["precision"] == precision, "run_dir"].item())
        assert run_dir.name.endswith(f"_torch_lstm_simple_{precision}_7")
        assert parse_run_name(run_dir.name)["precision"] == precision
        assert json.loads((run_dir / "config.json").read_text())["precision"] == precision
    for precision in [p for p, s in expected.items() if s == "failed"]:
        failed = Path(frame.loc[frame["precision"] == precision, "run_dir"].item())
        assert sorted(os.listdir(failed)) == ["config.json", "error.txt"]
        error = (failed / "error.txt").read_text()
        assert "Traceback" in error and "RuntimeError" in error
        assert frame.loc[frame["precision"] == precision, "error"].item().startswith("RuntimeError")
    assert not [p for p in (tmp_path / "7").iterdir() if p.name.startswith(".")]


def test_a_run_that_fails_everywhere_leaves_config_and_error_only(tmp_path: Path) -> None:
    # an MNIST file that is not an IDX file fails the run on any machine; the sweep goes on
    data = tmp_path / "mnist"
    data.mkdir()
    (data / "train-images-idx3-ubyte").write_bytes(b"not an idx file")
    frame = run_experiments(["torch"], ["cnn", "mlp"], out=tmp_path / "out", data_dir=data, **COMMON)
    assert frame["status"].tolist() == ["failed", "failed"], frame.to_string()
    for run_dir in frame["run_dir"]:
        assert sorted(os.listdir(run_dir)) == ["config.json", "error.txt"]
        assert "Traceback" in (Path(run_dir) / "error.txt").read_text()


def test_invalid_config_fails_the_run_with_error_txt(tmp_path: Path) -> None:
    config = {"backend": "torch", "model": "mlp", "complexity": "simple", "precision": "fp8", "seed": 1}
    (tmp_path / "c.json").write_text(json.dumps(config))
    run_dir = tmp_path / "1" / "20240101T000000_torch_mlp_simple_fp8_1"
    assert run_one_main([str(tmp_path / "c.json"), str(run_dir)]) == 1
    assert sorted(os.listdir(run_dir)) == ["config.json", "error.txt"]
    assert "unknown precision 'fp8'" in (run_dir / "error.txt").read_text()


def test_timeout_kills_the_run_and_resume_retries_it(tmp_path: Path) -> None:
    kwargs = {**COMMON, "out": tmp_path, "timeout_s": 0.3}
    first = run_experiments(["tf-keras"], ["mlp"], **kwargs)
    assert first["status"].tolist() == ["failed"]
    assert "timeout of 0.3 s" in first["error"].item()
    assert sorted(os.listdir(first["run_dir"].item())) == ["config.json", "error.txt"]
    second = run_experiments(["tf-keras"], ["mlp"], resume=True, **kwargs)
    assert second["status"].tolist() == ["failed"]  # retried (not skipped), failed again
    runs = list((tmp_path / "7").iterdir())
    assert [p.name for p in runs] == [Path(second["run_dir"].item()).name]  # the old attempt was replaced


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_parameter_counts_match_the_spec(backend: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("KERAS_BACKEND", None)
    result = subprocess.run(
        [sys.executable, "-m", "layerpower.experiments.param_counts", backend],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts == expected_parameter_counts()
