"""RAPL source against fake powercap trees in tmp_path."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import pytest
from power_fakes import (
    fresh_probes,  # noqa: F401  (autouse: clean probe caches)
    make_rapl_tree,
    write,
)

from layerpower.errors import PowerSourceError
from layerpower.profiling.meter import Meter
from layerpower.profiling.power import detect_sources, get_source
from layerpower.profiling.power.rapl import RaplError, RaplPermissionError, RaplSource, find_domains


def test_finds_package_and_dram_only(tmp_path: Path):
    make_rapl_tree(tmp_path)
    domains = find_domains(tmp_path)
    assert [d.key for d in domains] == ["package-0", "dram-0"]  # no core, psys or mmio duplicate
    assert RaplSource.is_available(tmp_path)


def test_energy_microjoules_to_joules(tmp_path: Path):
    base = make_rapl_tree(tmp_path, package_uj=10_000_000, dram_uj=2_000_000)
    with RaplSource(tmp_path) as source:
        e0 = source.energy_j()
        write(base / "intel-rapl:0" / "energy_uj", "13500000")
        write(base / "intel-rapl:0:1" / "energy_uj", "2250000")
        e1 = source.energy_j()
    assert e1["package-0"] - e0["package-0"] == pytest.approx(3.5)
    assert e1["dram-0"] - e0["dram-0"] == pytest.approx(0.25)


def test_counter_wraparound(tmp_path: Path):
    max_range = 262_143_328_850
    base = make_rapl_tree(tmp_path, package_uj=max_range - 1_000_000, max_range_uj=max_range)
    with Meter(RaplSource(tmp_path), warn_short=False) as meter, meter.window() as w:
        write(base / "intel-rapl:0" / "energy_uj", "4000000")  # wrapped: 1 J before the top, 4 J after
    assert w.result.per_device["package-0"] == pytest.approx(5.0)
    assert w.result.per_device["dram-0"] == 0.0
    assert w.result.energy_j == pytest.approx(5.0)
    assert w.result.source == "rapl" and not w.result.is_estimate


def test_amd_zone_names(tmp_path: Path):
    make_rapl_tree(tmp_path, prefix="amd-rapl")
    assert [d.key for d in find_domains(tmp_path)] == ["package-0", "dram-0"]


def test_missing_tree_reason(tmp_path: Path):
    reason = RaplSource.unavailable_reason(tmp_path)
    assert "no RAPL zones" in reason
    with pytest.raises(PowerSourceError, match="'rapl' is not available: no RAPL zones"):
        get_source("rapl", root=tmp_path)


def _deny_reads_of(monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    """Make ``open`` refuse counter files the way the kernel does for a non-root user (EACCES).

    Tests run as root, which reads a chmod-000 file anyway, so the refusal is simulated at the ``open``
    binding; the real chmod case runs in the test below when not root.
    """
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        if str(file).endswith(suffix):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)


def test_unreadable_counter_says_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    make_rapl_tree(tmp_path)
    _deny_reads_of(monkeypatch, "energy_uj")
    reason = RaplSource.unavailable_reason(tmp_path)
    assert "not readable by this user" in reason and "chmod a+r" in reason
    with pytest.raises(RaplPermissionError, match="permission denied"):
        RaplSource(tmp_path)
    assert "rapl" not in detect_sources(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads chmod-000 files; covered by the open-binding test")
def test_unreadable_counter_real_permissions(tmp_path: Path):
    base = make_rapl_tree(tmp_path)
    (base / "intel-rapl:0" / "energy_uj").chmod(0)
    assert "not readable by this user" in RaplSource.unavailable_reason(tmp_path)


def test_directory_where_counter_expected(tmp_path: Path):
    base = make_rapl_tree(tmp_path)
    counter = base / "intel-rapl:0:1" / "energy_uj"
    counter.unlink()
    counter.mkdir()
    reason = RaplSource.unavailable_reason(tmp_path)
    assert "could not be read" in reason and "intel-rapl:0:1" in reason
    with pytest.raises(RaplError):
        RaplSource(tmp_path)


def test_average_power_since_previous_call(tmp_path: Path):
    base = make_rapl_tree(tmp_path, package_uj=0)
    with RaplSource(tmp_path) as source:
        source.power_w()  # starts the interval
        write(base / "intel-rapl:0" / "energy_uj", "1000000")
        power = source.power_w()
    assert power["package-0"] > 0
    assert power["dram-0"] == 0.0
