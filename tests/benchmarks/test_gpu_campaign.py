"""The GPU campaign's rehearsal: the dry run (CPU, the tests' fake pynvml) with a tiny plan, end to end."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pandas as pd
import pytest

from layerpower.config.schema import LAYER_COLUMNS

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import gpu_campaign  # noqa: E402
from gpu_campaign_plan import CampaignOptions  # noqa: E402

#: runs the CLI with xgboost and skops blocked at sys.meta_path, and reports every attempt to import them
WRAPPER = """
import importlib.abc, json, runpy, sys
attempts = []
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("xgboost", "skops"):
            attempts.append(name)
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
sys.argv = ["gpu_campaign.py", *sys.argv[2:]]
try:
    runpy.run_path({script!r}, run_name="__main__")
finally:
    loaded = [n for n in ("xgboost", "skops") if sys.modules.get(n) is not None]
    with open({report!r}, "w") as f:
        json.dump({{"attempts": attempts, "loaded": loaded}}, f)
"""


def _members(tarball: Path) -> dict[str, bytes]:
    with tarfile.open(tarball) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_dry_run_writes_a_complete_tarball_without_xgboost_or_skops(tmp_path: Path):
    out, report = tmp_path / "out", tmp_path / "imports.json"
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(
        WRAPPER.format(script=str(REPO / "benchmarks" / "gpu_campaign.py"), report=str(report))
    )
    command = [sys.executable, str(wrapper), "--", "--dry-run", "--out", str(out), "--models", "lenet"]
    command += [
        "--batch-sizes",
        "1",
        "--dtypes",
        "fp32",
        "--validation-models",
        "lenet",
        "--validation-repeats",
        "2",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert time.perf_counter() - started < 60

    imports = json.loads(report.read_text())
    assert imports == {"attempts": [], "loaded": []}
    log = (out / "campaign.log").read_text()
    assert "DRY RUN / FAKE NVML" in log and "plan (sized from the measured counter period)" in log
    assert all("[DRY RUN / FAKE NVML]" in line for line in log.splitlines())

    files = _members(out / "campaign.tar.gz")
    lenet = [n for n in files if n.startswith("training_data/") and "/lenet/" in n]
    assert len({n.split("/")[1] for n in lenet}) == 1  # one device id
    for kind in ("convolutional", "pooling", "dense"):
        name = next(n for n in lenet if n.endswith(f"/{kind}.csv"))
        frame = pd.read_csv(io.BytesIO(files[name]))
        assert list(frame.columns) == LAYER_COLUMNS[kind] and len(frame) > 0
    meta = json.loads(files[next(n for n in lenet if n.endswith("meta.json"))])
    assert meta["campaign"]["dry_run"] is True and "FAKE" in meta["campaign"]["readings"]
    assert "b1-float32" in meta["configs"]

    check = json.loads(files["nvml_check.json"])
    assert check["counter"]["period_s"] == pytest.approx(0.02, rel=0.5)  # the fake counter ticks every 20 ms
    assert check["known_load"]["counter_over_integrated"] == pytest.approx(1.0, abs=0.2)
    assert "FAKE" in check["readings"]
    trace = pd.read_csv(io.BytesIO(files["nvml_trace.csv"]))
    assert {"timestamp", "power_w", "energy_j"} <= set(trace.columns) and len(trace) > 10

    phases = json.loads(files["phases.json"])
    assert phases["dry_run"] is True and "FAKE" in phases["readings"]
    status = {p["phase"]: p["status"] for p in phases["phases"]}
    assert status == {"nvml_check": "done", "dataset": "done", "validation": "done"}
    assert all("FAKE" in p["readings"] for p in phases["phases"])
    assert (
        phases["imports"]["blocked_attempts"] == [] and phases["imports"]["predictors_modules_loaded"] == []
    )
    env_json = json.loads(files["environment.json"])
    assert env_json["torch"] and env_json["nvml_gpu_name"] == gpu_campaign.FAKE_GPU_NAME
    validation = pd.read_csv(io.BytesIO(files["validation/measured.csv"]))
    assert len(validation) == 2 and set(validation["model"]) == {"lenet"}
    assert {"plan.json", "campaign.log", "DRY_RUN_FAKE_READINGS.txt"} <= set(files)


def test_a_deadline_too_short_still_yields_a_tarball(tmp_path: Path):
    opts = CampaignOptions(
        out=tmp_path, deadline_s=0.01, dry_run=True, models=["lenet"], validation_models=["lenet"]
    )
    result = gpu_campaign.run_campaign(opts, pynvml=gpu_campaign.fake_pynvml())
    files = _members(result["tarball"])
    phases = json.loads(files["phases.json"])["phases"]
    assert [p["phase"] for p in phases] == ["nvml_check", "dataset", "validation", "fill"]
    assert {p["status"] for p in phases} == {"skipped"}
    assert not any(n.startswith("training_data/") for n in files)
    assert (tmp_path / "campaign.log").is_file() and "environment.json" in files


def test_the_alarm_abandons_the_unit_in_flight_but_not_a_write():
    clock = gpu_campaign.Deadline(0.2, time.perf_counter())
    with pytest.raises(gpu_campaign.DeadlineReached), clock.armed():
        time.sleep(5)
    clock = gpu_campaign.Deadline(0.1, time.perf_counter())
    wrote = []
    with pytest.raises(gpu_campaign.DeadlineReached), clock.armed(), clock.critical():
        time.sleep(0.3)  # the alarm fires in here and waits for the end of the block
        wrote.append(True)
    assert wrote == [True]
