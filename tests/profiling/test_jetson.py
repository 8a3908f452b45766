"""Jetson INA3221 source against fake hwmon and iio trees in tmp_path."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from power_fakes import (
    fresh_probes,  # noqa: F401  (autouse: clean probe caches)
    make_jetson_hwmon_tree,
    make_jetson_iio_tree,
    write,
)

from layerpower.profiling.meter import Meter
from layerpower.profiling.power.jetson import JetsonError, JetsonSource

ORIN = {"VDD_IN": (5000, 2000), "VDD_CPU_GPU_CV": (5000, 600), "VDD_SOC": (5000, 400)}


def test_hwmon_rails_volts_times_amps(tmp_path: Path):
    make_jetson_hwmon_tree(tmp_path, ORIN)
    assert JetsonSource.is_available(tmp_path)
    with JetsonSource(tmp_path) as source:
        assert source.devices() == ["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"]  # the shunt-sum channel skipped
        power = source.power_w()
        assert power == {
            "VDD_IN": pytest.approx(10.0),
            "VDD_CPU_GPU_CV": pytest.approx(3.0),
            "VDD_SOC": pytest.approx(2.0),
        }
        assert source.total(power) == pytest.approx(10.0)  # the input rail, not the sum of its branches
        assert source.update_period_s == pytest.approx(0.010)


def test_iio_layout_power_files(tmp_path: Path):
    make_jetson_iio_tree(tmp_path, {"POM_5V_IN": 4000, "POM_5V_GPU": 1500})
    with JetsonSource(tmp_path) as source:
        power = source.power_w()
        assert power == {"POM_5V_IN": pytest.approx(4.0), "POM_5V_GPU": pytest.approx(1.5)}
        assert source.total(power) == pytest.approx(4.0)


def test_total_is_the_sum_without_an_input_rail(tmp_path: Path):
    make_jetson_hwmon_tree(tmp_path, {"GPU": (1000, 1000), "CPU": (1000, 500)}, update_interval_ms=None)
    with JetsonSource(tmp_path) as source:
        assert source.total(source.power_w()) == pytest.approx(1.5)
        assert source.update_period_s == pytest.approx(0.05)  # documented default


def test_energy_is_integrated_power(tmp_path: Path):
    make_jetson_hwmon_tree(tmp_path, ORIN)
    with Meter(JetsonSource(tmp_path)) as meter:
        m = meter.measure(lambda: time.sleep(0.15))
        meter.source.close()
    assert m.source == "jetson" and not m.is_estimate and m.method == "integrated"
    assert m.avg_power_w == pytest.approx(10.0, rel=1e-9)  # constant power: the trapezoid is exact
    assert m.per_device["VDD_SOC"] == pytest.approx(2.0 * m.duration_s, rel=1e-9)


def test_changing_power_is_followed(tmp_path: Path):
    hwmon = make_jetson_hwmon_tree(tmp_path, {"VDD_IN": (5000, 1000)}, update_interval_ms=5)
    with JetsonSource(tmp_path) as source:
        e0 = source.energy_j()["VDD_IN"]
        time.sleep(0.1)
        write(hwmon / "curr1_input", "3000")  # 5 W -> 15 W
        time.sleep(0.1)
        e1 = source.energy_j()["VDD_IN"]
    assert 5.0 * 0.2 < e1 - e0 < 15.0 * 0.2 * 1.2


def test_not_a_jetson(tmp_path: Path):
    assert "not a Jetson board" in JetsonSource.unavailable_reason(tmp_path)
    with pytest.raises(JetsonError):
        JetsonSource(tmp_path)


def test_garbled_rail_is_reported(tmp_path: Path):
    hwmon = make_jetson_hwmon_tree(tmp_path, ORIN)
    write(hwmon / "curr2_input", "n/a")
    assert "VDD_CPU_GPU_CV could not be read" in JetsonSource.unavailable_reason(tmp_path)
