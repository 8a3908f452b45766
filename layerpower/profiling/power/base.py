"""The small base class every power source implements, and the helpers they share.

A source reads one kind of sensor (NVML, RAPL, Jetson INA3221, or the CPU estimate) and offers two
readings, both in SI units and keyed by device or domain name:

* :meth:`PowerSource.energy_j` -- cumulative energy in joules since the source was opened. Sources with a
  hardware counter (NVML on Volta+, RAPL) difference it; sources without one (Jetson, older GPUs)
  integrate polled power in a background thread (:class:`PowerIntegrator`). The meter differences two
  readings, so the origin does not matter.
* :meth:`PowerSource.power_w` -- power in watts: an instantaneous reading where the sensor has one,
  otherwise the average since the previous ``power_w`` call (see each source).

Units are converted at this edge only; everything above works in joules, watts and seconds.
"""

from __future__ import annotations

import abc
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from layerpower.errors import PowerSourceError

#: cache of probe results: (source class name, root) -> reason it is missing (None when available)
_PROBE_CACHE: dict[tuple[str, str], str | None] = {}
_PROBE_LOCK = threading.Lock()


class PowerSource(abc.ABC):
    """One power sensor (or model). Subclasses set :attr:`name` and implement the abstract methods."""

    #: "nvml" | "rapl" | "jetson" | "estimate"
    name: ClassVar[str] = ""
    #: True when readings come from a model rather than a sensor
    is_estimate: ClassVar[bool] = False

    #: True when :meth:`energy_j` differences a hardware counter; False when it integrates polled power
    has_energy_counter: bool = False

    # -- availability ---------------------------------------------------------------------------------

    @classmethod
    def unavailable_reason(cls, root: str | Path = "/") -> str | None:
        """Why this source cannot be used on the machine under ``root`` (``None`` when it can).

        Cached per class and root; never raises because hardware is absent.
        """
        key = (cls.__name__, str(Path(root)))
        with _PROBE_LOCK:
            if key in _PROBE_CACHE:
                return _PROBE_CACHE[key]
        try:
            reason = cls._probe(Path(root))
        except Exception as exc:  # a probe must never raise: report what went wrong instead
            reason = f"{cls.name} probe failed: {exc}"
        with _PROBE_LOCK:
            _PROBE_CACHE[key] = reason
        return reason

    @classmethod
    def is_available(cls, root: str | Path = "/") -> bool:
        """Whether this source can be used (cached; never raises)."""
        return cls.unavailable_reason(root) is None

    @classmethod
    @abc.abstractmethod
    def _probe(cls, root: Path) -> str | None:
        """Look for the hardware; return the reason it is missing, or ``None``."""

    # -- readings -------------------------------------------------------------------------------------

    @abc.abstractmethod
    def devices(self) -> list[str]:
        """Names of the devices or domains this source reads, e.g. ``["gpu0"]`` or ``["package-0"]``."""

    @property
    @abc.abstractmethod
    def update_period_s(self) -> float:
        """How often the underlying sensor refreshes, in seconds."""

    @abc.abstractmethod
    def energy_j(self) -> dict[str, float]:
        """Cumulative energy per device in joules since the source was opened."""

    def energy_reading(self) -> tuple[float, dict[str, float]]:
        """``(time.perf_counter() instant of the reading, energy_j())``.

        Default: the middle of the :meth:`energy_j` call. Sources that know the instant exactly override it.
        """
        before = time.perf_counter()
        energy = self.energy_j()
        return 0.5 * (before + time.perf_counter()), energy

    @abc.abstractmethod
    def power_w(self) -> dict[str, float]:
        """Power per device in watts (instantaneous, or averaged since the previous call; see source)."""

    def total(self, per_device: dict[str, float]) -> float:
        """Combine per-device values (energy or power) into the source's total. Default: the sum."""
        return float(sum(per_device.values()))

    def telemetry(self) -> dict[str, dict[str, float]]:
        """Extra readings per device (utilisation %, memory bytes, clocks MHz, temperature C). Optional."""
        return {}

    def describe(self) -> dict[str, Any]:
        """A short description for listings: name, devices, update period, counter or integrated."""
        return {
            "name": self.name,
            "is_estimate": self.is_estimate,
            "devices": self.devices(),
            "update_period_s": self.update_period_s,
            "energy": "counter"
            if self.has_energy_counter
            else ("model" if self.is_estimate else "integrated"),
        }

    def close(self) -> None:  # noqa: B027 - optional hook, most sources hold nothing to release
        """Release the sensor. Safe to call twice."""

    def __enter__(self) -> PowerSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} devices={self.devices()}>"


def clear_probe_cache() -> None:
    """Forget cached availability probes (tests, or after loading a driver)."""
    with _PROBE_LOCK:
        _PROBE_CACHE.clear()


