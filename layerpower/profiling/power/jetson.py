"""NVIDIA Jetson power rails through the on-board INA3221 monitors.

Two sysfs layouts are read (under ``<root>/sys/bus/i2c/drivers/``):

* JetPack 5 and newer, hwmon: ``ina3221/<bus-addr>/hwmon/hwmon<N>/`` with ``in<K>_label`` (rail name),
  ``in<K>_input`` (bus voltage, mV) and ``curr<K>_input`` (current, mA): power = V x I.
  ``update_interval`` (ms), where present, is the monitor's refresh period.
* JetPack 4, iio: ``ina3221x/<bus-addr>/iio:device<N>/`` with ``rail_name_<K>`` and
  ``in_power<K>_input`` (mW).

The INA3221 has no energy counter, so energy is power polled by a background thread and integrated with
the trapezoid rule. Devices are the rail names (e.g. ``VDD_IN``, ``VDD_CPU_GPU_CV``, ``VDD_SOC``). The
total is the module's input rail (``VDD_IN`` or ``POM_5V_IN``) where the board has one, since the other
rails are branches of it; otherwise the sum of the rails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from layerpower.errors import PowerSourceError
from layerpower.profiling.power.base import PowerIntegrator, PowerSource, read_text

#: refresh period assumed when the monitor does not publish ``update_interval`` (conservative)
DEFAULT_UPDATE_PERIOD_S = 0.05
#: rails that carry the whole module's input power
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")


class JetsonError(PowerSourceError):
    """INA3221 rails are missing or cannot be read."""


@dataclass(frozen=True)
class Rail:
    """One INA3221 channel: either voltage (mV) and current (mA) files, or a power (mW) file."""

    label: str
    voltage_path: Path | None = None
    current_path: Path | None = None
    power_path: Path | None = None

    def read_w(self) -> float:
        try:
            if self.power_path is not None:
                return float(read_text(self.power_path)) / 1000.0
            assert self.voltage_path is not None and self.current_path is not None
            return float(read_text(self.voltage_path)) * float(read_text(self.current_path)) / 1e6
        except (OSError, ValueError) as exc:
            raise JetsonError(f"INA3221 rail {self.label} could not be read: {exc}") from None


def _drivers(root: Path) -> Path:
    return root / "sys" / "bus" / "i2c" / "drivers"


def _enabled(directory: Path, channel: str) -> bool:
    try:
        return read_text(directory / f"in{channel}_enable") != "0"
    except OSError:
        return True


def find_rails(root: str | Path = "/") -> tuple[list[Rail], float | None]:
    """The rails under ``root`` and the monitors' refresh period in seconds (None if not published)."""
    drivers = _drivers(Path(root))
    rails: list[Rail] = []
    period: float | None = None
    for hwmon in sorted(drivers.glob("ina3221*/*/hwmon/hwmon*")):
        try:
            interval_ms = float(read_text(hwmon / "update_interval"))
            if interval_ms > 0:
                period = max(period or 0.0, interval_ms / 1000.0)
        except (OSError, ValueError):
            pass
        for label_file in sorted(hwmon.glob("in*_label")):
            channel = re.fullmatch(r"in(\d+)_label", label_file.name)
            if channel is None:
                continue
            k = channel.group(1)
            voltage, current = hwmon / f"in{k}_input", hwmon / f"curr{k}_input"
            if not (voltage.exists() and current.exists()) or not _enabled(hwmon, k):
                continue  # e.g. the "sum of shunt voltages" channel has no current
            try:
                label = read_text(label_file)
            except OSError:
                continue
            rails.append(Rail(label, voltage_path=voltage, current_path=current))
    for iio in sorted(drivers.glob("ina3221x/*/iio:device*")):
        for name_file in sorted(iio.glob("rail_name_*")):
            k = name_file.name.rsplit("_", 1)[-1]
            power = iio / f"in_power{k}_input"
            if not power.exists():
                continue
            try:
                label = read_text(name_file)
            except OSError:
                continue
            rails.append(Rail(label, power_path=power))
    seen: dict[str, int] = {}
    unique: list[Rail] = []
    for rail in rails:
        seen[rail.label] = seen.get(rail.label, 0) + 1
        label = rail.label if seen[rail.label] == 1 else f"{rail.label}-{seen[rail.label]}"
        unique.append(Rail(label, rail.voltage_path, rail.current_path, rail.power_path))
    return unique, period


class JetsonSource(PowerSource):
    """Power of a Jetson module's INA3221 rails; energy integrated from polled power."""

    name = "jetson"
    is_estimate = False
    has_energy_counter = False

    def __init__(self, root: str | Path = "/", *, update_period_s: float | None = None) -> None:
        self.root = Path(root)
        self.rails, published = find_rails(self.root)
        if not self.rails:
            raise JetsonError(f"no INA3221 rails under {_drivers(self.root)}")
        self.power_w()  # clear error now if a rail is unreadable
        self._period = float(update_period_s or published or DEFAULT_UPDATE_PERIOD_S)
        self._integrator = PowerIntegrator(self.power_w, max(self._period, 0.005)).start()

    @classmethod
    def _probe(cls, root: Path) -> str | None:
        rails, _ = find_rails(root)
        if not rails:
            return f"no INA3221 power monitors under {_drivers(root)} (not a Jetson board)"
        try:
            for rail in rails:
                rail.read_w()
        except JetsonError as exc:
            return str(exc)
        return None

    def devices(self) -> list[str]:
        return [rail.label for rail in self.rails]

    @property
    def update_period_s(self) -> float:
        return self._period

    def power_w(self) -> dict[str, float]:
        """Instantaneous power per rail in W (mV x mA, or mW)."""
        return {rail.label: rail.read_w() for rail in self.rails}

    def energy_j(self) -> dict[str, float]:
        """Cumulative energy per rail in J, integrated from power polled every update period."""
        return self._integrator.energy_j()

    def energy_reading(self) -> tuple[float, dict[str, float]]:
        return self._integrator.reading()

    def total(self, per_device: dict[str, float]) -> float:
        for rail in INPUT_RAILS:
            if rail in per_device:
                return float(per_device[rail])
        return float(sum(per_device.values()))

    def close(self) -> None:
        integrator = getattr(self, "_integrator", None)
        if integrator is not None:
            integrator.close()
