"""CPU power *estimated* from load, for machines without a power sensor.

Every figure this source produces is an estimate (``is_estimate = True``, source ``"estimate"``); it is
never shown as a measurement.

Model (the linear utilisation model used by Cloud Carbon Footprint, min + load x (max - min))::

    power_w = tdp_w * (idle_fraction + (1 - idle_fraction) * load)

where ``load`` in [0, 1] is the machine-wide CPU busy fraction over the interval (from the kernel's CPU
time counters via :func:`psutil.cpu_times`; steal time, which belongs to other guests, is left out), and
``tdp_w`` is the power at full load of the CPUs this machine has, resolved in this order:

1. ``tdp_w`` given by the caller (CLI ``--tdp W``);
2. :data:`TDP_TABLE`: the vendor's TDP per package for a few common CPUs, keyed on the model name in
   ``/proc/cpuinfo``, scaled to the logical cores this machine has (``tdp / threads_per_package x cores``),
   so a 2-vCPU cloud slice of a 64-core part gets 2/128 of the package TDP;
3. :data:`DEFAULT_W_PER_CORE` (3.5 W) per logical core: Cloud Carbon Footprint's average *maximum* watts
   per vCPU for AWS (from the SPECpower database).

``idle_fraction`` defaults to :data:`DEFAULT_IDLE_FRACTION` = 0.74 / 3.5 ~= 0.21, the same source's
average *minimum* over maximum watts per vCPU.

Energy is exact for this model: because power is linear in load, the energy over an interval is the power
at the interval's average load times its length, so :meth:`EstimateSource.energy_j` needs no polling.
The kernel's CPU time counters advance in clock ticks (10 ms on most Linux systems), which sets
:attr:`EstimateSource.update_period_s`.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from layerpower.errors import PowerSourceError
from layerpower.hardware import cpu_model_name
from layerpower.profiling.power.base import AveragePower, PowerSource

#: Cloud Carbon Footprint, methodology, "Compute": AWS average max watts per vCPU (SPECpower-based)
DEFAULT_W_PER_CORE = 3.5
#: the same source's average min watts per vCPU (0.74) over its max (3.5)
DEFAULT_IDLE_FRACTION = 0.74 / 3.5


@dataclass(frozen=True)
class TdpEntry:
    """Vendor TDP of one CPU package and the hardware threads it has."""

    tokens: tuple[str, ...]  # all must appear in the slugified model name
    tdp_w: float
    threads_per_package: int


#: vendor spec-sheet TDP per package (W) and threads per package for a few common CPUs
TDP_TABLE: tuple[TdpEntry, ...] = (
    TdpEntry(("epyc", "7763"), 280.0, 128),
    TdpEntry(("epyc", "7742"), 225.0, 128),
    TdpEntry(("epyc", "7543"), 225.0, 64),
    TdpEntry(("epyc", "9654"), 360.0, 192),
    TdpEntry(("xeon", "8480"), 350.0, 112),
    TdpEntry(("xeon", "8380"), 270.0, 80),
    TdpEntry(("xeon", "6248"), 150.0, 40),
    TdpEntry(("xeon", "6130"), 125.0, 32),
    TdpEntry(("xeon", "e5", "2698", "v4"), 135.0, 40),
    TdpEntry(("ryzen", "5950x"), 105.0, 32),
    TdpEntry(("i9", "12900k"), 125.0, 24),
)


@dataclass(frozen=True)
class TdpChoice:
    """The TDP the estimate uses and where it came from."""

    tdp_w: float
    origin: str


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9+]+", name.lower().replace("(r)", "").replace("(tm)", "")) if t]


def resolve_tdp(tdp_w: float | None, model_name: str, cores: int) -> TdpChoice:
    """Pick the full-load power for ``cores`` logical cores: given, from :data:`TDP_TABLE`, or default."""
    if tdp_w is not None:
        if not tdp_w > 0:
            raise PowerSourceError(f"--tdp must be a positive number of watts, got {tdp_w}")
        return TdpChoice(float(tdp_w), "given (--tdp)")
    tokens = _tokens(model_name)
    for entry in TDP_TABLE:
        if all(any(tok.startswith(want) for tok in tokens) for want in entry.tokens):
            scaled = entry.tdp_w / entry.threads_per_package * cores
            return TdpChoice(
                scaled,
                f"table: {model_name} {entry.tdp_w:g} W per package / {entry.threads_per_package} threads"
                f" x {cores} cores",
            )
    return TdpChoice(
        DEFAULT_W_PER_CORE * cores,
        f"default: {DEFAULT_W_PER_CORE:g} W per logical core x {cores} cores (Cloud Carbon Footprint)",
    )


def cpu_busy_and_total(times: object) -> tuple[float, float]:
    """Busy and total CPU seconds from a :func:`psutil.cpu_times` tuple (steal and guest excluded)."""
    fields = times._asdict()  # type: ignore[attr-defined]
    total = sum(fields.values())
    total -= fields.get("guest", 0.0) + fields.get("guest_nice", 0.0)  # already counted in user/nice
    total -= fields.get("steal", 0.0)
    idle = fields.get("idle", 0.0) + fields.get("iowait", 0.0)
    return total - idle, total


class EstimateSource(PowerSource):
    """CPU power from a TDP x load model (see the module docstring). Always available."""

    name = "estimate"
    is_estimate = True
    has_energy_counter = False

    def __init__(
        self,
        tdp_w: float | None = None,
        *,
        idle_fraction: float = DEFAULT_IDLE_FRACTION,
        root: str | Path = "/",
        cores: int | None = None,
    ) -> None:
        if not 0.0 <= idle_fraction <= 1.0:
            raise PowerSourceError(f"idle_fraction must lie in [0, 1], got {idle_fraction}")
        import psutil

        self._psutil = psutil
        self.root = Path(root)
        self.cores = int(cores or os.cpu_count() or 1)
        self.model_name = cpu_model_name(self.root)
        self.tdp = resolve_tdp(tdp_w, self.model_name, self.cores)
        self.idle_fraction = float(idle_fraction)
        self._lock = threading.Lock()
        self._energy = 0.0
        self._last_load = 0.0
        self._last = self._sample()
        self._power = AveragePower(self.energy_reading, first_wait_s=0.05)
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._tick_s = 1.0 / float(tick or 100)

    @classmethod
    def _probe(cls, root: Path) -> str | None:
        return None

    def _sample(self) -> tuple[float, float, float]:
        before = time.perf_counter()
        busy, total = cpu_busy_and_total(self._psutil.cpu_times())
        return 0.5 * (before + time.perf_counter()), busy, total

    def power_at_load(self, load: float) -> float:
        """Modelled power in watts at a CPU busy fraction ``load`` in [0, 1]."""
        load = min(max(load, 0.0), 1.0)
        return self.tdp.tdp_w * (self.idle_fraction + (1.0 - self.idle_fraction) * load)

    def devices(self) -> list[str]:
        return ["cpu"]

    @property
    def update_period_s(self) -> float:
        return self._tick_s

    def energy_j(self) -> dict[str, float]:
        return self.energy_reading()[1]

    def energy_reading(self) -> tuple[float, dict[str, float]]:
        """The modelled cumulative energy and the exact instant it refers to."""
        with self._lock:
            now, busy, total = self._sample()
            t0, busy0, total0 = self._last
            d_total = total - total0
            if d_total > 0:
                self._last_load = min(max((busy - busy0) / d_total, 0.0), 1.0)
                self._last = (now, busy, total)
            else:  # shorter than a clock tick: carry the last load, keep the interval open
                self._last = (now, busy0, total0)
            self._energy += self.power_at_load(self._last_load) * (now - t0)
            return now, {"cpu": self._energy}

    def power_w(self) -> dict[str, float]:
        """Modelled power averaged since the previous call (the first call averages over 50 ms)."""
        return self._power()

    def load(self) -> float:
        """The CPU busy fraction over the last :meth:`energy_j` interval."""
        return self._last_load

    def describe(self) -> dict[str, object]:
        info = super().describe()
        info.update(tdp_w=self.tdp.tdp_w, tdp_origin=self.tdp.origin, idle_fraction=self.idle_fraction)
        return info
