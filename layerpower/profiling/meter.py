"""Energy and average power over a window of work.

::

    meter = Meter()                       # best source on this machine, or Meter("nvml"), Meter(source)
    with meter.window(sync=torch.cuda.synchronize) as w:
        run_the_work()
    m = w.result                          # Measurement(duration_s, energy_j, avg_power_w, source, ...)

The sync function is called at both edges before the sensor is read, so queued device work is inside the
window. A window shorter than :data:`MIN_PERIODS` sensor update periods raises a
:class:`ShortWindowWarning`: its energy is dominated by when the counter happened to tick.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from layerpower.profiling.power import PowerSource, get_source

#: a window should span at least this many sensor update periods
MIN_PERIODS = 3


class ShortWindowWarning(UserWarning):
    """A measurement window shorter than a few sensor update periods: its energy is unreliable."""


@dataclass(frozen=True)
class Measurement:
    """Energy and power over one window. Units: seconds, joules, watts."""

    duration_s: float
    energy_j: float  # total over the source's devices (see PowerSource.total)
    avg_power_w: float  # energy_j / duration_s
    source: str  # nvml | rapl | jetson | estimate
    is_estimate: bool
    per_device: dict[str, float] = field(default_factory=dict)  # energy in J per device or domain
    update_period_s: float = float("nan")  # the sensor's refresh period
    method: str = ""  # counter | integrated | model
    short_window: bool = False  # shorter than MIN_PERIODS update periods
    start_unix_s: float = float("nan")  # wall-clock start (time.time())

    def to_dict(self) -> dict[str, Any]:
        """All fields as plain Python values (``per_device`` stays a dict)."""
        return asdict(self)

    def to_row(self) -> dict[str, Any]:
        """One flat CSV row: ``per_device`` becomes ``energy_j_<device>`` columns."""
        row = self.to_dict()
        per_device = row.pop("per_device")
        row.update({f"energy_j_{device}": value for device, value in per_device.items()})
        return row


class Window:
    """One measured window; ``result`` is set when the ``with`` block exits without an exception."""

    __slots__ = ("result", "_meter", "_sync", "_t0", "_e0", "_start_unix")

    def __init__(self, meter: Meter, sync: Callable[[], Any] | None) -> None:
        self._meter = meter
        self._sync = sync
        self.result: Measurement | None = None

    def __enter__(self) -> Window:
        if self._sync is not None:
            self._sync()
        self._start_unix = time.time()
        self._t0, self._e0 = self._meter.source.energy_reading()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._sync is not None:
            self._sync()
        t1, e1 = self._meter.source.energy_reading()
        if exc_type is None:
            self.result = self._meter._measurement(t1 - self._t0, self._e0, e1, self._start_unix)


class Meter:
    """Measures energy over windows with one power source (an instance, a name, or None for the best).

    ``tdp_w``, ``gpus`` and ``root`` are passed to :func:`get_source` when the source is opened here.
    """

    def __init__(
        self,
        source: str | PowerSource | None = None,
        *,
        tdp_w: float | None = None,
        gpus: list[int] | None = None,
        root: str | Path = "/",
        warn_short: bool = True,
    ) -> None:
        self._owns_source = not isinstance(source, PowerSource)
        self.source: PowerSource = get_source(source, root=root, tdp_w=tdp_w, gpus=gpus)
        self.warn_short = warn_short
        self._period: float | None = None
        self._method = (
            "counter"
            if self.source.has_energy_counter
            else ("model" if self.source.is_estimate else "integrated")
        )

    @property
    def update_period_s(self) -> float:
        """The source's refresh period in seconds (read once, then cached)."""
        if self._period is None:
            self._period = float(self.source.update_period_s)
        return self._period

    @property
    def min_window_s(self) -> float:
        """The shortest window that does not warn: :data:`MIN_PERIODS` update periods."""
        return MIN_PERIODS * self.update_period_s

    def window(self, sync: Callable[[], Any] | None = None) -> Window:
        """A context manager measuring the work inside it; read ``.result`` after the block."""
        return Window(self, sync)

    def measure(self, fn: Callable[[], Any], sync: Callable[[], Any] | None = None) -> Measurement:
        """Run ``fn()`` once inside a window and return the measurement."""
        with self.window(sync) as w:
            fn()
        assert w.result is not None
        return w.result

    def idle_power(self, seconds: float = 2.0, sync: Callable[[], Any] | None = None) -> Measurement:
        """Measure a window of ``seconds`` in which this process does nothing (the idle baseline)."""
        return self.measure(lambda: time.sleep(seconds), sync)

    @contextmanager
    def sampling(self, interval_s: float = 0.1) -> Iterator[Any]:
        """A :class:`~layerpower.profiling.sampler.Sampler` on this meter's source, as a context manager."""
        from layerpower.profiling.sampler import Sampler

        with Sampler(interval_s=interval_s, source=self.source) as sampler:
            yield sampler

    def _measurement(
        self, duration_s: float, e0: dict[str, float], e1: dict[str, float], start_unix: float
    ) -> Measurement:
        per_device = {device: e1[device] - e0.get(device, e1[device]) for device in e1}
        energy = self.source.total(per_device)
        period = self.update_period_s
        short = duration_s < MIN_PERIODS * period
        if short and self.warn_short:
            warnings.warn(
                f"measurement window of {duration_s * 1e3:.1f} ms is shorter than {MIN_PERIODS} update "
                f"periods of the {self.source.name} sensor ({period * 1e3:.1f} ms each); lengthen the window",
                ShortWindowWarning,
                stacklevel=3,
            )
        return Measurement(
            duration_s=duration_s,
            energy_j=energy,
            avg_power_w=energy / duration_s if duration_s > 0 else float("nan"),
            source=self.source.name,
            is_estimate=self.source.is_estimate,
            per_device=per_device,
            update_period_s=period,
            method=self._method,
            short_window=short,
            start_unix_s=start_unix,
        )

    def close(self) -> None:
        """Close the source if this meter opened it."""
        if self._owns_source:
            self.source.close()

    def __enter__(self) -> Meter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
