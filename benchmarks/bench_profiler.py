"""The layer profiler: speed, repeatability, and how per-layer runtimes add up to the whole model.

Figures (each ``profile-model`` run is a fresh process with default settings, batch 1, fp32, into a
temporary folder):

* speed: wall time of ``profile-model resnet18``; target under 60 s on 2 cores;
* repeatability: each model profiled three times in separate processes; the median over layer calls of
  the CV (across the three runs) of the in-context runtime ``runtime_s`` must be <= 3 %, and the CV of the
  whole-model runtime across the three runs <= 5 %; the isolated runtime's CV is printed too;
* additivity: sum of in-context layer runtimes / whole-model runtime, and sum of isolated layer runtimes /
  whole-model runtime, per model and run (printed; no target).

Usage: ``python benchmarks/bench_profiler.py [--models resnet18,vgg16] [--runs 3] [--keep DIR]``. The machine's load
average is printed before and after: the figures are only as quiet as the machine. Exit status 1 on FAIL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from layerpower.config.features import LAYER_KINDS

SPEED_TARGET_S = 60.0
LAYER_CV_TARGET = 0.03
MODEL_CV_TARGET = 0.05


def profile_once(model: str, out: Path) -> float:
    """Run ``profile-model MODEL`` (default settings) in a fresh process; return its wall time in s."""
    entry = "from layerpower.cli.profile import profile_model; profile_model()"
    command = [sys.executable, "-c", entry, model, "--out", str(out), "--no-progress"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"profile-model {model} failed: {done.stderr.strip() or done.stdout.strip()}")
    return elapsed


def read_run(out: Path, model: str) -> tuple[pd.DataFrame, pd.Series]:
    """The layer rows (all kinds) and the model row of one run."""
    (folder,) = list(out.glob(f"*/{model}"))
    layers = pd.concat(
        [
            pd.read_csv(folder / f"{kind}.csv", keep_default_na=False).assign(kind=kind)
            for kind in LAYER_KINDS
        ],
        ignore_index=True,
    )
    model_row = pd.read_csv(folder / "model.csv").iloc[0]
    return layers, model_row


def cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="resnet18,vgg16")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--keep", default=None, help="Keep the profiled folders here (default: a temporary folder)."
    )
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-profiler-") as scratch:
        tmp = args.keep or scratch
        runs: dict[str, list[tuple[float, pd.DataFrame, pd.Series]]] = {m: [] for m in models}
        for run in range(args.runs):  # interleave models, so a burst of load hits all of them alike
            for model in models:
                out = Path(tmp) / f"{model}-{run}"
                seconds = profile_once(model, out)
                layers, model_row = read_run(out, model)
                runs[model].append((seconds, layers, model_row))
                print(
                    f"run {run + 1}: {model}: {seconds:.1f} s, whole model {model_row['runtime_s'] * 1e3:.2f} ms"
                )
        print()
        if "resnet18" in runs:
            seconds = runs["resnet18"][0][0]
            verdict = "PASS" if seconds < SPEED_TARGET_S else "FAIL"
            ok &= verdict == "PASS"
            print(
                f"speed: profile-model resnet18 (defaults) took {seconds:.1f} s "
                f"(target < {SPEED_TARGET_S:.0f} s) {verdict}"
            )
        for model, results in runs.items():
            key = ["layer_name", "call_index"]
            frames = [layers.set_index(key) for _, layers, _ in results]
            joined = pd.concat([f["runtime_s"] for f in frames], axis=1).dropna()
            isolated = pd.concat([f["runtime_isolated_s"] for f in frames], axis=1).dropna()
            layer_cv = joined.apply(lambda row: cv(list(row)), axis=1)
            iso_cv = isolated.apply(lambda row: cv(list(row)), axis=1)
            wholes = [float(row["runtime_s"]) for _, _, row in results]
            model_cv = cv(wholes)
            kinds = frames[0]["kind"].reindex(layer_cv.index)
            weights = joined.mean(axis=1)
            by_kind = ", ".join(
                f"{k} {layer_cv[kinds == k].median() * 100:.1f} %" for k in LAYER_KINDS if (kinds == k).any()
            )
            weighted = float((layer_cv * weights).sum() / weights.sum())
            v1 = "PASS" if layer_cv.median() <= LAYER_CV_TARGET else "FAIL"
            v2 = "PASS" if model_cv <= MODEL_CV_TARGET else "FAIL"
            ok &= v1 == "PASS" and v2 == "PASS"
            print(
                f"{model}: per-layer in-context runtime CV across {len(results)} runs: median "
                f"{layer_cv.median() * 100:.2f} % (target <= {LAYER_CV_TARGET * 100:.0f} %) {v1}; "
                f"isolated: median {iso_cv.median() * 100:.2f} %"
            )
            print(
                f"{model}: in-context CV by kind (median): {by_kind}; runtime-weighted mean {weighted * 100:.2f} %"
            )
            print(
                f"{model}: whole-model runtime CV across runs {model_cv * 100:.2f} % "
                f"(target <= {MODEL_CV_TARGET * 100:.0f} %) {v2}; runs "
                + ", ".join(f"{w * 1e3:.2f}" for w in wholes)
                + " ms"
            )
            for i, (_, layers, row) in enumerate(results, 1):
                whole = float(row["runtime_s"])
                ctx = layers["runtime_s"].sum() / whole
                iso = layers["runtime_isolated_s"].sum() / whole
                print(
                    f"{model} run {i}: sum(in context)/whole = {ctx:.3f}, sum(isolated)/whole = {iso:.3f} "
                    f"({len(layers)} layer calls, whole {whole * 1e3:.2f} ms, CV across processes "
                    f"{float(row['runtime_cv']) * 100:.1f} %)"
                )
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
