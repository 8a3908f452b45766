"""A background thread that records power, utilisation and memory as a time series.

::

    with Sampler(interval_s=0.1) as sampler:
        run_the_work()
    frame = sampler.frame()        # one row per sample
    joules = sampler.energy_j()    # {"gpu0": ..., "cpu": ...}: the power columns integrated (trapezoid)

Columns (SI units; power in W, memory in bytes, utilisation in %):

* ``timestamp`` -- Unix time in seconds (a monotonic clock anchored at start, so it never steps back);
* per sampled GPU ``i``: ``gpu_{i}_power`` (NVML, instantaneous), ``gpu_{i}_utilization``,
  ``gpu_{i}_memory_used``;
* ``cpu_power`` -- from the CPU power source (RAPL package + DRAM, the estimate, or on a Jetson the
  module's input rail), averaged over the interval since the previous sample; ``cpu_utilization``
  (machine-wide busy %), ``memory_used`` (system RAM in use);
* provenance, in every row so that a CSV carries it: ``source`` and ``is_estimate`` (the primary power
  source), ``gpu_power_source``, ``cpu_power_source``, ``cpu_power_is_estimate``. The same facts are in
  ``frame.attrs``.

The GPU columns come from NVML when the primary source is ``nvml``; the CPU power source is the primary
source itself when that is a CPU-side one, else the best of RAPL and the estimate.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerpower.errors import PowerSourceError
from layerpower.profiling.power import PowerSource, get_source
from layerpower.profiling.power.estimate import cpu_busy_and_total


def integrate_power(timestamps: Any, power_w: Any) -> float:
    """Energy in J of a power series (W) over its timestamps (s), by the trapezoid rule. NaNs skipped."""
    from scipy.integrate import trapezoid

    t = np.asarray(timestamps, dtype=float)
    p = np.asarray(power_w, dtype=float)
    keep = np.isfinite(t) & np.isfinite(p)
    if keep.sum() < 2:
        return 0.0
    return float(trapezoid(p[keep], t[keep]))


def power_columns(frame: pd.DataFrame) -> dict[str, str]:
    """Map device -> power column in a sampler frame: ``gpu_{i}_power`` -> ``gpu{i}``, ``cpu_power`` -> ``cpu``."""
    out: dict[str, str] = {}
    for column in frame.columns:
        if column.startswith("gpu_") and column.endswith("_power") and column != "gpu_power_source":
            out["gpu" + column[len("gpu_") : -len("_power")]] = column
    if "cpu_power" in frame.columns:
        out["cpu"] = "cpu_power"
    return out


def integrate_frame(frame: pd.DataFrame) -> dict[str, float]:
    """Energy in J per device of a sampler frame (its power columns integrated over ``timestamp``)."""
    return {
        device: integrate_power(frame["timestamp"], frame[col])
        for device, col in power_columns(frame).items()
    }


#: a phase must span at least this many sampling intervals for its samples to be integrated
MIN_PHASE_INTERVALS = 3
#: relative excess over a source's maximum power that counts as impossible (clock rounding stays below)
CAP_TOLERANCE = 1e-3


def integrate_between(timestamps: Any, power_w: Any, start_s: float, end_s: float) -> float:
    """Energy in J of a power series (W) between ``start_s`` and ``end_s`` (s): the trapezoid integral of
    the series clipped to that span, the edges linearly interpolated. NaN when the series has < 2 points."""
    t = np.asarray(timestamps, dtype=float)
    p = np.asarray(power_w, dtype=float)
    keep = np.isfinite(t) & np.isfinite(p)
    t, p = t[keep], p[keep]
    if len(t) < 2 or not end_s > start_s:
        return float("nan")
    order = np.argsort(t, kind="stable")
    t, p = t[order], p[order]
    lo, hi = max(start_s, t[0]), min(end_s, t[-1])
    if not hi > lo:
        return float("nan")
    inside = (t > lo) & (t < hi)
    ts = np.concatenate(([lo], t[inside], [hi]))
    ps = np.concatenate(([np.interp(lo, t, p)], p[inside], [np.interp(hi, t, p)]))
    return float(np.sum(0.5 * (ps[1:] + ps[:-1]) * np.diff(ts)))


@dataclass(frozen=True)
class PhaseEnergy:
    """Energy of one phase per device in J (NaN where not measurable), how it was found, and why.

    ``method`` is ``integrated`` (the samples, clipped to the phase), ``window`` (a meter window around the
    phase) or ``none``; ``note`` says why a window or nothing was used (empty when integrated).
    """

    energy_j: dict[str, float]
    method: str
    note: str = ""

    @property
    def total_j(self) -> float:
        """All devices together in J; NaN when any is NaN or there are none."""
        values = list(self.energy_j.values())
        return float(sum(values)) if values and all(np.isfinite(values)) else float("nan")


def phase_energy(
    frame: pd.DataFrame,
    start_s: float,
    end_s: float,
    *,
    interval_s: float,
    window_j: Mapping[str, float] | None = None,
    window_s: float | None = None,
    window_note: str = "no meter window",
    max_power_w: Mapping[str, float] | None = None,
    duration_s: float | None = None,
) -> PhaseEnergy:
    """Energy per device of the phase ``[start_s, end_s]`` (Unix s, as the frame's ``timestamp``).

    A phase of at least :data:`MIN_PHASE_INTERVALS` sampling intervals ``interval_s`` integrates the
    frame's power columns over the phase. A shorter one, or one whose integral implies a power above a
    device's ``max_power_w`` (W; known for the estimate, which cannot exceed its TDP), takes ``window_j``
    (J per device from a meter window around the phase, ``window_s`` long, default the phase) when that is
    finite and within the maxima: the window's average power times the phase's duration. Else every device
    is NaN and ``note`` says why (``window_note``: why there is no usable window). ``duration_s``: the
    phase's length from a finer clock than its Unix edges (which resolve only ~0.2 us).
    """
    duration = float(end_s - start_s) if duration_s is None else float(duration_s)
    caps = dict(max_power_w or {})
    devices = list(power_columns(frame)) or list(window_j or {})

    def over_cap(energies: Mapping[str, float], seconds: float) -> str:
        for device, energy in energies.items():
            cap = caps.get(device)
            # a phase at full load integrates to the cap itself; edges timed on two clocks differ by ~us
            if cap is not None and seconds > 0 and energy / seconds > cap * (1 + CAP_TOLERANCE):
                return f"{device} {energy / seconds:.2f} W above the source's maximum {cap:.2f} W"
        return ""

    span = f"phase of {duration * 1e3:.1f} ms"
    limit = MIN_PHASE_INTERVALS * interval_s
    if duration >= limit:
        integrated = {
            device: integrate_between(frame["timestamp"], frame[column], start_s, end_s)
            for device, column in power_columns(frame).items()
        }
        if integrated and all(np.isfinite(list(integrated.values()))):
            excess = over_cap(integrated, duration)
            if not excess:
                return PhaseEnergy(integrated, "integrated")
            reason = f"the samples' integral implies {excess}"
        else:
            reason = f"the samples do not cover the {span}"
    else:
        reason = f"{span} is shorter than {MIN_PHASE_INTERVALS} sampling intervals ({limit * 1e3:.0f} ms)"
    if window_j is not None:
        seconds = duration if window_s is None else float(window_s)
        window = {device: float(window_j.get(device, np.nan)) for device in devices}
        excess = over_cap(window, seconds)
        if window and seconds > 0 and all(np.isfinite(list(window.values()))) and not excess:
            scaled = {device: energy * duration / seconds for device, energy in window.items()}
            return PhaseEnergy(scaled, "window", f"{reason}: energy from a meter window around the phase")
        window_note = f"the meter window implies {excess}" if excess else "the meter window has no reading"
    nan = {device: float("nan") for device in devices}
    return PhaseEnergy(nan, "none", f"not measurable: {reason}, and {window_note}")


class MemoryUsed:
    """System RAM in use in bytes (MemTotal - MemAvailable, as :func:`psutil.virtual_memory` ``used``).

    Reads ``<root>/proc/meminfo`` through a file kept open (about 10x cheaper than psutil, which parses
    every line); falls back to psutil where that file does not exist.
    """

    def __init__(self, root: str | Path = "/") -> None:
        self._fd: int | None = None
        try:
            self._fd = os.open(Path(root) / "proc" / "meminfo", os.O_RDONLY)
            self()
        except (OSError, ValueError):
            self.close()

    @staticmethod
    def _kib(data: bytes, key: bytes) -> int:
        start = data.index(key) + len(key)
        return int(data[start : data.index(b"kB", start)])

    def __call__(self) -> float:
        if self._fd is None:
            import psutil

            return float(psutil.virtual_memory().used)
        data = os.pread(self._fd, 16384, 0)
        return float((self._kib(data, b"MemTotal:") - self._kib(data, b"MemAvailable:")) * 1024)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Sampler:
    """Samples power, utilisation and memory every ``interval_s`` seconds in a daemon thread.

    ``source`` is the primary power source (instance, name, or None for the best); ``gpus`` selects NVML
    GPU indices (None: all). ``cpu_source`` overrides the CPU power source (a name or instance; ``"none"``
    to record no CPU power). ``tdp_w`` and ``root`` are passed on when sources are opened here.
    """

    def __init__(
        self,
        interval_s: float = 0.1,
        source: str | PowerSource | None = None,
        gpus: list[int] | None = None,
        *,
        cpu_source: str | PowerSource | None = None,
        tdp_w: float | None = None,
        root: str | Path = "/",
    ) -> None:
        if not interval_s > 0:
            raise PowerSourceError(f"sampling interval must be positive, got {interval_s}")
        import psutil

        self._psutil = psutil
        self.interval_s = float(interval_s)
        self._opened: list[PowerSource] = []
        self.source = self._open(source, root=root, tdp_w=tdp_w, gpus=gpus)
        self.gpu_source = self.source if self.source.name == "nvml" else None
        if self.gpu_source is not None and gpus is not None:
            wanted = {f"gpu{int(g)}" for g in gpus}
            self._gpu_devices = [d for d in self.gpu_source.devices() if d in wanted]
        else:
            self._gpu_devices = self.gpu_source.devices() if self.gpu_source is not None else []
        if cpu_source == "none":
            self.cpu_source: PowerSource | None = None
        elif cpu_source is not None:
            self.cpu_source = self._open(cpu_source, root=root, tdp_w=tdp_w, gpus=None)
        elif self.source.name != "nvml":
            self.cpu_source = self.source
        else:
            rapl = get_source("rapl", root=root) if _available("rapl", root) else None
            self.cpu_source = rapl or get_source("estimate", root=root, tdp_w=tdp_w)
            self._opened.append(self.cpu_source)
        self._memory_used = MemoryUsed(root)
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._prev: tuple[float, float, float, float] | None = None  # t, cpu energy, busy, total

    def _open(self, source: str | PowerSource | None, **kw: Any) -> PowerSource:
        if isinstance(source, PowerSource):
            return source
        opened = get_source(source, **kw)
        self._opened.append(opened)
        return opened

    # -- sampling -------------------------------------------------------------------------------------

    def _sample(self) -> None:
        now = time.perf_counter()
        row: dict[str, Any] = {"timestamp": self._t0_unix + (now - self._t0_perf)}
        if self.gpu_source is not None:
            power = self.gpu_source.power_w()
            telemetry = self.gpu_source.telemetry()
            for dev in self._gpu_devices:
                i = dev[len("gpu") :]
                tel = telemetry.get(dev, {})
                row[f"gpu_{i}_power"] = power.get(dev, np.nan)
                row[f"gpu_{i}_utilization"] = tel.get("utilization_pct", np.nan)
                row[f"gpu_{i}_memory_used"] = tel.get("memory_used_bytes", np.nan)
        busy, total = cpu_busy_and_total(self._psutil.cpu_times())
        if self.cpu_source is not None:
            t_cpu, energy = self.cpu_source.energy_reading()
            cpu_energy = self.cpu_source.total(energy)
        else:
            t_cpu, cpu_energy = now, np.nan
        if self._prev is None:
            row["cpu_power"] = np.nan  # no interval yet: filled from the next sample
            row["cpu_utilization"] = np.nan
        else:
            t_prev, e_prev, busy_prev, total_prev = self._prev
            row["cpu_power"] = (cpu_energy - e_prev) / max(t_cpu - t_prev, 1e-9)
            d_total = total - total_prev
            row["cpu_utilization"] = 100.0 * (busy - busy_prev) / d_total if d_total > 0 else np.nan
        row["memory_used"] = self._memory_used()
        self._prev = (t_cpu, cpu_energy, busy, total)
        with self._lock:
            self._rows.append(row)

    def _run(self) -> None:
        next_at = time.perf_counter()
        while True:
            next_at += self.interval_s
            if self._stop.wait(max(0.0, next_at - time.perf_counter())):
                return
            try:
                self._sample()
            except BaseException as exc:  # surfaced by stop()
                self._error = exc
                return

    def start(self) -> Sampler:
        """Take the first sample now and keep sampling in the background."""
        if self._thread is not None:
            raise PowerSourceError("this sampler is already running")
        self._t0_perf = time.perf_counter()
        self._t0_unix = time.time()
        self._stop.clear()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="layerpower-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> pd.DataFrame:
        """Stop sampling (taking a last sample now) and return the frame."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            if self._error is None:
                self._sample()
        if self._error is not None:
            error, self._error = self._error, None
            if isinstance(error, PowerSourceError):
                raise error
            raise PowerSourceError(f"sampling failed: {error}") from error
        return self.frame()

    def close(self) -> None:
        """Stop if running and close the sources this sampler opened."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        for source in self._opened:
            source.close()
        self._opened = []
        self._memory_used.close()

    def __enter__(self) -> Sampler:
        return self.start()

    @property
    def gpu_devices(self) -> list[str]:
        """The sampled GPUs (``gpu0``...), in the frame's device names."""
        return list(self._gpu_devices)

    def max_power_w(self) -> dict[str, float]:
        """The most each sampled device can draw, in W, where a source knows it: the estimate's TDP."""
        cpu = self.cpu_source
        tdp = getattr(getattr(cpu, "tdp", None), "tdp_w", None) if cpu is not None else None
        return {"cpu": float(tdp)} if cpu is not None and cpu.is_estimate and tdp else {}

    def unix_time(self, perf_s: float) -> float:
        """A :func:`time.perf_counter` reading on the frame's ``timestamp`` clock (Unix s)."""
        return self._t0_unix + (perf_s - self._t0_perf)

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            if exc_type is None:
                self.stop()
        finally:
            self.close()

    # -- results ----------------------------------------------------------------------------------------

    @property
    def provenance(self) -> dict[str, Any]:
        """Where each power column comes from and whether it is an estimate."""
        cpu = self.cpu_source
        return {
            "source": self.source.name,
            "is_estimate": self.source.is_estimate,
            "gpu_power_source": self.gpu_source.name if self.gpu_source is not None else "",
            "cpu_power_source": cpu.name if cpu is not None else "",
            "cpu_power_is_estimate": bool(cpu is not None and cpu.is_estimate),
        }

    def frame(self) -> pd.DataFrame:
        """The samples so far as a DataFrame (columns in the module docstring), provenance in attrs."""
        with self._lock:
            frame = pd.DataFrame(self._rows)
        if frame.empty:
            frame = pd.DataFrame({"timestamp": pd.Series(dtype=float)})
        for column in ("cpu_power", "cpu_utilization"):
            if column in frame:  # the first sample has no interval: give it the first interval's value
                frame[column] = frame[column].bfill()
        for key, value in self.provenance.items():
            frame[key] = value
        frame.attrs.update(self.provenance)
        frame.attrs["interval_s"] = self.interval_s
        return frame

    def energy_j(self) -> dict[str, float]:
        """Energy in J per device (``gpu0``..., ``cpu``) integrated from the power columns (trapezoid)."""
        return integrate_frame(self.frame())


def _available(name: str, root: str | Path) -> bool:
    from layerpower.profiling.power import source_class

    return source_class(name).is_available(root)
