"""Whole-model runtimes of several models measured in interleaved rounds, for the accuracy benchmarks.

A shared VM has slow phases lasting minutes (on the development machine a model's whole-model runtime
doubled for a while: wide_resnet50_2 measured 0.280 s, then 0.149 s a minute later; its forward takes
~29,000 page faults, whose cost moves with the host). Measuring one model's processes back to back puts all
of them inside one such phase. Here round ``r`` measures every model once in a fresh process
(:func:`~layerpower.profiling.whole_model.measure_whole_model` with ``processes=1``), so a slow phase
touches one of a model's ``rounds`` samples and the median keeps the others.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass


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


def measure_rounds(models: list[str], *, device: str = "cpu", rounds: int = 3) -> dict[str, Measured]:
    """Median whole-model runtime of each model over ``rounds`` interleaved fresh processes."""
    from layerpower.profiling.whole_model import measure_whole_model

    found: dict[str, Measured] = {name: Measured([], []) for name in models}
    started = time.monotonic()
    for r in range(max(1, rounds)):
        for name in models:
            result = measure_whole_model(name, device=device, processes=1)
            found[name].samples.append(float(result.runtime_s))
            found[name].faults += [p.page_faults_per_forward for p in result.per_process]
        print(
            f"  measured round {r + 1}/{rounds} of {len(models)} models ({time.monotonic() - started:.0f} s)",
            file=sys.stderr,
        )
    return found
