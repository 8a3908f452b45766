"""NVML source against an autospec fake of the real ``pynvml`` module, plus the real path on a GPU."""

from __future__ import annotations

import math

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
from layerpower.profiling.power import get_source
from layerpower.profiling.power.nvml import NvmlError, NvmlSource


def test_available_with_a_gpu(monkeypatch: pytest.MonkeyPatch):
    install_pynvml(monkeypatch, [FakeGpu()])
    assert NvmlSource.is_available()
    assert NvmlSource.unavailable_reason() is None


def test_missing_driver_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch):
    install_pynvml(monkeypatch, [FakeGpu()], init_error=real_pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    assert not NvmlSource.is_available()
    reason = NvmlSource.unavailable_reason()
    assert "NVML Shared Library Not Found" in reason


def test_missing_package_is_reported(monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    assert "nvidia-ml-py" in NvmlSource.unavailable_reason()


def test_no_gpu_is_reported(monkeypatch: pytest.MonkeyPatch):
    install_pynvml(monkeypatch, [])
    assert NvmlSource.unavailable_reason() == "NVML found no GPU"


def test_energy_counter_mj_to_joules_differenced(monkeypatch: pytest.MonkeyPatch):
    gpu = FakeGpu(energy_mj=5_000_000)
    install_pynvml(monkeypatch, [gpu])
    with NvmlSource(update_period_s=0.1) as source:
        assert source.has_energy_counter
        assert source.devices() == ["gpu0"]
        e0 = source.energy_j()
        gpu.energy_mj += 7_500
        e1 = source.energy_j()
    assert e1["gpu0"] - e0["gpu0"] == pytest.approx(7.5)


def test_meter_window_reads_the_counter_at_both_edges(monkeypatch: pytest.MonkeyPatch):
    gpu = FakeGpu(energy_mj=1_000)
    install_pynvml(monkeypatch, [gpu])
    syncs = []
    with Meter("nvml", warn_short=False) as meter, meter.window(sync=lambda: syncs.append(1)) as w:
        gpu.energy_mj += 30_000
    m = w.result
    assert len(syncs) == 2
    assert m.source == "nvml" and not m.is_estimate and m.method == "counter"
    assert m.energy_j == pytest.approx(30.0)
    assert m.per_device == {"gpu0": pytest.approx(30.0)}
    assert m.avg_power_w == pytest.approx(30.0 / m.duration_s)


def test_instant_power_field_is_preferred(monkeypatch: pytest.MonkeyPatch):
    fake = install_pynvml(monkeypatch, [FakeGpu(power_mw=251_500)])
    with NvmlSource(update_period_s=0.1) as source:
        assert source.power_w() == {"gpu0": pytest.approx(251.5)}
        assert source.describe()["power_reading"] == {"gpu0": "instant field"}
    fake.nvmlDeviceGetPowerUsage.assert_not_called()


def test_power_falls_back_to_power_usage_without_the_field(monkeypatch: pytest.MonkeyPatch):
    fake = install_pynvml(monkeypatch, [FakeGpu(power_mw=180_000, instant_field=False)])
    with NvmlSource(update_period_s=0.1) as source:
        assert source.power_w() == {"gpu0": pytest.approx(180.0)}
    fake.nvmlDeviceGetPowerUsage.assert_called()


def test_power_falls_back_when_pynvml_lacks_the_constant(monkeypatch: pytest.MonkeyPatch):
    install_pynvml(monkeypatch, [FakeGpu(power_mw=99_000)], has_instant_constant=False)
    with NvmlSource(update_period_s=0.1) as source:
        assert source.power_w() == {"gpu0": pytest.approx(99.0)}
        assert source.describe()["power_reading"] == {"gpu0": "nvmlDeviceGetPowerUsage"}


def test_bad_gpu_index_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    fake = install_pynvml(monkeypatch, [FakeGpu()])
    with pytest.raises(NvmlError, match="GPU index 3 does not exist") as info:
        NvmlSource(gpus=[3])
    assert "indices 0..0" in str(info.value)
    fake.nvmlShutdown.assert_called()  # init was balanced
    with pytest.raises(PowerSourceError):
        get_source("nvml", gpus=[3])


def test_nvml_errors_are_translated_at_the_boundary(monkeypatch: pytest.MonkeyPatch):
    fake = install_pynvml(monkeypatch, [FakeGpu()])
    with NvmlSource(update_period_s=0.1) as source:
        fake.nvmlDeviceGetTotalEnergyConsumption.side_effect = real_pynvml.NVMLError(
            real_pynvml.NVML_ERROR_GPU_IS_LOST
        )
        with pytest.raises(NvmlError, match="GPU is lost") as info:
            source.energy_j()
    assert not isinstance(info.value, real_pynvml.NVMLError)


def test_gpu_without_energy_counter_integrates_power(monkeypatch: pytest.MonkeyPatch):
    install_pynvml(monkeypatch, [FakeGpu(power_mw=100_000, energy_counter=False)])
    with Meter("nvml", warn_short=False) as meter:
        assert not meter.source.has_energy_counter
        m = meter.measure(lambda: __import__("time").sleep(0.2))
    assert m.method == "integrated"
    assert m.avg_power_w == pytest.approx(100.0, rel=1e-9)  # constant power: the trapezoid is exact


def test_update_period_is_measured_from_counter_changes(monkeypatch: pytest.MonkeyPatch):
    install_pynvml(monkeypatch, [FakeGpu(energy_fn=lambda t: 300.0 * t, counter_period_s=0.05)])
    with NvmlSource() as source:
        period = source.update_period_s
    assert 0.03 < period < 0.2  # the counter ticks every 50 ms; polling jitter on a busy machine


def test_telemetry_reports_nan_for_unsupported(monkeypatch: pytest.MonkeyPatch):
    install_pynvml(monkeypatch, [FakeGpu(telemetry_missing={"temperature"})])
    with NvmlSource(update_period_s=0.1) as source:
        tel = source.telemetry()["gpu0"]
    assert tel["utilization_pct"] == 87
    assert tel["memory_used_bytes"] == 3 * 2**30
    assert tel["sm_clock_mhz"] == 1980
    assert math.isnan(tel["temperature_c"])


def test_selected_gpus_only(monkeypatch: pytest.MonkeyPatch):
    install_pynvml(monkeypatch, [FakeGpu(name="A"), FakeGpu(name="B", energy_mj=42_000)])
    with NvmlSource(gpus=[1], update_period_s=0.1) as source:
        assert source.devices() == ["gpu1"]
        assert source.names == {"gpu1": "B"}


@pytest.mark.gpu
def test_real_nvml_window():
    import time

    with Meter("nvml") as meter:
        period = meter.update_period_s
        assert 0 < period < 1.0
        m = meter.measure(lambda: time.sleep(max(0.5, 5 * period)))
    assert m.source == "nvml" and not m.is_estimate
    assert m.energy_j > 0 and 1.0 < m.avg_power_w < 2000.0
    tel = meter.source.telemetry()
    assert set(tel) == set(meter.source.devices())
