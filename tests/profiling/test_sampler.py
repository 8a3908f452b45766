"""The background sampler: its frame, its integration, and agreement with energy counters."""

from __future__ import annotations

import itertools
import json
import math
import time
from collections import namedtuple
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pynvml as real_pynvml
import pytest
from power_fakes import (
    FakeGpu,
    fresh_probes,  # noqa: F401  (autouse: clean probe caches)
    hide_pynvml,
    install_pynvml,
)

from layerpower.errors import PowerSourceError
from layerpower.profiling.meter import Meter
from layerpower.profiling.power.estimate import EstimateSource
from layerpower.profiling.sampler import MemoryUsed, Sampler, integrate_frame, integrate_power

DATA = Path(__file__).resolve().parents[1] / "data"
CpuTimes = namedtuple("CpuTimes", "user nice system idle iowait irq softirq steal guest guest_nice")


def test_trapezoid_on_a_known_curve():
    t = np.linspace(0.0, 2 * math.pi, 2001)
    power = 100.0 + 50.0 * np.sin(t) + 10.0 * t
    exact = 100.0 * 2 * math.pi + 50.0 * (1 - math.cos(2 * math.pi)) + 5.0 * (2 * math.pi) ** 2
    assert integrate_power(t, power) == pytest.approx(exact, rel=1e-6)


def test_integration_skips_gaps_and_short_series():
    assert integrate_power([0.0, 1.0, 2.0], [10.0, np.nan, 10.0]) == pytest.approx(20.0)
    assert integrate_power([0.0], [5.0]) == 0.0


def test_frame_integration_per_device():
    frame = pd.DataFrame(
        {
            "timestamp": [0.0, 1.0, 2.0],
            "gpu_0_power": [100.0, 100.0, 100.0],
            "gpu_1_power": [0.0, 10.0, 20.0],
            "cpu_power": [5.0, 5.0, 5.0],
            "gpu_0_utilization": [1, 2, 3],
            "gpu_power_source": ["nvml"] * 3,
        }
    )
    assert integrate_frame(frame) == {
        "gpu0": pytest.approx(200.0),
        "gpu1": pytest.approx(20.0),
        "cpu": pytest.approx(10.0),
    }


