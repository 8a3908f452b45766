"""One layer measured alone: warm-up, calibration of a window, measured windows (trials) and their summary.

A window runs the layer ``iterations`` times back to back between two synchronisations while the meter
reads the energy across it. Per call: runtime = window time / iterations, energy = window energy /
iterations; power = window energy / window time. Units: seconds, joules, watts.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from layerpower.profiling.timing import Stopwatch

#: never run more than this many calls in one window
MAX_ITERATIONS = 1_000_000


@dataclass(frozen=True)
class Calibration:
    """How many calls fill a window, found while warming up."""

    per_call_s: float  # median time of one call after the first
    iterations: int  # calls per measured window
    warmup_calls: int
    warmup_s: float


@dataclass(frozen=True)
class Trial:
    """One measured window of one layer."""

    runtime_s: float  # per call
    energy_j: float  # per call
    power_w: float  # window energy / window duration
    window_s: float  # the meter's window duration
    iterations: int
    short_window: bool  # shorter than the sensor's recommended window


@dataclass(frozen=True)
class IsolatedResult:
    """The summary of a layer's trials: medians and coefficients of variation across trials."""

    runtime_s: float
    energy_j: float
    power_w: float
    runtime_cv: float
    power_cv: float
    trials: int
    iterations: int
    source: str
    is_estimate: bool


def calibrate(
    run: Callable[[], Any],
    sync: Callable[[], None],
    window_s: float,
    *,
    warmup_calls: int = 2,
    warmup_s: float = 0.0,
    device: str = "cpu",
) -> Calibration:
    """Warm ``run`` up (at least ``warmup_calls`` calls and ``warmup_s`` seconds) and size a window.

    Each warm-up call is timed alone; the per-call time is the median of all calls but the first (the
    first carries allocation and kernel selection). A call longer than the window stops the warm-up
    after ``warmup_calls`` calls.
    """
    watch = Stopwatch(device)
    times: list[float] = []
    start = time.perf_counter()
    sync()
    while True:
        watch.start()
        run()
        times.append(watch.stop())
        elapsed = time.perf_counter() - start
        if len(times) >= max(warmup_calls, 2) and elapsed >= warmup_s:
            break
        if len(times) >= 10_000:
            break
    per_call = statistics.median(times[1:]) if len(times) > 1 else times[0]
    iterations = iterations_for(window_s, per_call)
    return Calibration(per_call, iterations, len(times), time.perf_counter() - start)


def iterations_for(window_s: float, per_call_s: float) -> int:
    """Calls that fill ``window_s`` at ``per_call_s`` each (at least 1)."""
    if not per_call_s > 0:
        return MAX_ITERATIONS
    return int(min(max(math.ceil(window_s / per_call_s), 1), MAX_ITERATIONS))


def measure_window(
    run: Callable[[], Any],
    meter: Any,
    sync: Callable[[], None],
    iterations: int,
    *,
    device: str = "cpu",
    prewarm: int = 0,
    max_s: float | None = None,
) -> Trial:
    """Run ``prewarm`` unmeasured calls, then one window of ``iterations`` calls under ``meter``.

    ``max_s`` (CPU only) ends the window early, after the call that passes ``max_s`` seconds: on a shared
    machine a layer calibrated at microseconds can slow down a hundredfold when a neighbour takes a core,
    and a fixed count would then run for minutes. The trial records the calls actually made.
    """
    for _ in range(prewarm):
        run()
    watch = Stopwatch(device)
    done = 0
    bounded = max_s is not None and not watch.cuda
    with meter.window(sync=sync) as window:
        watch.start()
        if bounded:
            deadline = time.perf_counter() + float(max_s)  # type: ignore[arg-type]
            while done < iterations:
                run()
                done += 1
                if time.perf_counter() > deadline:
                    break
        else:
            for _ in range(iterations):
                run()
            done = iterations
        elapsed = watch.stop()
    m = window.result
    return Trial(
        runtime_s=elapsed / done,
        energy_j=m.energy_j / done,
        power_w=m.avg_power_w,
        window_s=m.duration_s,
        iterations=done,
        short_window=bool(m.short_window),
    )


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Sample standard deviation over mean (0 for fewer than two values, NaN for a zero mean)."""
    finite = [float(v) for v in values if v == v]
    if len(finite) < 2:
        return 0.0
    mean = statistics.fmean(finite)
    if mean == 0:
        return float("nan")
    return statistics.stdev(finite) / abs(mean)


def summarize(trials: Sequence[Trial], source: str, is_estimate: bool) -> IsolatedResult:
    """Medians across ``trials`` and the CV of runtime and power."""
    if not trials:
        raise ValueError("no trials to summarise")
    runtimes = [t.runtime_s for t in trials]
    powers = [t.power_w for t in trials]
    return IsolatedResult(
        runtime_s=statistics.median(runtimes),
        energy_j=statistics.median([t.energy_j for t in trials]),
        power_w=statistics.median(powers),
        runtime_cv=coefficient_of_variation(runtimes),
        power_cv=coefficient_of_variation(powers),
        trials=len(trials),
        iterations=int(statistics.median([t.iterations for t in trials])),
        source=source,
        is_estimate=is_estimate,
    )
