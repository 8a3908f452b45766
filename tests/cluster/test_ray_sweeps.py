"""Sweeps through a real local Ray instance give the files of the local path; faults and resume.

One local Ray instance (2 CPUs, no dashboard) serves the module. On CPU every task holds both CPUs, so
tasks run one at a time, as two measurements must never share a machine.
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

ray = pytest.importorskip("ray")

from layerpower.cli.profile import profile_model  # noqa: E402
from layerpower.cluster import connect, run_sweep_ray, run_tasks  # noqa: E402
from layerpower.cluster import experiments as cluster_experiments  # noqa: E402
from layerpower.config.vocab import LAYER_KINDS  # noqa: E402
from layerpower.experiments.config import SweepSpec  # noqa: E402
from layerpower.experiments.rundir import run_status  # noqa: E402
from layerpower.experiments.runner import RESULT_COLUMNS, run_experiments  # noqa: E402
from layerpower.hardware import device_id  # noqa: E402
from layerpower.stats.results import read_results  # noqa: E402

#: tiny runs (see tests/experiments/test_exp_runs.py)
SETTINGS = {
    "epochs": 1,
    "limit": 48,
    "batch_size": 16,
    "threads": 1,
    "power_source": "estimate",
}
SEEDS = [1, 2, 3]
QUICK = [
    "--power-source",
    "estimate",
    "--window",
    "0.005",
    "--trials",
    "1",
    "--forwards",
    "1",
    "--processes",
    "0",
    "--repeats",
    "2",
    "--idle",
    "0.02",
    "--no-progress",
]
#: the module ``lp_ray_helpers`` the ``cluster`` fixture (conftest.py) writes for the workers
RAY_HELPERS = textwrap.dedent(
    """
    import torch
    from torch import nn

    from layerpower.cluster.experiments import _experiment_task


    def factory():
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5))


    factory.input_shape = (3, 8, 8)


    def flaky(job):
        if job["config"]["seed"] == 3:
            raise RuntimeError("this node lost its disk")
        return _experiment_task(job)


    def half_fails(item):
        if item % 2:
            raise ValueError(f"item {item} is odd")
        return item * 10


    def niceness(item):
        import os

        return os.nice(0)
    """
)


def _spec(seeds: list[int]) -> SweepSpec:
    return SweepSpec.build(["torch"], ["mlp"], ["simple"], ["fp32"], seeds, **SETTINGS)


def _tree(root: Path) -> dict[str, list[str]]:
    """Run folder (without its timestamp) -> its files."""
    return {
        f"{p.parent.name}/{p.name.split('_', 1)[1]}": sorted(os.listdir(p))
        for p in sorted(root.glob("*/*"))
        if p.is_dir()
    }


def test_run_tasks_records_a_raising_task_and_finishes_the_rest(cluster: str) -> None:
    helpers = __import__(cluster)
    seen = []
    results = run_tasks(helpers.half_fails, [0, 1, 2, 3], retries=1, progress=False, on_result=seen.append)
    assert [r.ok for r in results] == [True, False, True, False]
    assert [r.value for r in results if r.ok] == [0, 20]
    assert "ValueError: item 1 is odd" in results[1].error
    assert len(seen) == 4


def test_warm_up_warns_of_workers_that_run_below_normal_priority(
    cluster: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # the fixture's bare ray.init keeps Ray's own worker niceness (15 unless the environment sets it)
    helpers = __import__(cluster)
    results = run_tasks(helpers.niceness, [0], progress=False)
    niceness = results[0].value
    err = capsys.readouterr().err
    assert (f"Ray workers run at niceness {niceness}" in err) == (niceness > 0)
    assert ("RAY_worker_niceness=0" in err) == (niceness > 0)
    run_tasks(helpers.niceness, [0], progress=False, warm_up=False)
    assert "niceness" not in capsys.readouterr().err


def test_experiment_sweep_matches_local_then_fault_and_resume(
    cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_out, ray_out = tmp_path / "local", tmp_path / "ray"
    local = run_experiments(["torch"], ["mlp"], seeds=SEEDS, out=local_out, progress=False, **SETTINGS)
    with connect("local"):  # reuses the running instance
        remote = run_sweep_ray(_spec(SEEDS), out=ray_out, progress=False)
    assert list(remote.columns) == list(RESULT_COLUMNS)
    assert list(remote["status"]) == list(local["status"]) == ["done"] * 3
    assert _tree(ray_out) == _tree(local_out) and len(_tree(ray_out)) == 3
    for run in sorted(ray_out.glob("*/*")):
        twin = next(local_out.glob(f"{run.parent.name}/*_{run.name.split('_', 1)[1]}"))
        for name in ("train.csv", "test.csv", "global_metrics.csv", "train_samples.csv"):
            assert list(pd.read_csv(run / name).columns) == list(pd.read_csv(twin / name).columns), name
        config = json.loads((run / "config.json").read_text())
        assert set(config) == set(json.loads((twin / "config.json").read_text()))
    assert set(remote.attrs["nodes"]) == {Path(p).name for p in remote["run_dir"]}
    assert not list(ray_out.glob("*/.*"))  # no partial folders left

    # the same reader, as Ray tasks
    threads, on_ray = read_results(ray_out), read_results(ray_out, engine="ray")
    pd.testing.assert_frame_equal(
        threads.runs.sort_values("run_id").reset_index(drop=True),
        on_ray.runs.sort_values("run_id").reset_index(drop=True),
    )

    # seed 3's task raises on every attempt: recorded as failed, the finished runs skipped
    monkeypatch.setattr(cluster_experiments, "_experiment_task", __import__(cluster).flaky)
    spec = _spec(SEEDS)
    for path in ray_out.glob("3/*"):  # seed 3 never finished: an interrupted first attempt
        shutil.rmtree(path)
    first = run_sweep_ray(spec, out=ray_out, resume=True, progress=False, retries=1)
    assert list(first["status"]) == ["skipped", "skipped", "failed"]
    failed = Path(first.loc[2, "run_dir"])
    assert sorted(os.listdir(failed)) == ["config.json", "error.txt"]
    assert "this node lost its disk" in (failed / "error.txt").read_text()
    assert "RuntimeError" in first.loc[2, "error"] or "failed after" in first.loc[2, "error"]

    # --resume with working nodes finishes only what is missing, replacing the failed folder
    monkeypatch.undo()
    second = run_sweep_ray(spec, out=ray_out, resume=True, progress=False)
    assert list(second["status"]) == ["skipped", "skipped", "done"]
    assert [run_status(p) for p in ray_out.glob("3/*")] == ["done"]  # the failed attempt is gone
    assert _tree(ray_out) == _tree(local_out)


def test_profile_through_ray_matches_local(cluster: str, tmp_path: Path) -> None:
    models = ["lenet", f"{cluster}:factory"]
    local_out, ray_out = tmp_path / "local", tmp_path / "ray"
    runner = CliRunner()
    local = runner.invoke(profile_model, [*models, "--out", str(local_out), *QUICK])
    assert local.exit_code == 0, local.output
    remote = runner.invoke(profile_model, [*models, "--out", str(ray_out), "--ray", *QUICK])
    assert remote.exit_code == 0, remote.output
    files = sorted(str(p.relative_to(local_out)) for p in local_out.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(ray_out)) for p in ray_out.rglob("*") if p.is_file())
    # per model: one CSV per layer kind, model.csv and meta.json
    assert len(files) == 2 * (len(LAYER_KINDS) + 2) and all(f.startswith(device_id("cpu")) for f in files)
    for name in files:
        if name.endswith(".csv"):
            mine, theirs = pd.read_csv(ray_out / name), pd.read_csv(local_out / name)
            assert list(mine.columns) == list(theirs.columns) and len(mine) == len(theirs), name
            assert mine["layer_name" if "layer_name" in mine else "model"].tolist() == (
                theirs["layer_name" if "layer_name" in theirs else "model"].tolist()
            )
    meta = json.loads((ray_out / device_id("cpu") / "lenet" / "meta.json").read_text())
    assert meta["device_id"] == device_id("cpu") and meta["node"]["hostname"]
    assert meta["configs"]["b1-float32"]["node"]["ray_node_id"] == meta["node"]["ray_node_id"]
    local_meta = json.loads((local_out / device_id("cpu") / "lenet" / "meta.json").read_text())
    assert set(meta) - set(local_meta) == {"node"}

    # --resume skips what is complete
    again = runner.invoke(profile_model, [*models, "--out", str(ray_out), "--ray", "--resume", *QUICK])
    assert again.exit_code == 0, again.output
    assert again.output.count("skipped") == 2
