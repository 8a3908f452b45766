"""The CPU estimate: TDP resolution, the load model, and that it is always labelled an estimate."""

from __future__ import annotations

import itertools
import time
from collections import namedtuple
from pathlib import Path

import psutil
import pytest
from power_fakes import (
    fresh_probes,  # noqa: F401  (autouse: clean probe caches)
    write,
)

from layerpower.errors import PowerSourceError
from layerpower.profiling.meter import Meter
from layerpower.profiling.power import detect_sources, get_source
from layerpower.profiling.power.estimate import (
    DEFAULT_IDLE_FRACTION,
    DEFAULT_W_PER_CORE,
    EstimateSource,
    resolve_tdp,
)

CpuTimes = namedtuple("CpuTimes", "user nice system idle iowait irq softirq steal guest guest_nice")


@pytest.fixture
def half_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    """``psutil.cpu_times`` advancing 1 s busy and 1 s idle per call: a load of exactly 0.5."""
    counter = itertools.count()

    def cpu_times(percpu: bool = False) -> CpuTimes:
        n = float(next(counter))
        return CpuTimes(n, 0.0, 0.0, n, 0.0, 0.0, 0.0, 5.0 * n, 0.0, 0.0)  # steal is left out of the load

    monkeypatch.setattr(psutil, "cpu_times", cpu_times)


def test_always_available(tmp_path: Path):
    assert EstimateSource.is_available(tmp_path)
    assert detect_sources(tmp_path)[-1] == "estimate"


def test_power_model():
    source = EstimateSource(tdp_w=100.0, idle_fraction=0.2)
    assert source.power_at_load(0.0) == pytest.approx(20.0)
    assert source.power_at_load(0.5) == pytest.approx(60.0)
    assert source.power_at_load(1.0) == pytest.approx(100.0)
    assert source.power_at_load(3.0) == pytest.approx(100.0)  # clipped


def test_window_energy_follows_the_load(half_busy):
    with Meter(EstimateSource(tdp_w=100.0, idle_fraction=0.2)) as meter:
        m = meter.measure(lambda: time.sleep(0.05))
    assert m.avg_power_w == pytest.approx(60.0)
    assert m.source == "estimate" and m.is_estimate and m.method == "model"
    assert m.to_dict()["is_estimate"] is True


def test_power_w_is_the_average_since_the_last_call(half_busy):
    source = EstimateSource(tdp_w=10.0, idle_fraction=0.0)
    assert source.power_w() == {"cpu": pytest.approx(5.0)}
    assert source.power_w() == {"cpu": pytest.approx(5.0)}


def test_tdp_given_wins(tmp_path: Path):
    write(tmp_path / "proc" / "cpuinfo", "model name\t: AMD EPYC 7763 64-Core Processor")
    source = EstimateSource(tdp_w=42.0, root=tmp_path, cores=2)
    assert source.tdp.tdp_w == 42.0 and "given" in source.tdp.origin


def test_tdp_from_table_scaled_to_cores(tmp_path: Path):
    write(tmp_path / "proc" / "cpuinfo", "processor\t: 0\nmodel name\t: AMD EPYC 7763 64-Core Processor\n")
    source = EstimateSource(root=tmp_path, cores=2)
    assert source.model_name == "AMD EPYC 7763 64-Core Processor"
    assert source.tdp.tdp_w == pytest.approx(280.0 / 128 * 2)
    assert source.tdp.origin.startswith("table:")


def test_tdp_default_per_core(tmp_path: Path):
    write(tmp_path / "proc" / "cpuinfo", "model name\t: Intel(R) Xeon(R) Processor")
    source = EstimateSource(root=tmp_path, cores=4)
    assert source.tdp.tdp_w == pytest.approx(DEFAULT_W_PER_CORE * 4)
    assert "default" in source.tdp.origin
    assert source.idle_fraction == pytest.approx(DEFAULT_IDLE_FRACTION)


def test_no_cpuinfo_uses_default(tmp_path: Path):
    assert resolve_tdp(None, "", 3).tdp_w == pytest.approx(3 * DEFAULT_W_PER_CORE)


@pytest.mark.parametrize("bad", [0.0, -5.0])
def test_bad_tdp_is_an_error(bad: float):
    with pytest.raises(PowerSourceError, match="positive"):
        get_source("estimate", tdp_w=bad)


def test_bad_idle_fraction_is_an_error():
    with pytest.raises(PowerSourceError, match="idle_fraction"):
        EstimateSource(idle_fraction=1.5)


def test_describe_says_estimate():
    info = EstimateSource(tdp_w=10.0).describe()
    assert info["name"] == "estimate" and info["is_estimate"] is True and info["energy"] == "model"
    assert info["tdp_w"] == 10.0
