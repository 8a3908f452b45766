"""Fakes at the hardware binding for the power-source tests: an autospec ``pynvml`` and sysfs trees.

Imported by the power test modules (not a test module itself).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from unittest.mock import create_autospec

import pynvml as real_pynvml
import pytest

from layerpower.profiling.power import clear_probe_cache


@pytest.fixture(autouse=True)
def fresh_probes() -> Iterator[None]:
    """Availability probes are cached per process; every test starts from a clean cache."""
    clear_probe_cache()
    from layerpower.profiling.power import nvml

    nvml._PERIOD_CACHE.clear()
    yield
    clear_probe_cache()
    nvml._PERIOD_CACHE.clear()


@dataclass
class FakeGpu:
    """State of one fake GPU. ``power_fn(t)`` (W, t = perf_counter) drives power and, if
    ``counter_from_power``, the energy counter as its exact integral ``energy_fn(t)`` (J)."""

    name: str = "NVIDIA H100 80GB HBM3"
    energy_mj: int = 0
    power_mw: int = 250_000
    instant_field: bool = True
    energy_counter: bool = True
    energy_fn: Callable[[float], float] | None = None
    counter_period_s: float | None = None  # quantise the time-driven counter to this period
    power_fn: Callable[[float], float] | None = None
    telemetry_missing: set[str] = field(default_factory=set)

    def counter(self) -> int:
        if self.energy_fn is None:
            return self.energy_mj
        t = time.perf_counter()
        if self.counter_period_s:
            t = math.floor(t / self.counter_period_s) * self.counter_period_s
        return int(self.energy_fn(t) * 1000)

    def power(self) -> int:
        return int(self.power_fn(time.perf_counter()) * 1000) if self.power_fn else self.power_mw


class Handle:
    def __init__(self, index: int) -> None:
        self.index = index


def _error(code: int) -> real_pynvml.NVMLError:
    return real_pynvml.NVMLError(code)


def make_fake_pynvml(
    gpus: list[FakeGpu], *, init_error: int | None = None, has_instant_constant: bool = True
):
    """A ``pynvml`` stand-in: ``create_autospec`` of the real module (signatures checked), with the real
    constants, exception classes and ctypes structures, driven by ``gpus``."""
    fake = create_autospec(real_pynvml)
    for name in dir(real_pynvml):
        value = getattr(real_pynvml, name)
        if isinstance(value, int | float | str) or (
            isinstance(value, type) and issubclass(value, BaseException)
        ):
            setattr(fake, name, value)
    fake.c_nvmlFieldValue_t = real_pynvml.c_nvmlFieldValue_t
    if not has_instant_constant:
        del fake.NVML_FI_DEV_POWER_INSTANT

    def init() -> None:
        if init_error is not None:
            raise _error(init_error)

    def handle(index: int) -> Handle:
        if not 0 <= index < len(gpus):
            raise _error(real_pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return Handle(index)

    def energy(h: Handle) -> int:
        gpu = gpus[h.index]
        if not gpu.energy_counter:
            raise _error(real_pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu.counter()

    def field_values(h: Handle, field_ids: list[int]):
        gpu = gpus[h.index]
        values = (real_pynvml.c_nvmlFieldValue_t * len(field_ids))()
        for i, fid in enumerate(field_ids):
            values[i].fieldId = fid
            if fid == real_pynvml.NVML_FI_DEV_POWER_INSTANT and gpu.instant_field:
                values[i].nvmlReturn = real_pynvml.NVML_SUCCESS
                values[i].valueType = real_pynvml.NVML_VALUE_TYPE_UNSIGNED_INT
                values[i].value.uiVal = gpu.power()
            else:
                values[i].nvmlReturn = real_pynvml.NVML_ERROR_NOT_SUPPORTED
        return values

    def telemetry(key: str, value: Callable[[Handle], object]) -> Callable[..., object]:
        def read(h: Handle, *args: object) -> object:
            if key in gpus[h.index].telemetry_missing:
                raise _error(real_pynvml.NVML_ERROR_NOT_SUPPORTED)
            return value(h)

        return read

    class Util:
        gpu = 87
        memory = 40

    class Mem:
        total = 80 * 2**30
        used = 3 * 2**30
        free = total - used

    fake.nvmlInit.side_effect = init
    fake.nvmlShutdown.return_value = None
    fake.nvmlDeviceGetCount.side_effect = lambda: len(gpus)
    fake.nvmlDeviceGetHandleByIndex.side_effect = handle
    fake.nvmlDeviceGetName.side_effect = lambda h: gpus[h.index].name
    fake.nvmlDeviceGetTotalEnergyConsumption.side_effect = energy
    fake.nvmlDeviceGetFieldValues.side_effect = field_values
    fake.nvmlDeviceGetPowerUsage.side_effect = lambda h: gpus[h.index].power()
    fake.nvmlDeviceGetUtilizationRates.side_effect = telemetry("utilization", lambda h: Util())
    fake.nvmlDeviceGetMemoryInfo.side_effect = telemetry("memory", lambda h: Mem())
    fake.nvmlDeviceGetClockInfo.side_effect = telemetry("clock", lambda h: 1980)
    fake.nvmlDeviceGetTemperature.side_effect = telemetry("temperature", lambda h: 41)
    return fake


def install_pynvml(monkeypatch: pytest.MonkeyPatch, gpus: list[FakeGpu], **kw: object):
    """Install a fake ``pynvml`` (see :func:`make_fake_pynvml`) for ``import pynvml``; returns it."""
    fake = make_fake_pynvml(gpus, **kw)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    clear_probe_cache()
    return fake


def hide_pynvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import pynvml`` fail, as on a machine without nvidia-ml-py."""
    monkeypatch.setitem(sys.modules, "pynvml", None)
    clear_probe_cache()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    return path