@pytest.fixture
def steady_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine whose CPUs are exactly 25% busy, whatever the interval."""
    start = time.perf_counter()

    def cpu_times(percpu: bool = False) -> CpuTimes:
        elapsed = time.perf_counter() - start
        return CpuTimes(0.25 * elapsed, 0.0, 0.0, 0.75 * elapsed, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    monkeypatch.setattr(psutil, "cpu_times", cpu_times)


def test_estimate_sampler_frame_and_energy(tmp_path: Path, steady_load, monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    source = EstimateSource(tdp_w=40.0, idle_fraction=0.0, root=tmp_path)
    with Sampler(interval_s=0.02, source=source) as sampler:
        time.sleep(0.25)
    frame = sampler.frame()
    assert len(frame) >= 5
    assert {"timestamp", "cpu_power", "cpu_utilization", "memory_used"} <= set(frame.columns)
    assert not any(c.startswith("gpu_") and c != "gpu_power_source" for c in frame.columns)
    assert (frame["source"] == "estimate").all() and frame["is_estimate"].all()
    assert (frame["cpu_power_source"] == "estimate").all() and frame["cpu_power_is_estimate"].all()
    assert frame.attrs["source"] == "estimate" and frame.attrs["is_estimate"] is True
    assert frame["timestamp"].is_monotonic_increasing
    assert abs(frame["timestamp"].iloc[0] - time.time()) < 60  # Unix seconds
    assert frame["cpu_power"].to_numpy() == pytest.approx(10.0, rel=0.05)  # 40 W x 25 %
    assert frame["cpu_utilization"].to_numpy() == pytest.approx(25.0, rel=0.05)
    span = frame["timestamp"].iloc[-1] - frame["timestamp"].iloc[0]
    assert sampler.energy_j()["cpu"] == pytest.approx(10.0 * span, rel=0.05)


def _sine_gpu(period_s: float = 0.5) -> FakeGpu:
    """200 W +- 80 W with period ``period_s``; the energy counter is its exact integral."""
    w = 2 * math.pi / period_s
    return FakeGpu(
        power_fn=lambda t: 200.0 + 80.0 * math.sin(w * t),
        energy_fn=lambda t: 200.0 * t - 80.0 / w * math.cos(w * t),
    )


def test_sampled_energy_agrees_with_the_counter(monkeypatch: pytest.MonkeyPatch):
    gpu = _sine_gpu(period_s=2.0)
    install_pynvml(monkeypatch, [gpu])
    with Meter("nvml", warn_short=False) as meter:
        with meter.window() as window, Sampler(interval_s=0.02, source=meter.source) as sampler:
            time.sleep(1.0)
        frame = sampler.frame()
    assert {"gpu_0_power", "gpu_0_utilization", "gpu_0_memory_used", "cpu_power"} <= set(frame.columns)
    assert (frame["gpu_power_source"] == "nvml").all() and (frame["source"] == "nvml").all()
    assert not frame["is_estimate"].any()
    assert (frame["cpu_power_source"] == "estimate").all() and frame["cpu_power_is_estimate"].all()
    # The counter over exactly the sampled span (frame timestamps mapped back to perf_counter),
    # so a late first sample on a loaded machine does not count as disagreement.
    offset = sampler.unix_time(0.0)
    first, last = frame["timestamp"].iloc[0] - offset, frame["timestamp"].iloc[-1] - offset
    counter_over_span = gpu.energy_fn(last) - gpu.energy_fn(first)
    sampled = sampler.energy_j()["gpu0"]
    assert sampled == pytest.approx(counter_over_span, rel=0.02)
    # The meter's window encloses the sampler, so its counter reads at least as much.
    assert window.result.per_device["gpu0"] >= sampled * 0.98


def test_gpu_selection(monkeypatch: pytest.MonkeyPatch):
    install_pynvml(monkeypatch, [FakeGpu(name="A"), FakeGpu(name="B")])
    with Sampler(interval_s=0.05, source="nvml", gpus=[1]) as sampler:
        time.sleep(0.1)
    columns = set(sampler.frame().columns)
    assert "gpu_1_power" in columns and "gpu_0_power" not in columns
    assert sampler.frame()["gpu_1_utilization"].iloc[0] == 87


def test_errors_in_the_thread_surface_at_stop(monkeypatch: pytest.MonkeyPatch):
    fake = install_pynvml(monkeypatch, [FakeGpu(instant_field=False)])
    sampler = Sampler(interval_s=0.01, source="nvml", cpu_source="none").start()
    fake.nvmlDeviceGetPowerUsage.side_effect = real_pynvml.NVMLError(real_pynvml.NVML_ERROR_GPU_IS_LOST)
    time.sleep(0.1)
    with pytest.raises(PowerSourceError, match="GPU is lost"):
        sampler.stop()
    sampler.close()


def test_bad_interval():
    with pytest.raises(PowerSourceError, match="interval"):
        Sampler(interval_s=0)


def test_replay_recorded_trace():
    """A real trace recorded on the 2-core VM (estimate power, see tests/data/trace_README.md)."""
    frame = pd.read_csv(DATA / "trace_estimate_cpu.csv")
    recorded = json.loads((DATA / "trace_estimate_cpu.json").read_text())
    assert (frame["source"] == "estimate").all() and frame["is_estimate"].all()
    assert frame["timestamp"].is_monotonic_increasing and len(frame) > 20
    assert frame["cpu_utilization"].between(0, 100).all()
    energy = integrate_frame(frame)
    window = recorded["window"]
    assert window["source"] == "estimate" and window["is_estimate"]
    # the sampler spans slightly less than the window around it
    assert energy["cpu"] == pytest.approx(window["energy_j"], rel=0.03)
    assert energy["cpu"] <= window["energy_j"] * 1.001


def test_trace_power_follows_the_model():
    """Each replayed sample's power lies inside the estimate's idle..TDP range it was recorded with."""
    frame = pd.read_csv(DATA / "trace_estimate_cpu.csv")
    described = json.loads((DATA / "trace_estimate_cpu.json").read_text())["source_description"]
    tdp, idle = described["tdp_w"], described["idle_fraction"]
    assert frame["cpu_power"].between(tdp * idle * 0.99, tdp * 1.01).all()


def test_counter_tick_cpu_times(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Utilisation is computed from CPU time deltas (1 busy + 3 idle seconds per call: 25 %)."""
    hide_pynvml(monkeypatch)
    counter = itertools.count()

    def cpu_times(percpu: bool = False) -> CpuTimes:
        n = float(next(counter))
        return CpuTimes(n, 0.0, 0.0, 3 * n, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    monkeypatch.setattr(psutil, "cpu_times", cpu_times)
    with Sampler(interval_s=0.02, source=EstimateSource(tdp_w=8.0, root=tmp_path)) as sampler:
        time.sleep(0.1)
    assert sampler.frame()["cpu_utilization"].to_numpy() == pytest.approx(25.0)


def test_memory_used_from_meminfo(tmp_path: Path):
    meminfo = tmp_path / "proc" / "meminfo"
    meminfo.parent.mkdir(parents=True)
    meminfo.write_text(
        "MemTotal:       24000000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\n"
    )
    reader = MemoryUsed(tmp_path)
    assert reader() == 4_000_000 * 1024
    meminfo.write_text(
        "MemTotal:       24000000 kB\nMemFree:         1000000 kB\nMemAvailable:   18000000 kB\n"
    )
    assert reader() == 6_000_000 * 1024  # re-read on every call
    reader.close()


def test_memory_used_falls_back_to_psutil(tmp_path: Path):
    reader = MemoryUsed(tmp_path)  # no meminfo under this root
    assert reader() > 0