class CounterAccumulator:
    """Turns raw wrapping counters into monotonic cumulative values (one per device).

    ``update(raw)`` takes raw readings in the counter's unit and returns the cumulative increase since
    the first reading, adding ``wrap[device]`` whenever a reading is lower than the previous one.
    """

    def __init__(self, wrap: dict[str, float] | None = None) -> None:
        self._wrap = dict(wrap or {})
        self._last: dict[str, float] = {}
        self._total: dict[str, float] = {}
        self._lock = threading.Lock()

    def update(self, raw: dict[str, float]) -> dict[str, float]:
        with self._lock:
            for device, value in raw.items():
                last = self._last.get(device)
                if last is None:
                    self._total[device] = 0.0
                else:
                    delta = value - last
                    if delta < 0:
                        delta += self._wrap.get(device, 0.0)
                        if delta < 0:  # counter reset without a known range: count from the new value
                            delta = 0.0
                    self._total[device] += delta
                self._last[device] = value
            return {device: self._total[device] for device in raw}


class AveragePower:
    """Average power since the previous call, from a cumulative energy reading.

    Used by sources whose sensor is a counter or a load figure (RAPL, the estimate): ``power_w()`` there
    means "average over the interval since the last call". ``energy_reading`` is the source's
    :meth:`PowerSource.energy_reading`. The first call waits ``first_wait_s`` so that it has an interval
    to average over.
    """

    def __init__(
        self, energy_reading: Callable[[], tuple[float, dict[str, float]]], first_wait_s: float
    ) -> None:
        self._read = energy_reading
        self._first_wait_s = first_wait_s
        self._last: tuple[float, dict[str, float]] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> dict[str, float]:
        with self._lock:
            if self._last is None:
                self._last = self._read()
                time.sleep(self._first_wait_s)
            t0, e0 = self._last
            t1, e1 = self._read()
            self._last = (t1, e1)
        dt = max(t1 - t0, 1e-9)
        return {device: (e1[device] - e0.get(device, e1[device])) / dt for device in e1}


class PowerIntegrator:
    """Integrates polled power into cumulative energy for sources without a hardware counter.

    A daemon thread polls ``read_power_w()`` every ``interval_s`` and accumulates energy with the
    trapezoid rule; :meth:`energy_j` takes one fresh reading so that window edges are exact in time.
    Each reading is stamped at the middle of the call that took it.
    """

    def __init__(self, read_power_w: Callable[[], dict[str, float]], interval_s: float) -> None:
        self._read = read_power_w
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._energy: dict[str, float] = {}
        self._last: tuple[float, dict[str, float]] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _step(self) -> tuple[float, dict[str, float]]:
        with self._lock:  # one reading at a time, so that readings are integrated in time order
            before = time.perf_counter()
            power = self._read()
            now = 0.5 * (before + time.perf_counter())  # the reading's instant: the middle of the call
            if self._last is None:
                self._energy = dict.fromkeys(power, 0.0)
            else:
                t0, p0 = self._last
                dt = now - t0
                for device, watts in power.items():
                    self._energy[device] = (
                        self._energy.get(device, 0.0) + 0.5 * (p0.get(device, watts) + watts) * dt
                    )
            self._last = (now, power)
            return now, dict(self._energy)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._step()
            except BaseException as exc:  # surfaced by the next energy_j call
                self._error = exc
                return

    def start(self) -> PowerIntegrator:
        """Take the first reading and start polling (done by the source when it opens)."""
        if self._thread is None:
            self._step()
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="layerpower-power-integrator", daemon=True)
            self._thread.start()
        return self

    def reading(self) -> tuple[float, dict[str, float]]:
        """A fresh reading: ``(perf_counter instant, cumulative energy per device in J)``."""
        if self._error is not None:
            raise PowerSourceError(f"power polling failed: {self._error}")
        if self._thread is None:
            self.start()
        return self._step()

    def energy_j(self) -> dict[str, float]:
        return self.reading()[1]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(1.0, 2 * self.interval_s))
            self._thread = None


def measure_update_period(
    read: Callable[[], float],
    *,
    timeout_s: float = 1.0,
    changes: int = 6,
    poll_s: float = 0.001,
) -> float | None:
    """Estimate how often ``read()`` changes: poll it, time its changes, return the median gap (s).

    Returns ``None`` when fewer than two changes are seen within ``timeout_s``.
    """
    stamps: list[float] = []
    last = read()
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s and len(stamps) < changes + 1:
        value = read()
        if value != last:
            stamps.append(time.perf_counter())
            last = value
        time.sleep(poll_s)
    if len(stamps) < 2:
        return None
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return float(statistics.median(gaps))


def read_text(path: Path) -> str:
    """Read a small sysfs/procfs file as stripped text."""
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip()
