"""Speed of ``predict-energy`` for vgg16: in-process time after imports, and the command from a cold start.

Targets: in-process (bundle loaded, imports done) under 200 ms; the whole command under 5 s (measured with the
layer cache of :mod:`layerpower.predictors.layer_cache` warm, as after a first run; the figure without it is
printed too).
Usage: ``python benchmarks/bench_predict_speed.py [--predictors DIR] [--repeats N]``; by default the bundled
predictors.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

IN_PROCESS_TARGET_S = 0.200
COLD_TARGET_S = 5.0
MODEL = "vgg16"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictors", default=None, help="bundle folder [default: the bundled predictors]")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--cold-repeats", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    from layerpower.models.layers import extract_layers
    from layerpower.predictors.bundle_choice import bundled_devices
    from layerpower.predictors.energy import predict_energy

    imports_s = time.perf_counter() - started
    if args.predictors is None and not bundled_devices():
        print("no bundled predictors: pass --predictors DIR (train-predictors writes one)")
        return 1

    started = time.perf_counter()
    first = predict_energy(MODEL, predictors=args.predictors)
    first_s = time.perf_counter() - started
    warm = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        predict_energy(MODEL, predictors=args.predictors)
        warm.append(time.perf_counter() - started)
    uncached_warm = []
    previous = os.environ.get("LAYERPOWER_CACHE_DIR")
    os.environ["LAYERPOWER_CACHE_DIR"] = "off"  # extract the layers on every call
    for _ in range(args.repeats):
        started = time.perf_counter()
        predict_energy(MODEL, predictors=args.predictors)
        uncached_warm.append(time.perf_counter() - started)
    if previous is None:
        del os.environ["LAYERPOWER_CACHE_DIR"]
    else:
        os.environ["LAYERPOWER_CACHE_DIR"] = previous
    extract = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        extract_layers(MODEL, 1, "float32")
        extract.append(time.perf_counter() - started)
    in_process = max(statistics.median(warm), statistics.median(uncached_warm))

    command = [str(Path(sys.executable).with_name("predict-energy")), "--model", MODEL]
    if args.predictors:
        command += ["--predictors", args.predictors]
    cold = []
    for _ in range(args.cold_repeats):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
        cold.append(time.perf_counter() - started)
        if done.returncode != 0:
            print(done.stdout, done.stderr)
            return 1
    cold_s = statistics.median(cold)
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, text=True, env={**os.environ, "LAYERPOWER_CACHE_DIR": "off"})
    uncached_s = time.perf_counter() - started

    t = first.total
    print(
        f"predict-energy --model {MODEL}: {t.energy_j:.4g} J, {t.runtime_s:.4g} s, {t.avg_power_w:.4g} W "
        f"({t.device_id}, {t.family}, power {'estimate' if t.is_estimate else t.power_source})"
    )
    print(f"imports (layerpower.predictors.energy + models.layers): {imports_s:.2f} s")
    print(f"first call (loads and verifies the bundle):             {1000 * first_s:.0f} ms")
    print(
        f"in-process, after imports, median of {args.repeats}: {1000 * statistics.median(warm):.0f} ms with the layer "
        f"cache, {1000 * statistics.median(uncached_warm):.0f} ms extracting the layers each call "
        f"(extraction alone {1000 * statistics.median(extract):.0f} ms)"
    )
    print(
        f"cold-start command, median of {args.cold_repeats}:                    {cold_s:.2f} s "
        f"(runs: {', '.join(f'{c:.2f}' for c in cold)})"
    )
    print(f"cold-start command without the layer cache (imports torch):  {uncached_s:.2f} s")
    print(f"load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    for text, ok in (
        (f"in-process under {1000 * IN_PROCESS_TARGET_S:.0f} ms", in_process < IN_PROCESS_TARGET_S),
        (f"cold start under {COLD_TARGET_S:.0f} s", cold_s < COLD_TARGET_S),
    ):
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
