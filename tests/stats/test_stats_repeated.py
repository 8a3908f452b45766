"""Repeated MLP benchmarks across precisions, with tiny settings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from layerpower.errors import LayerpowerError
from layerpower.experiments.repeated import METRICS
from layerpower.stats import run_repeated_benchmarks


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path]:
    out = tmp_path_factory.mktemp("repeated")
    summaries = run_repeated_benchmarks(
        layers=(16,),
        activations=("relu",),
        precisions=("float32", "bfloat16", "int8"),
        batch_size=32,
        n_samples=200,
        epochs=1,
        repeats=2,
        seed=7,
        output_dir=out,
        power_source="estimate",
    )
    return summaries, out


def test_one_summary_per_precision(benchmark) -> None:
    summaries, _ = benchmark
    assert [s["precision_mode"] for s in summaries] == ["float32", "bfloat16", "int8"]
    for s in summaries:
        assert s["status"] == "ok", s["error"]
        assert s["repeats"] == 2 and s["failed_repeats"] == 0
        for metric in METRICS:
            for suffix in ("mean", "std", "ci95", "ci95_low", "ci95_high"):
                assert f"{metric}_{suffix}" in s
            assert s[f"{metric}_ci95_low"] <= s[f"{metric}_mean"] <= s[f"{metric}_ci95_high"]
        assert s["train_time_mean"] > 0 and s["latency_mean"] > 0 and s["energy_mean"] > 0
        assert 0 <= s["accuracy_mean"] <= 1
        assert s["energy_source"] == "estimate" and s["energy_is_estimate"] is True
        assert "psutil" in s["memory_method"]
        assert s["ci_method"].startswith("Student's t")
    assert "quantize_dynamic" in summaries[2]["precision_note"]
    assert "autocast" in summaries[1]["precision_note"]


def test_files_and_columns(benchmark) -> None:
    summaries, out = benchmark
    raw = pd.read_csv(out / "raw_runs.csv")
    assert len(raw) == 6
    assert set(raw["seed"]) == {7, 8}
    assert {
        "precision_mode",
        "repeat",
        "seed",
        "status",
        "train_time",
        "latency",
        "memory",
        "accuracy",
        "energy",
        "energy_source",
        "energy_is_estimate",
        "memory_method",
        "precision_note",
    } <= set(raw.columns)
    # the summary's mean is the mean of the raw runs
    f32 = raw[raw["precision_mode"] == "float32"]
    assert summaries[0]["energy_mean"] == pytest.approx(f32["energy"].mean())
    assert summaries[0]["energy_std"] == pytest.approx(f32["energy"].std())
    csv = pd.read_csv(out / "summary_stats.csv")
    assert list(csv["precision_mode"]) == ["float32", "bfloat16", "int8"]
    assert {"train_time_ci95", "latency_ci95", "memory_ci95", "accuracy_ci95", "energy_ci95"} <= set(
        csv.columns
    )
    data = json.loads((out / "summary_stats.json").read_text())
    assert data[0]["precision_mode"] == "float32" and data[0]["repeats"] == 2
    for name in (
        "accuracy_vs_latency.png",
        "accuracy_vs_energy.png",
        "accuracy_vs_memory.png",
        "pareto_frontier.png",
    ):
        with Image.open(out / name) as image:
            assert round(image.info["dpi"][0]) == 140 and image.width > 300


def test_a_failing_precision_is_recorded_not_fatal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torch.ao.quantization

    def broken(*args, **kwargs):
        raise RuntimeError("no quantized engine")

    monkeypatch.setattr(torch.ao.quantization, "quantize_dynamic", broken)
    summaries = run_repeated_benchmarks(
        layers=(8,),
        activations=("tanh",),
        precisions=("float32", "int8"),
        n_samples=100,
        epochs=1,
        repeats=2,
        seed=1,
        output_dir=tmp_path,
        power_source="estimate",
        warmup=False,
    )
    ok, failed = summaries
    assert ok["status"] == "ok" and ok["repeats"] == 2
    assert failed["status"] == "failed" and failed["repeats"] == 0
    assert "no quantized engine" in failed["error"]
    assert math.isnan(failed["energy_mean"])
    raw = pd.read_csv(tmp_path / "raw_runs.csv")
    assert (raw[raw["precision_mode"] == "int8"]["status"] == "failed").all()
    assert (tmp_path / "pareto_frontier.png").is_file()


def test_bad_arguments() -> None:
    with pytest.raises(LayerpowerError, match="2 layer size"):
        run_repeated_benchmarks(layers=(8, 4), activations=("relu", "relu", "relu"))
    with pytest.raises(LayerpowerError, match="unknown activation"):
        run_repeated_benchmarks(layers=(8,), activations=("swish2",))
    with pytest.raises(LayerpowerError, match="unknown precision"):
        run_repeated_benchmarks(precisions=("float8",))
    with pytest.raises(LayerpowerError, match="repeats must be a positive"):
        run_repeated_benchmarks(repeats=0)


def test_benchmark_repeated_command_rejects_bad_layers(tmp_path: Path) -> None:
    from layerpower.cli import main

    result = CliRunner().invoke(main, ["benchmark-repeated", "--layers", "64,x", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "comma-separated integers" in result.output
    result = CliRunner().invoke(
        main, ["benchmark-repeated", "--precisions", "float8", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "unknown precision" in result.output


def test_benchmark_repeated_command(tmp_path: Path) -> None:
    from layerpower.cli import main

    result = CliRunner().invoke(
        main,
        [
            "benchmark-repeated",
            "--repeats",
            "2",
            "--seed",
            "3",
            "--layers",
            "8",
            "--activations",
            "relu",
            "--precisions",
            "float32",
            "--epochs",
            "1",
            "--samples",
            "100",
            "--power-source",
            "estimate",
            "--out",
            str(tmp_path),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "energy J/epoch (estimate)" in result.output
    assert "float32" in result.output and "Student's t" in result.output
    assert (tmp_path / "summary_stats.csv").is_file()
