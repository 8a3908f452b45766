"""NVIDIA GPUs through NVML (``nvidia-ml-py``, imported lazily as ``pynvml``).

* Energy: ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since the driver loaded; Volta and newer),
  differenced across a window. GPUs without that counter fall back to integrating polled power.
* Power: the instantaneous power field (``NVML_FI_DEV_POWER_INSTANT``, mW) where the driver and the
  installed pynvml have it, else ``nvmlDeviceGetPowerUsage`` (mW; on Ampere and newer that is a 1 s
  average, so the instant field is preferred).
* Telemetry: GPU utilisation (%), memory used (bytes), SM and memory clocks (MHz), temperature (C).
* Update period: measured, by polling the energy counter (or the power reading) and timing its changes.

``pynvml.NVMLError`` never leaves this module: every call goes through :meth:`NvmlSource._call`, which
turns it into :class:`NvmlError`.
"""

from __future__ import annotations

import contextlib
import math
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from layerpower.errors import PowerSourceError
from layerpower.profiling.power.base import (
    CounterAccumulator,
    PowerIntegrator,
    PowerSource,
    measure_update_period,
)

#: used when the counter does not change while we time it (documented fallback: NVML's ~100 ms)
DEFAULT_UPDATE_PERIOD_S = 0.1
#: polling interval of the power integrator on GPUs without an energy counter
INTEGRATOR_INTERVAL_S = 0.02

#: NVML value type -> field of c_nvmlValue_t
_VALUE_FIELDS = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}

#: measured update periods, per GPU name (measuring takes up to a second; do it once per process)
_PERIOD_CACHE: dict[str, float] = {}
_PERIOD_LOCK = threading.Lock()


class NvmlError(PowerSourceError):
    """NVML is missing, failed to start, or a call to it failed."""


def import_pynvml() -> ModuleType:
    """Import ``pynvml`` or raise :class:`NvmlError` naming the package to install."""
    try:
        import pynvml
    except ImportError:
        raise NvmlError("nvidia-ml-py (pynvml) is not installed", hint="pip install nvidia-ml-py") from None
    return pynvml


def _describe(exc: BaseException) -> str:
    return f"{exc} ({type(exc).__name__})"


