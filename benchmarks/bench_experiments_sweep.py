"""Speed of the experiment sweep: 5 backends x 3 models x simple x fp32 x 1 seed x 1 epoch on the CPU.

Target: the whole sweep (15 subprocesses, each importing its stack, loading digits or the sequences,
training one epoch on the full training split and testing) in under 10 minutes on 2 cores. Prints the wall
time per backend, the summed training and testing times from each run's global_metrics.csv, the load
average (other work on a shared machine slows every figure) and PASS or FAIL (exit status 1 on FAIL: a
failed run or the time over the target).

    python benchmarks/bench_experiments_sweep.py [--out DIR] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from layerpower.experiments.backends import BACKENDS
from layerpower.experiments.runner import run_experiments

TARGET_S = 600.0
MODELS = ["mlp", "cnn", "lstm"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--threads", type=int, help="CPU threads per library (default: each library's own)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-experiments-") as tmp:
        out = args.out or Path(tmp)
        load_before = os.getloadavg()
        start = time.perf_counter()
        frame = run_experiments(
            list(BACKENDS), MODELS, ["simple"], ["fp32"], [42], epochs=1, out=out, threads=args.threads
        )
        total = time.perf_counter() - start
        load_after = os.getloadavg()
        rows = []
        for run in frame.itertuples():
            metrics_path = Path(run.run_dir) / "global_metrics.csv"
            metrics = pd.read_csv(metrics_path).iloc[0] if metrics_path.is_file() else None
            rows.append(
                {
                    "backend": run.backend,
                    "model": run.model,
                    "status": run.status,
                    "wall_s": run.wall_time_s,
                    "training_s": metrics["training_time"] if metrics is not None else float("nan"),
                    "testing_s": metrics["testing_time"] if metrics is not None else float("nan"),
                    "training_energy_j": metrics["training_energy_j"]
                    if metrics is not None
                    else float("nan"),
                    "energy_source": metrics["energy_source"] if metrics is not None else "",
                }
            )
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    per_backend = table.groupby("backend", sort=False)[["wall_s", "training_s", "testing_s"]].sum()
    print("\nper backend (3 runs each, seconds):")
    print(per_backend.to_string(float_format=lambda v: f"{v:.1f}"))
    print(f"\nload average before/after: {load_before[0]:.1f} / {load_after[0]:.1f} on {os.cpu_count()} CPUs")
    failed = table[table["status"] != "done"]
    ok = failed.empty and total < TARGET_S
    verdict = "PASS" if ok else "FAIL"
    print(
        f"sweep of {len(table)} runs: {total:.1f} s (target < {TARGET_S:.0f} s), failed runs: {len(failed)}"
    )
    print(verdict)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
