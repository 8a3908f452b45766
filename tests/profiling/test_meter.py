"""Meter windows, source detection and selection."""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path

import pytest
from power_fakes import (
    FakeGpu,
    fresh_probes,  # noqa: F401  (autouse: clean probe caches)
    hide_pynvml,
    install_pynvml,
    make_jetson_hwmon_tree,
    make_rapl_tree,
)

from layerpower.errors import PowerSourceError
from layerpower.profiling.meter import Measurement, Meter, ShortWindowWarning
from layerpower.profiling.power import detect_sources, get_source, unavailable_reasons
from layerpower.profiling.power.rapl import RaplSource


def test_only_the_estimate_without_sensors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    assert detect_sources(tmp_path) == ["estimate"]
    reasons = unavailable_reasons(tmp_path)
    assert reasons["estimate"] is None
    assert all(isinstance(reasons[name], str) and reasons[name] for name in ("nvml", "jetson", "rapl"))


def test_detection_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    install_pynvml(monkeypatch, [FakeGpu()])
    make_rapl_tree(tmp_path)
    make_jetson_hwmon_tree(tmp_path, {"VDD_IN": (5000, 1000)})
    assert detect_sources(tmp_path) == ["nvml", "jetson", "rapl", "estimate"]
    with get_source(root=tmp_path) as best:
        assert best.name == "nvml"


def test_best_without_gpu_is_rapl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    make_rapl_tree(tmp_path)
    with get_source(None, root=tmp_path) as best:
        assert best.name == "rapl"


def test_named_source_missing_says_why_and_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    with pytest.raises(PowerSourceError) as info:
        get_source("nvml", root=tmp_path)
    message = str(info.value)
    assert "'nvml' is not available" in message and "nvidia-ml-py" in message
    assert "\n" not in message


def test_unknown_source_name():
    with pytest.raises(PowerSourceError, match="unknown power source 'bogus'.*nvml, jetson, rapl, estimate"):
        get_source("bogus")


def test_window_syncs_at_both_edges_and_measures(tmp_path: Path):
    calls: list[float] = []
    with (
        Meter("estimate", root=tmp_path, tdp_w=50.0) as meter,
        meter.window(sync=lambda: calls.append(time.perf_counter())) as w,
    ):
        time.sleep(0.06)
    m = w.result
    assert isinstance(m, Measurement)
    assert len(calls) == 2
    assert m.duration_s >= 0.06
    assert m.source == "estimate" and m.is_estimate
    assert m.energy_j == pytest.approx(m.avg_power_w * m.duration_s)
    assert 0 < m.avg_power_w <= 50.0 + 1e-9
    assert m.per_device.keys() == {"cpu"}
    assert not m.short_window


def test_short_window_warns(tmp_path: Path):
    with Meter("estimate", root=tmp_path) as meter, pytest.warns(ShortWindowWarning, match="shorter than 3"):
        m = meter.measure(lambda: None)
    assert m.short_window


def test_long_enough_window_does_not_warn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    make_rapl_tree(tmp_path)  # RAPL refreshes every 1 ms
    with Meter("rapl", root=tmp_path) as meter, warnings.catch_warnings():
        warnings.simplefilter("error", ShortWindowWarning)
        m = meter.measure(lambda: time.sleep(0.01))
    assert not m.short_window and m.update_period_s == pytest.approx(0.001)


def test_exception_in_window_leaves_no_result(tmp_path: Path):
    with Meter("estimate", root=tmp_path) as meter:
        window = meter.window()
        with pytest.raises(ZeroDivisionError), window:
            1 / 0  # noqa: B018
    assert window.result is None


def test_idle_power(tmp_path: Path):
    with Meter("estimate", root=tmp_path, tdp_w=10.0) as meter:
        idle = meter.idle_power(0.1)
    assert idle.duration_s >= 0.1
    assert idle.is_estimate and idle.source == "estimate"


def test_measurement_is_frozen_and_flattens():
    m = Measurement(1.0, 5.0, 5.0, "rapl", False, {"package-0": 4.0, "dram-0": 1.0}, 0.001, "counter")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.energy_j = 1.0  # type: ignore[misc]
    row = m.to_row()
    assert row["energy_j_package-0"] == 4.0 and row["energy_j_dram-0"] == 1.0
    assert "per_device" not in row and row["source"] == "rapl"
    assert m.to_dict()["per_device"] == {"package-0": 4.0, "dram-0": 1.0}


def test_meter_does_not_close_a_source_it_was_given(tmp_path: Path):
    make_rapl_tree(tmp_path)
    source = RaplSource(tmp_path)
    with Meter(source) as meter:
        assert meter.source is source
    assert source.energy_j()["package-0"] == 0.0  # still open
    source.close()
