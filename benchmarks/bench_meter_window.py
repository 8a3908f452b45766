"""Cost of one Meter window (enter + exit, i.e. two energy readings) per power source available here.

Usage: python benchmarks/bench_meter_window.py [--windows 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from layerpower.profiling.meter import Meter, ShortWindowWarning
from layerpower.profiling.power import detect_sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=2000)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ShortWindowWarning)
    for name in detect_sources():
        with Meter(name, warn_short=False) as meter:  # real windows are long enough not to warn
            _ = meter.update_period_s  # measured once, outside the timing
            per_window = []
            for _ in range(args.windows):
                t0 = time.perf_counter()
                with meter.window():
                    pass
                per_window.append(time.perf_counter() - t0)
            readings = []
            for _ in range(args.windows):
                t0 = time.perf_counter()
                meter.source.energy_j()
                readings.append(time.perf_counter() - t0)
        print(
            f"{name:9s} window enter+exit: median {statistics.median(per_window) * 1e6:6.1f} us, "
            f"mean {statistics.fmean(per_window) * 1e6:6.1f} us "
            f"(one energy reading: {statistics.median(readings) * 1e6:.1f} us median)"
        )


if __name__ == "__main__":
    main()
