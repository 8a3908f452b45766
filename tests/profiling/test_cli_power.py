"""``layerpower sources`` and ``layerpower measure``."""

from __future__ import annotations

import builtins
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from power_fakes import (
    FakeGpu,
    fresh_probes,  # noqa: F401  (autouse: clean probe caches)
    hide_pynvml,
    install_pynvml,
    make_rapl_tree,
)

from layerpower.cli import main

PY = sys.executable


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def assert_one_line_error(result, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and text in errors[0], result.output


def test_sources_lists_what_is_missing_and_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    result = run("sources", "--sysfs-root", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "nvml      missing: nvidia-ml-py" in result.output
    assert "rapl      missing: no RAPL zones" in result.output
    assert "estimate  available (estimate" in result.output
    assert "best: estimate" in result.output


def test_sources_shows_devices_and_periods(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    install_pynvml(
        monkeypatch,
        [FakeGpu(name="NVIDIA H100 80GB HBM3", energy_fn=lambda t: 100.0 * t, counter_period_s=0.02)],
    )
    make_rapl_tree(tmp_path)
    result = run("sources", "--sysfs-root", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    report = {entry["name"]: entry for entry in json.loads(result.output)}
    assert report["nvml"]["devices"] == ["gpu0"]
    assert report["nvml"]["device_names"] == {"gpu0": "NVIDIA H100 80GB HBM3"}
    assert 0 < report["nvml"]["update_period_s"] < 0.2
    assert report["rapl"]["devices"] == ["package-0", "dram-0"]
    assert report["jetson"]["available"] is False and "not a Jetson" in report["jetson"]["reason"]


def test_measure_reports_estimate_honestly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    result = run("measure", "--sysfs-root", str(tmp_path), "--tdp", "20", "--", PY, "-c", "pass")
    assert result.exit_code == 0, result.output
    assert "runtime:" in result.output and "energy:" in result.output and "avg power:" in result.output
    assert "[estimate]" in result.output and "measured" not in result.output
    assert "estimate: this machine has no power sensor" in result.output
    assert "TDP 20.0 W (given (--tdp))" in result.output


def test_measure_json_and_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    trace = tmp_path / "out" / "trace.csv"
    result = run(
        "measure",
        "--sysfs-root",
        str(tmp_path),
        "--json",
        "--trace",
        str(trace),
        "--interval",
        "0.02",
        "--",
        PY,
        "-c",
        "import time; time.sleep(0.2)",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{") :])
    assert data["source"] == "estimate" and data["is_estimate"] is True and data["returncode"] == 0
    assert data["duration_s"] >= 0.2 and "no power sensor" in data["note"]
    frame = pd.read_csv(trace)
    assert (frame["source"] == "estimate").all() and frame["is_estimate"].all() and len(frame) >= 3


def test_measure_with_rapl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    make_rapl_tree(tmp_path)
    result = run("measure", "--sysfs-root", str(tmp_path), "--power-source", "rapl", "--", PY, "-c", "pass")
    assert result.exit_code == 0, result.output
    assert "[rapl, measured]" in result.output and "no power sensor" not in result.output


def test_measure_passes_the_exit_status_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    result = run("measure", "--sysfs-root", str(tmp_path), "--", PY, "-c", "import sys; sys.exit(3)")
    assert result.exit_code == 3
    assert "exit status 3" in result.output


def test_missing_source_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    result = run("measure", "--sysfs-root", str(tmp_path), "--power-source", "nvml", "--", PY, "-c", "pass")
    assert_one_line_error(result, "power source 'nvml' is not available")


def test_nonexistent_gpu_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    install_pynvml(monkeypatch, [FakeGpu()])
    result = run("measure", "--gpus", "5", "--", PY, "-c", "pass")
    assert_one_line_error(result, "GPU index 5 does not exist")


def test_unreadable_counter_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    make_rapl_tree(tmp_path)
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):  # the kernel's answer to a non-root reader (tests run as root)
        if str(file).endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    result = run("measure", "--sysfs-root", str(tmp_path), "--power-source", "rapl", "--", PY, "-c", "pass")
    assert_one_line_error(result, "not readable by this user")
    assert "chmod a+r" in result.output


def test_unknown_command_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    result = run("measure", "--sysfs-root", str(tmp_path), "--", "no-such-command-here")
    assert_one_line_error(result, "command not found: no-such-command-here")


def test_bad_tdp_is_rejected():
    result = run("measure", "--tdp", "0", "--", PY, "-c", "pass")
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_gpus_without_nvml_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    result = run("measure", "--sysfs-root", str(tmp_path), "--gpus", "0", "--", PY, "-c", "pass")
    assert_one_line_error(result, "power source 'nvml' is not available")


def test_gpus_with_another_source_is_one_line(tmp_path: Path):
    result = run("measure", "--power-source", "estimate", "--gpus", "0", "--", PY, "-c", "pass")
    assert_one_line_error(result, "--gpus selects NVIDIA GPUs")
