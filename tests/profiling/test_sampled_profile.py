"""Sampled layers measured and written: files readable beside a zoo model, resume, deadline, the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from test_cli_profile import QUICK

from layerpower.cli.profile import profile_model
from layerpower.cli.profile_layers import profile_layers as profile_layers_cli
from layerpower.config.schema import LAYER_COLUMNS
from layerpower.config.vocab import LAYER_KINDS
from layerpower.dataset import build_dataset
from layerpower.hardware import device_id
from layerpower.profiling.sampled import load_space, measure_specs, profile_layers, sample_specs
from layerpower.profiling.settings import ProfileSettings

#: short windows, one trial, a short idle window
FAST = ProfileSettings(window_s=0.005, trials=1, idle_s=0.02)


@pytest.fixture(scope="module")
def small_space():
    """The packaged space with limits that keep every layer tiny (microseconds per call)."""
    return load_space().with_limits(max_flops=2e6, max_tensor_bytes=4e6)


def _run(out: Path, space, **kwargs):
    options = {"power_source": "estimate", "settings": FAST, "chunk_size": 2, "space": space, **kwargs}
    return profile_layers(6, out=out, **options)


def test_sampled_files_build_a_dataset_beside_a_zoo_model(tmp_path: Path, small_space) -> None:
    out = tmp_path / "training_data"
    assert CliRunner().invoke(profile_model, ["lenet", "--out", str(out), *QUICK]).exit_code == 0
    report = _run(out, small_space, kinds=["convolutional", "dense", "other"])
    folder = out / device_id("cpu") / "_sampled"
    assert report.folder == folder and report.chunks_done == 3 and report.chunks_skipped == 0
    assert sum(report.rows.values()) == 6 and report.is_estimate and report.power_source == "estimate"
    frames = {k: pd.read_csv(folder / f"{k}.csv", keep_default_na=False, na_values=[""]) for k in LAYER_KINDS}
    for kind, frame in frames.items():
        assert list(frame.columns) == LAYER_COLUMNS[kind]
    rows = pd.concat([f for f in frames.values() if len(f)])
    assert len(rows) == 6 and set(rows["model"]) == {"_sampled"}
    assert rows["runtime_s"].isna().all() and (rows["runtime_isolated_s"] > 0).all()
    assert set(rows["power_source"]) == {"estimate"} and rows["is_estimate"].all()
    assert rows["layer_name"].str.match(r"^sampled\.[a-z0-9_]+_\d$").all()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["sampled"] is True and meta["model"] == "_sampled" and "runtime_s" in meta
    entry = meta["sets"]["float32"]
    assert entry["seed"] == 0 and entry["n"] == 6 and entry["space_sha256"] == small_space.sha256
    assert entry["rejected"] == report.rejected and sorted(entry["chunks"]) == ["0", "1", "2"]
    assert meta["power_source"] == "estimate" and meta["device_id"] == device_id("cpu")

    result = build_dataset(out, out=tmp_path / "datasets", progress=False)
    layers = pd.concat([pd.read_parquet(tmp_path / "datasets" / f"{k}.parquet") for k in LAYER_KINDS])
    assert set(layers["model"]) == {"lenet", "_sampled"}
    assert (layers["model"] == "_sampled").sum() == 6
    assert not result.unchanged


def test_resume_after_an_interruption_measures_only_missing_chunks(tmp_path: Path, small_space) -> None:
    out = tmp_path / "data"

    def stop_in_second_chunk(done: int, total: int) -> None:
        if done > 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(out, small_space, progress=stop_in_second_chunk)
    folder = out / device_id("cpu") / "_sampled"
    meta = json.loads((folder / "meta.json").read_text())
    assert sorted(meta["sets"]["float32"]["chunks"]) == ["0"]
    first = pd.concat([pd.read_csv(folder / f"{k}.csv") for k in LAYER_KINDS])
    assert len(first) == 2

    seen: list[int] = []
    report = _run(out, small_space, resume=True, progress=lambda done, total: seen.append(done))
    assert (report.chunks_skipped, report.chunks_done) == (1, 2) and sum(report.rows.values()) == 4
    assert seen[0] > 2  # the first chunk was counted as done, not measured again
    rows = pd.concat([pd.read_csv(folder / f"{k}.csv") for k in LAYER_KINDS])
    assert len(rows) == 6 and rows["layer_name"].is_unique
    kept = rows.set_index("layer_name").loc[first["layer_name"], "runtime_isolated_s"]
    assert list(kept) == list(first["runtime_isolated_s"])  # chunk 0 untouched
    again = _run(out, small_space, resume=True)
    assert (again.chunks_skipped, again.chunks_done) == (3, 0)
    with pytest.raises(Exception, match="holds another sampled float32 set"):
        _run(out, small_space, resume=True, seed=5)


def test_measure_specs_probe_run_and_deadline(small_space) -> None:
    specs = sample_specs(5, seed=2, space=small_space)
    calls: list[tuple[int, int]] = []
    frame = measure_specs(
        specs, power_source="estimate", settings=FAST, progress=lambda d, t: calls.append((d, t))
    )
    assert list(frame["layer_name"]) == [s.name for s in specs]
    assert list(frame["kind"]) == [s.kind for s in specs]
    assert (frame["runtime_isolated_s"] > 0).all() and frame["runtime_s"].isna().all()
    assert frame["idle_power_w"].nunique() == 1  # idle power measured once
    assert calls[-1] == (5, 5)
    late = measure_specs(specs, power_source="estimate", settings=FAST, deadline=time.monotonic())
    assert late.empty and "kind" in late.columns


def _cli(*args: str):
    return CliRunner().invoke(profile_layers_cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--n", "0"], "--n"),
        (["--kinds", "conv"], "unknown layer kind(s) 'conv'"),
        (["--batch-sizes", "1,0"], "must be a positive integer"),
        (["--dtype", "int8"], "unknown dtype 'int8'"),
        (["--space", "absent.json"], "cannot read the layer space file"),
    ],
)
def test_cli_errors_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    if "--space" in args:
        args = ["--space", str(tmp_path / args[1])]
    result = _cli(*args, "--out", str(tmp_path), "--power-source", "estimate", "--no-progress")
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output


def test_cli_refuses_a_foreign_space_file(tmp_path: Path) -> None:
    foreign = tmp_path / "space.json"
    foreign.write_text(json.dumps({"layers": [1, 2]}))
    result = _cli("--space", str(foreign), "--out", str(tmp_path), "--no-progress")
    assert result.exit_code == 2 and "not a layer space file" in result.output


def test_cli_profiles_and_resumes(tmp_path: Path) -> None:
    args = [
        "--n",
        "2",
        "--kinds",
        "other",
        "--batch-sizes",
        "1",
        "--window",
        "0.005",
        "--trials",
        "1",
        "--idle",
        "0.02",
        "--power-source",
        "estimate",
        "--out",
        str(tmp_path),
        "--no-progress",
    ]
    result = _cli(*args)
    assert result.exit_code == 0, result.output
    assert "1 chunk(s) measured" in result.output and "estimate (a model, not a sensor)" in result.output
    result = _cli(*args, "--resume")
    assert result.exit_code == 0 and "0 chunk(s) measured, 1 already done" in result.output
