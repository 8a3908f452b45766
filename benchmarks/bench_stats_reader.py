"""Speed of the results reader and the report tables on a generated tree of 500 runs.

Prints the seconds to read 500 run folders (with and without the telemetry samples, 1 and 8 threads) and to
write the report's tables. The runs are synthetic files in the experiment runner's format (no training).
Usage: ``python benchmarks/bench_stats_reader.py [RUNS]``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from layerpower.config.vocab import BACKENDS, PRECISIONS
from layerpower.stats import StatsWarning, build_report, read_results

SAMPLES_PER_PHASE = 50


def generate(root: Path, runs: int) -> None:
    rng = np.random.default_rng(0)
    header = (
        "timestamp,cpu_power,cpu_utilization,memory_used,source,is_estimate,gpu_power_source,cpu_power_source,"
        "cpu_power_is_estimate\n"
    )
    for i in range(runs):
        backend = BACKENDS[i % len(BACKENDS)]
        precision = PRECISIONS[(i // len(BACKENDS)) % len(PRECISIONS)]
        model = ("mlp", "cnn")[(i // 25) % 2]
        seed = 40 + i // 50
        name = f"20250101-{(i // 3600) % 24:02d}{(i // 60) % 60:02d}{i % 60:02d}_{backend}_{model}_simple_{precision}_{seed}"
        run = root / str(seed) / name
        run.mkdir(parents=True)
        config = {
            "backend": backend,
            "model": model,
            "complexity": "simple",
            "precision": precision,
            "seed": seed,
            "epochs": 5,
            "batch_size": 32,
        }
        (run / "config.json").write_text(json.dumps(config))
        energy = rng.normal(100, 5)
        (run / "global_metrics.csv").write_text(
            "training_time,testing_time,training_energy_j,testing_energy_j,energy_source,energy_is_estimate,"
            f"peak_memory_bytes\n{energy / 7:.4f},0.5,{energy:.4f},3.5,estimate,True,{int(rng.integers(1e8, 2e8))}\n"
        )
        epochs = "\n".join(
            f"{e},{2 / e:.3f},{0.5 + e / 20:.3f},{2.1 / e:.3f},{0.45 + e / 20:.3f},1.1" for e in range(1, 6)
        )
        (run / "train.csv").write_text(f"epoch,loss,accuracy,val_loss,val_accuracy,epoch_time\n{epochs}\n")
        (run / "test.csv").write_text(f"loss,accuracy\n0.5,{rng.uniform(0.8, 0.95):.4f}\n")
        for phase in ("train", "test"):
            rows = "".join(
                f"{1e9 + k * 0.1:.3f},{rng.normal(7, 0.2):.3f},{rng.uniform(50, 100):.1f},{2e9:.0f},"
                "estimate,True,,estimate,True\n"
                for k in range(SAMPLES_PER_PHASE)
            )
            (run / f"{phase}_samples.csv").write_text(header + rows)


def timed(label: str, func) -> object:
    start = time.perf_counter()
    value = func()
    print(f"{label:<52} {time.perf_counter() - start:7.2f} s")
    return value


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "results"
        timed(f"generate {runs} run folders", lambda: generate(root, runs))
        timed("read_results, samples, 1 thread", lambda: read_results(root, workers=1))
        results = timed("read_results, samples, 8 threads", lambda: read_results(root, workers=8))
        timed("read_results, no samples, 8 threads", lambda: read_results(root, workers=8, samples=False))
        print(f"  -> {results.summary_line()}; {len(results.samples)} telemetry rows")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatsWarning)
            timed(
                "build_report tables only (figures=False)",
                lambda: build_report(results, Path(tmp) / "report", figures=False),
            )


if __name__ == "__main__":
    main()
