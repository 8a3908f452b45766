"""``profile-layers --ray`` through a real local Ray instance gives the files of the local path; resume."""

from __future__ import annotations

import json
import textwrap
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("ray")

from layerpower.cli.profile_layers import profile_layers as profile_layers_cli  # noqa: E402
from layerpower.cluster import sampled as cluster_sampled  # noqa: E402
from layerpower.cluster.sampled import profile_layers_ray  # noqa: E402
from layerpower.config.vocab import LAYER_KINDS  # noqa: E402
from layerpower.hardware import device_id  # noqa: E402
from layerpower.profiling.settings import ProfileSettings  # noqa: E402

#: short windows, one trial, a short idle window (as in tests/profiling/test_sampled_profile.py)
QUICK = ["--window", "0.005", "--trials", "1", "--idle", "0.02", "--power-source", "estimate"]

#: the module ``lp_ray_helpers`` the ``cluster`` fixture writes for the workers
RAY_HELPERS = textwrap.dedent(
    """
    from layerpower.cluster.sampled import _chunk_task


    def odd_chunks_fail(job):
        if job["index"] % 2:
            raise RuntimeError("this node lost its disk")
        return _chunk_task(job)
    """
)


@pytest.fixture(scope="module")
def space_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged space with limits that keep every layer tiny, as a file the CLI reads."""
    raw = json.loads(resources.files("layerpower.profiling.sampled").joinpath("layer_space.json").read_text())
    raw["limits"].update(max_flops=2e6, max_tensor_bytes=4e6)
    path = tmp_path_factory.mktemp("space") / "space.json"
    path.write_text(json.dumps(raw))
    return path


def _invoke(out: Path, space: Path, *extra: str):
    args = ["--n", "6", "--chunk-size", "2", "--space", str(space), "--out", str(out), "--no-progress"]
    return CliRunner().invoke(profile_layers_cli, [*args, *QUICK, *extra], catch_exceptions=False)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_profile_layers_through_ray_matches_local_and_resumes(
    cluster: str, tmp_path: Path, space_file: Path
) -> None:
    local_out, ray_out = tmp_path / "local", tmp_path / "ray"
    local = _invoke(local_out, space_file)
    assert local.exit_code == 0, local.output
    remote = _invoke(ray_out, space_file, "--ray")
    assert remote.exit_code == 0, remote.output
    assert "3 chunk(s) measured, 0 already done, of 3" in remote.output
    files = _files(local_out)
    assert files == _files(ray_out) and len(files) == len(LAYER_KINDS) + 1
    assert all(f.startswith(f"{device_id('cpu')}/_sampled/") for f in files)
    for kind in LAYER_KINDS:
        name = f"{device_id('cpu')}/_sampled/{kind}.csv"
        mine, theirs = pd.read_csv(ray_out / name), pd.read_csv(local_out / name)
        assert list(mine.columns) == list(theirs.columns) and len(mine) == len(theirs), name
        assert sorted(mine["layer_name"]) == sorted(theirs["layer_name"]), name
    folder = ray_out / device_id("cpu") / "_sampled"
    meta = json.loads((folder / "meta.json").read_text())
    local_meta = json.loads((local_out / device_id("cpu") / "_sampled" / "meta.json").read_text())
    assert set(meta) == set(local_meta)
    entry, local_entry = meta["sets"]["float32"], local_meta["sets"]["float32"]
    assert set(entry) == set(local_entry) and sorted(entry["chunks"]) == ["0", "1", "2"]
    assert {k: v for k, v in entry.items() if k != "chunks"} == {
        k: v for k, v in local_entry.items() if k != "chunks"
    }
    for chunk in entry["chunks"].values():
        assert chunk["node"]["hostname"] and chunk["node"]["ray_node_id"]
        assert set(chunk) - set(local_entry["chunks"]["0"]) == {"node"}

    # --resume skips every finished chunk and leaves the files as they were
    before = {kind: (folder / f"{kind}.csv").read_bytes() for kind in LAYER_KINDS}
    again = _invoke(ray_out, space_file, "--ray", "--resume")
    assert again.exit_code == 0, again.output
    assert "0 chunk(s) measured, 3 already done, of 3" in again.output
    assert before == {kind: (folder / f"{kind}.csv").read_bytes() for kind in LAYER_KINDS}


def test_failed_chunks_are_recorded_and_resume_measures_only_them(
    cluster: str, tmp_path: Path, space_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ProfileSettings(window_s=0.005, trials=1, idle_s=0.02)
    options = {"power_source": "estimate", "settings": settings, "chunk_size": 2, "space": space_file}
    out = tmp_path / "data"
    monkeypatch.setattr(cluster_sampled, "_chunk_task", __import__(cluster).odd_chunks_fail)
    report = profile_layers_ray(6, out=out, retries=1, **options)
    assert (report.chunks_done, report.chunks_failed) == (2, 1)
    assert "RuntimeError: this node lost its disk" in report.errors[0] and report.errors[0].startswith(
        "chunk 1"
    )
    meta = json.loads((report.folder / "meta.json").read_text())
    assert sorted(meta["sets"]["float32"]["chunks"]) == ["0", "2"]

    monkeypatch.undo()
    report = profile_layers_ray(6, out=out, resume=True, **options)
    assert (report.chunks_done, report.chunks_skipped, report.chunks_failed) == (1, 2, 0)
    assert sum(report.rows.values()) == 2
    rows = pd.concat([pd.read_csv(report.folder / f"{k}.csv") for k in LAYER_KINDS])
    assert len(rows) == 6 and rows["layer_name"].is_unique