def make_rapl_tree(
    root: Path,
    *,
    package_uj: int = 1_000_000,
    dram_uj: int = 500_000,
    max_range_uj: int = 262_143_328_850,
    prefix: str = "intel-rapl",
) -> Path:
    """A powercap tree like an Intel server's: package-0 with core and dram sub-zones, plus psys and mmio."""
    base = root / "sys" / "class" / "powercap"
    pkg = base / f"{prefix}:0"
    write(pkg / "name", "package-0")
    write(pkg / "energy_uj", str(package_uj))
    write(pkg / "max_energy_range_uj", str(max_range_uj))
    write(base / f"{prefix}:0:0" / "name", "core")
    write(base / f"{prefix}:0:0" / "energy_uj", "123")
    write(base / f"{prefix}:0:1" / "name", "dram")
    write(base / f"{prefix}:0:1" / "energy_uj", str(dram_uj))
    write(base / f"{prefix}:0:1" / "max_energy_range_uj", str(max_range_uj))
    write(base / f"{prefix}:1" / "name", "psys")
    write(base / f"{prefix}:1" / "energy_uj", "999")
    write(base / "intel-rapl-mmio:0" / "name", "package-0")
    write(base / "intel-rapl-mmio:0" / "energy_uj", "777")
    (base / "intel-rapl").mkdir(exist_ok=True)  # the control-type directory, no counter
    return base


def make_jetson_hwmon_tree(
    root: Path, rails: dict[str, tuple[int, int]], *, update_interval_ms: int | None = 10
) -> Path:
    """An INA3221 hwmon tree (JetPack 5+): rails as label -> (mV, mA), plus a channel without current."""
    hwmon = root / "sys" / "bus" / "i2c" / "drivers" / "ina3221" / "1-0040" / "hwmon" / "hwmon3"
    for k, (label, (mv, ma)) in enumerate(rails.items(), start=1):
        write(hwmon / f"in{k}_label", label)
        write(hwmon / f"in{k}_input", str(mv))
        write(hwmon / f"curr{k}_input", str(ma))
    extra = len(rails) + 1
    write(hwmon / f"in{extra}_label", "sum of shunt voltages")
    write(hwmon / f"in{extra}_input", "40")
    if update_interval_ms is not None:
        write(hwmon / "update_interval", str(update_interval_ms))
    return hwmon


def make_jetson_iio_tree(root: Path, rails: dict[str, int]) -> Path:
    """An INA3221x iio tree (JetPack 4): rails as name -> mW."""
    iio = root / "sys" / "bus" / "i2c" / "drivers" / "ina3221x" / "6-0040" / "iio:device0"
    for k, (label, mw) in enumerate(rails.items()):
        write(iio / f"rail_name_{k}", label)
        write(iio / f"in_power{k}_input", str(mw))
    return iio
