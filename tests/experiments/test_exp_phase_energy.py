"""Per-phase energy never implies an impossible power (issue: a 5 ms test phase reported 12.56 W on a 7 W
estimate). Replays the recorded trace ``tests/data/trace_estimate_cpu.csv`` (Sampler at 100 ms, estimate
source, TDP 7 W; see ``tests/data/trace_README.md``) and runs the run code's ``measured`` on a 5 ms phase."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from layerpower.experiments.config import RunConfig
from layerpower.experiments.run_one import measured
from layerpower.profiling.sampler import integrate_frame, phase_energy

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def trace() -> tuple[pd.DataFrame, float, float]:
    """The recorded samples, their sampling interval (s) and the estimate's TDP (W)."""
    frame = pd.read_csv(DATA / "trace_estimate_cpu.csv")
    meta = json.loads((DATA / "trace_estimate_cpu.json").read_text())
    interval = float(np.median(np.diff(frame["timestamp"])))
    return frame, interval, float(meta["source_description"]["tdp_w"])


def test_a_5ms_phase_without_a_window_is_nan_with_its_reason(
    trace: tuple[pd.DataFrame, float, float],
) -> None:
    frame, interval, _ = trace
    start = float(frame["timestamp"].iloc[10]) + 0.02
    found = phase_energy(frame, start, start + 0.005, interval_s=interval, max_power_w={"cpu": 7.0})
    assert found.method == "none" and np.isnan(found.energy_j["cpu"]) and np.isnan(found.total_j)
    assert "phase of 5.0 ms is shorter than 3 sampling intervals" in found.note
    assert "no meter window" in found.note


def test_the_old_integral_of_a_5ms_phase_was_impossible(trace: tuple[pd.DataFrame, float, float]) -> None:
    # the sampler takes a sample at each edge of a phase, so a 5 ms phase's samples span a whole interval:
    # integrating them and dividing by the phase's 5 ms gave a power far above the estimate's TDP
    frame, interval, tdp = trace
    edges = frame.iloc[20:22].reset_index(drop=True)
    start = float(edges["timestamp"].iloc[0])
    old_power = integrate_frame(edges)["cpu"] / 0.005
    assert old_power > tdp
    window = {"cpu": 0.9 * tdp * 0.005}  # what a meter window around the phase read
    found = phase_energy(
        edges, start, start + 0.005, interval_s=interval, window_j=window, max_power_w={"cpu": tdp}
    )
    assert found.method == "window" and found.energy_j == window
    assert found.total_j / 0.005 <= tdp
    assert "energy from a meter window around the phase" in found.note


def test_a_window_above_the_tdp_is_refused(trace: tuple[pd.DataFrame, float, float]) -> None:
    frame, interval, tdp = trace
    start = float(frame["timestamp"].iloc[5])
    found = phase_energy(
        frame, start, start + 0.005, interval_s=interval, window_j={"cpu": 1.0}, max_power_w={"cpu": tdp}
    )
    assert found.method == "none" and np.isnan(found.total_j)
    assert "above the source's maximum 7.00 W" in found.note


def test_a_long_phase_integrates_the_samples_clipped_to_it(trace: tuple[pd.DataFrame, float, float]) -> None:
    frame, interval, tdp = trace
    start = float(frame["timestamp"].iloc[3]) + 0.037
    end = start + 1.0
    found = phase_energy(frame, start, end, interval_s=interval, max_power_w={"cpu": tdp})
    assert found.method == "integrated" and found.note == ""
    grid = np.linspace(start, end, 200001)  # the piecewise-linear series on a fine grid
    power = np.interp(grid, frame["timestamp"], frame["cpu_power"])
    assert found.energy_j["cpu"] == pytest.approx(
        float(np.sum(0.5 * (power[1:] + power[:-1]) * np.diff(grid)))
    )
    assert found.total_j / (end - start) <= tdp * (1 + 1e-9)


def test_the_run_code_measures_a_5ms_phase_within_the_tdp() -> None:
    config = RunConfig("torch", "mlp", "simple", "fp32", 1, power_source="estimate", sample_interval_s=0.1)
    probe = measured(config)
    tdp = probe.sampler.max_power_w()["cpu"]
    with probe as phase:
        until = time.perf_counter() + 0.005
        while time.perf_counter() < until:
            pass
    assert phase.seconds < 0.3  # shorter than three sampling intervals
    assert phase.energy_method in ("window", "none")
    assert "shorter than 3 sampling intervals" in phase.energy_note
    if phase.energy_method == "window":
        assert 0 < phase.total_energy_j / phase.seconds <= tdp * (1 + 1e-6)
    else:
        assert np.isnan(phase.total_energy_j)
