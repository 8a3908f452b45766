"""Record the replay trace used by tests/profiling/test_sampler.py (run: python tests/data/trace_record.py).

Samples this machine every 100 ms for about 4 s with the best power source (on a machine without a sensor,
the estimate: every power figure is labelled so) while the load steps idle -> busy -> idle, and measures
the same span with a Meter window. Writes ``trace_<source>_cpu.csv`` (the sampler frame) and
``trace_<source>_cpu.json`` (the window measurement and where/when it was recorded).
"""

from __future__ import annotations

import datetime as dt
import platform
import time
from pathlib import Path

import numpy as np

from layerpower.hardware import device_id
from layerpower.io import write_csv_atomic, write_json_atomic
from layerpower.profiling.meter import Meter
from layerpower.profiling.sampler import Sampler


def busy(seconds: float) -> None:
    a = np.random.default_rng(0).random((300, 300))
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        a = np.tanh(a @ a)


def main() -> None:
    here = Path(__file__).parent
    with Meter() as meter:
        name = meter.source.name
        with meter.window() as window, Sampler(interval_s=0.1, source=meter.source) as sampler:
            time.sleep(1.0)
            busy(1.5)
            time.sleep(1.0)
            busy(0.5)
        frame = sampler.frame()
    assert window.result is not None
    write_csv_atomic(frame, here / f"trace_{name}_cpu.csv", float_format="%.6f")
    info = {
        "recorded_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": {"device_id": device_id("cpu"), "machine": platform.machine()},
        "window": window.result.to_dict(),
        "source_description": meter.source.describe(),
    }
    write_json_atomic(info, here / f"trace_{name}_cpu.json")
    print(f"{len(frame)} samples, window {window.result.energy_j:.3f} J, sampled {sampler.energy_j()}")


if __name__ == "__main__":
    main()