class NvmlSource(PowerSource):
    """Energy and power of NVIDIA GPUs (devices ``gpu0``, ``gpu1``, ... by NVML index)."""

    name = "nvml"
    is_estimate = False

    def __init__(
        self,
        gpus: list[int] | None = None,
        *,
        update_period_s: float | None = None,
        root: str | Path = "/",
    ) -> None:
        """Open NVML for GPU indices ``gpus`` (None: all). ``root`` is accepted for a uniform signature;
        NVML reads no files."""
        self._nvml = import_pynvml()
        self._closed = False
        self._call("nvmlInit")
        try:
            count = int(self._call("nvmlDeviceGetCount"))
            indices = list(range(count)) if gpus is None else [int(g) for g in gpus]
            for index in indices:
                if not 0 <= index < count:
                    raise NvmlError(
                        f"GPU index {index} does not exist",
                        hint=f"this machine has {count} GPU(s), indices 0..{count - 1}"
                        if count
                        else "no GPU found",
                    )
            if not indices:
                raise NvmlError("no GPU selected", hint="pass GPU indices, e.g. --gpus 0")
            self.indices = indices
            self._handles = {f"gpu{i}": self._call("nvmlDeviceGetHandleByIndex", i) for i in indices}
            self.names = {dev: str(self._call("nvmlDeviceGetName", h)) for dev, h in self._handles.items()}
            self._power_field = {dev: self._probe_power_field(h) for dev, h in self._handles.items()}
            self.has_energy_counter = all(self._has_counter(h) for h in self._handles.values())
        except BaseException:
            self.close()
            raise
        self._counter = CounterAccumulator()
        self._integrator = (
            None if self.has_energy_counter else PowerIntegrator(self.power_w, INTEGRATOR_INTERVAL_S).start()
        )
        self._period = update_period_s

    # -- the NVML boundary --------------------------------------------------------------------------------

    def _call(self, fn_name: str, *args: Any) -> Any:
        """Call ``pynvml.<fn_name>(*args)``, turning any NVMLError into :class:`NvmlError`."""
        try:
            return getattr(self._nvml, fn_name)(*args)
        except self._nvml.NVMLError as exc:
            raise NvmlError(f"NVML call {fn_name} failed: {_describe(exc)}") from None

    @classmethod
    def _probe(cls, root: Path) -> str | None:
        try:
            nvml = import_pynvml()
        except NvmlError as exc:
            return exc.message
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            return f"NVML could not start: {_describe(exc)} (no NVIDIA driver on this machine?)"
        try:
            if nvml.nvmlDeviceGetCount() == 0:
                return "NVML found no GPU"
        except nvml.NVMLError as exc:
            return f"NVML could not count GPUs: {_describe(exc)}"
        finally:
            with contextlib.suppress(nvml.NVMLError):
                nvml.nvmlShutdown()
        return None

    def _has_counter(self, handle: Any) -> bool:
        try:
            self._nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        except self._nvml.NVMLError:
            return False
        return True

    def _probe_power_field(self, handle: Any) -> int | None:
        field_id = getattr(self._nvml, "NVML_FI_DEV_POWER_INSTANT", None)
        if field_id is None or not hasattr(self._nvml, "nvmlDeviceGetFieldValues"):
            return None
        try:
            self._read_field(handle, field_id)
        except (self._nvml.NVMLError, NvmlError):
            return None
        return int(field_id)

    def _read_field(self, handle: Any, field_id: int) -> float:
        value = self._nvml.nvmlDeviceGetFieldValues(handle, [field_id])[0]
        if value.nvmlReturn != self._nvml.NVML_SUCCESS:
            raise NvmlError(f"NVML field {field_id} not readable (return code {value.nvmlReturn})")
        return float(getattr(value.value, _VALUE_FIELDS.get(int(value.valueType), "uiVal")))

    # -- readings -----------------------------------------------------------------------------------------

    def devices(self) -> list[str]:
        return list(self._handles)

    def _raw_energy_mj(self) -> dict[str, float]:
        return {
            dev: float(self._call("nvmlDeviceGetTotalEnergyConsumption", h))
            for dev, h in self._handles.items()
        }

    def energy_j(self) -> dict[str, float]:
        """Cumulative energy per GPU in J (counter, mJ -> J; or integrated power without one)."""
        if self._integrator is not None:
            return self._integrator.energy_j()
        return {dev: mj / 1000.0 for dev, mj in self._counter.update(self._raw_energy_mj()).items()}

    def energy_reading(self) -> tuple[float, dict[str, float]]:
        if self._integrator is not None:
            return self._integrator.reading()
        return super().energy_reading()

    def power_w(self) -> dict[str, float]:
        """Instantaneous power per GPU in W (mW -> W)."""
        out: dict[str, float] = {}
        for dev, handle in self._handles.items():
            field_id = self._power_field[dev]
            if field_id is not None:
                try:
                    out[dev] = self._read_field(handle, field_id) / 1000.0
                    continue
                except (self._nvml.NVMLError, NvmlError):
                    self._power_field[dev] = None  # fall back for good
            out[dev] = float(self._call("nvmlDeviceGetPowerUsage", handle)) / 1000.0
        return out

    def telemetry(self) -> dict[str, dict[str, float]]:
        """Per GPU: utilization_pct, memory_used_bytes, sm_clock_mhz, mem_clock_mhz, temperature_c (NaN if
        the GPU does not report one)."""
        nvml = self._nvml
        reads = {
            "utilization_pct": lambda h: nvml.nvmlDeviceGetUtilizationRates(h).gpu,
            "memory_used_bytes": lambda h: nvml.nvmlDeviceGetMemoryInfo(h).used,
            "sm_clock_mhz": lambda h: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM),
            "mem_clock_mhz": lambda h: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_MEM),
            "temperature_c": lambda h: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU),
        }
        out: dict[str, dict[str, float]] = {}
        for dev, handle in self._handles.items():
            row: dict[str, float] = {}
            for key, read in reads.items():
                try:
                    row[key] = float(read(handle))
                except nvml.NVMLError:
                    row[key] = math.nan
            out[dev] = row
        return out

    @property
    def update_period_s(self) -> float:
        """The measured refresh period of the energy counter (or of the power reading), in seconds."""
        if self._period is None:
            first = next(iter(self._handles))
            key = f"{self.names[first]}|{'counter' if self.has_energy_counter else 'power'}"
            with _PERIOD_LOCK:
                if key not in _PERIOD_CACHE:
                    if self.has_energy_counter:
                        measured = measure_update_period(lambda: self._raw_energy_mj()[first])
                    else:
                        measured = measure_update_period(lambda: self.power_w()[first])
                    _PERIOD_CACHE[key] = measured if measured is not None else DEFAULT_UPDATE_PERIOD_S
                self._period = _PERIOD_CACHE[key]
        return self._period

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["device_names"] = dict(self.names)
        info["power_reading"] = {
            dev: ("instant field" if fid is not None else "nvmlDeviceGetPowerUsage")
            for dev, fid in self._power_field.items()
        }
        return info

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        integrator = getattr(self, "_integrator", None)
        if integrator is not None:
            integrator.close()
        with contextlib.suppress(self._nvml.NVMLError):
            self._nvml.nvmlShutdown()
