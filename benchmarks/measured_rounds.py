"""Whole-model runtimes of several models measured in interleaved rounds, for the accuracy benchmarks.

A shared VM has slow phases lasting minutes (on the development machine a model's whole-model runtime
doubled for a while: wide_resnet50_2 measured 0.280 s, then 0.149 s a minute later; its forward takes
~29,000 page faults, whose cost moves with the host). Measuring one model's processes back to back puts all
of them inside one such phase. Here round ``r`` measures every model once in a fresh process
(:func:`~layerpower.profiling.whole_model.measure_whole_model` with ``processes=1``), so a slow phase
touches one of a model's ``rounds`` samples and the median keeps the others.

``regimes`` measures each model under several heap regimes within every round: ``default`` (glibc as the
process finds it) and ``steady`` (:data:`~layerpower.config.memory.STEADY_MALLOC_TUNABLES` in the worker's
``GLIBC_TUNABLES``: no heap page faults, see ``bench_heap_faults.py``).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

#: the heap regimes a round can measure a model in
REGIMES = ("default", "steady")


@dataclass
class Measured:
    """One model's samples (s per forward, one per round), their median, and its page faults per forward."""

    samples: list[float]
    faults: list[float]

    @property
    def runtime_s(self) -> float:
        return statistics.median(self.samples)

    @property
    def faults_per_forward(self) -> float:
        """Median minor page faults per forward over the rounds (NaN where not counted)."""
        finite = [f for f in self.faults if f == f]
        return statistics.median(finite) if finite else float("nan")

    @property
    def spread(self) -> float:
        """(max - min) / median of the rounds' samples."""
        return (max(self.samples) - min(self.samples)) / self.runtime_s


def median_spread(runs: dict[str, Measured]) -> float:
    """The median over models of their rounds' spread ((max - min) / median; NaN with one round each):
    how far apart fresh processes of one model land on this machine, the noise under every error figure."""
    spreads = [m.spread for m in runs.values() if len(m.samples) > 1]
    return statistics.median(spreads) if spreads else float("nan")


@contextlib.contextmanager
def heap_regime(regime: str) -> Iterator[None]:
    """Worker processes started inside run in ``regime`` (one of :data:`REGIMES`)."""
    from layerpower.config.memory import STEADY_MALLOC_TUNABLES

    if regime not in REGIMES:
        raise ValueError(f"unknown heap regime {regime!r}; one of {', '.join(REGIMES)}")
    saved = os.environ.get("GLIBC_TUNABLES")
    if regime == "steady":
        os.environ["GLIBC_TUNABLES"] = STEADY_MALLOC_TUNABLES
    else:
        os.environ.pop("GLIBC_TUNABLES", None)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("GLIBC_TUNABLES", None)
        else:
            os.environ["GLIBC_TUNABLES"] = saved


def measure_rounds(
    models: list[str], *, device: str = "cpu", rounds: int = 3, regimes: tuple[str, ...] = ("default",)
) -> dict[str, Measured]:
    """Median whole-model runtime of each model over ``rounds`` interleaved fresh processes.

    Keyed by model name for the first regime and ``"name@regime"`` for the others."""
    from layerpower.profiling.whole_model import measure_whole_model

    keys = [(name, regime) for name in models for regime in regimes]
    label = {(n, r): n if r == regimes[0] else f"{n}@{r}" for n, r in keys}
    found: dict[str, Measured] = {label[k]: Measured([], []) for k in keys}
    started = time.monotonic()
    for r in range(max(1, rounds)):
        for name, regime in keys:
            with heap_regime(regime):
                result = measure_whole_model(name, device=device, processes=1)
            sample = found[label[(name, regime)]]
            sample.samples.append(float(result.runtime_s))
            sample.faults += [p.page_faults_per_forward for p in result.per_process]
        print(
            f"  measured round {r + 1}/{rounds} of {len(models)} models ({time.monotonic() - started:.0f} s)",
            file=sys.stderr,
        )
    return found
