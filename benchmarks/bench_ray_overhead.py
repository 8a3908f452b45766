"""Overhead of ``run-experiments --ray`` against the local path, and a simulated scale-out.

Runs the same 6-run sweep (torch x mlp, cnn, lstm x seeds 42, 43, simple, fp32, 1 epoch) locally
(:func:`run_experiments`) and through a local Ray instance (:func:`run_sweep_ray`, every task holding all
CPUs, so runs are sequential as on the local path), alternating the two ``--repeats`` times. Target: the
Ray path within 15 % of the local wall time, median over the pairs (Ray's start-up, :func:`connect`,
reported apart; the warm-up task and every worker's imports are inside the Ray figure). Then, from the
per-run times measured on the Ray path, the makespan on N = 1, 2, 4, 8 identical workers by list
scheduling (each run to the first free worker): a simulation, not a measurement. Take the real figure on a quiet machine (other work skews both paths differently).

    python benchmarks/bench_ray_overhead.py [--tiny]     # --tiny: 48 samples, 1 thread (a smoke check)
"""

from __future__ import annotations

import argparse
import heapq
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.15
MODELS = ["mlp", "cnn", "lstm"]
SEEDS = [42, 43]


def makespan(times: list[float], workers: int) -> float:
    """Seconds until the last of ``times`` ends on ``workers`` workers, each run to the first free one."""
    free = [0.0] * workers
    for t in times:
        heapq.heappush(free, heapq.heappop(free) + t)
    return max(free)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="48 training samples and 1 thread (smoke check)")
    parser.add_argument("--repeats", type=int, default=3, help="alternated local/Ray pairs (default 3)")
    args = parser.parse_args()
    if importlib.util.find_spec("ray") is None:
        print("skipped: Ray is not installed (pip install 'layerpower[cluster]')")
        return 0
    from layerpower.cluster import connect, run_sweep_ray
    from layerpower.experiments.config import SweepSpec
    from layerpower.experiments.runner import run_experiments

    settings = {"epochs": 1, "power_source": "estimate"}
    if args.tiny:
        settings.update(limit=48, batch_size=16, threads=1)
    axes = (["torch"], MODELS, ["simple"], ["fp32"], SEEDS)
    pairs: list[tuple[float, float, float]] = []  # (local s, Ray s, Ray start-up s)
    tasks: list[float] = []
    failed = 0
    for repeat in range(args.repeats):  # alternated, so a drift of the machine hits both paths alike
        with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
            start = time.perf_counter()
            local = run_experiments(*axes, out=Path(tmp) / "local", progress=False, **settings)
            local_s = time.perf_counter() - start
            start = time.perf_counter()
            with connect("local", num_cpus=os.cpu_count() or 1):
                init_s = time.perf_counter() - start
                start = time.perf_counter()
                remote = run_sweep_ray(
                    SweepSpec.build(*axes, **settings), out=Path(tmp) / "ray", progress=False
                )
                ray_s = time.perf_counter() - start
        pairs.append((local_s, ray_s, init_s))
        tasks = [float(t) for t in remote["wall_time_s"]]
        failed += int((local["status"] != "done").sum() + (remote["status"] != "done").sum())
        niceness = sorted({int(n.get("niceness", 0)) for n in remote.attrs.get("nodes", {}).values()})
        print(
            f"MEASURED  pair {repeat + 1}: local {local_s:6.2f} s, Ray {ray_s:6.2f} s "
            f"({(ray_s - local_s) / local_s * 100:+.1f} %), Ray start-up {init_s:.2f} s apart, "
            f"worker niceness {niceness}"
        )
    local_s = statistics.median(p[0] for p in pairs)
    ray_s = statistics.median(p[1] for p in pairs)
    overhead = statistics.median((p[1] - p[0]) / p[0] for p in pairs)
    driver_s = max(0.0, pairs[-1][1] - sum(tasks))
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (1 min; other work skews every figure)")
    print(f"MEASURED  local path, {len(local)} runs (median):  {local_s:8.2f} s")
    print(f"MEASURED  Ray path,   {len(remote)} runs (median):  {ray_s:8.2f} s  (start-up apart)")
    print(
        f"MEASURED  overhead of the Ray path:      {overhead * 100:+7.1f} %  "
        f"(median of {len(pairs)} pairs; target < {TARGET * 100:.0f} %)"
    )
    print(f"MEASURED  per-run task times, last pair (s): {', '.join(f'{t:.2f}' for t in tasks)}")
    print(f"MEASURED  driver time outside tasks:     {driver_s:8.2f} s")
    for n in (1, 2, 4, 8):
        span = makespan(tasks, n) + driver_s
        speed_up = pairs[-1][1] / span
        print(f"SIMULATED makespan on {n} worker(s):      {span:8.2f} s  (speed-up {speed_up:4.2f}x)")
    ok = failed == 0 and overhead < TARGET
    print(f"{'PASS' if ok else 'FAIL'}: {failed} failed run(s), overhead {overhead * 100:.1f} %")
    if args.tiny:
        print("note: --tiny is a smoke check; take the real figure without --tiny on a quiet machine")
    return 0 if ok or args.tiny else 1


if __name__ == "__main__":
    sys.exit(main())
