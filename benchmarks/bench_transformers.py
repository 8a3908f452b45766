"""Transformers and fallbacks: held-out transformers against measurement, and fallback shares over the zoo.

1. Held-out transformers (in no training data: vit_b_32, swin_s, swin_v2_t, and the built-in references at a
   sequence length never profiled, 256) are measured end to end (median of ``--processes`` interleaved
   rounds, one fresh process per model each, :mod:`measured_rounds`) and predicted with a calibrated bundle
   of this machine (``--predictors DIR``, else ``calibrate`` runs into a temporary folder first). Targets:
   model-level runtime median |error| <= 10 %, none worse than 20 %.
2. Every torchvision classifier is predicted (no measurement): how many have any layer call priced by a
   fallback (roofline or median rates), and the largest share of predicted runtime from fallbacks. Target: no
   classifier over 2 %.

Usage (on a quiet machine; part 1 takes a few minutes, part 2 about a minute)::

    python benchmarks/bench_transformers.py [--predictors DIR] [--processes 3]
    python benchmarks/bench_transformers.py --models vit_b_32 --processes 1 --skip-zoo   # tiny
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measured_rounds import measure_rounds  # noqa: E402

HELD_OUT = ("vit_b_32", "swin_s", "swin_v2_t", "bert_base_like@seq=256", "gpt2_small_like@seq=256")
TARGET_MEDIAN, TARGET_WORST, TARGET_FALLBACK = 0.10, 0.20, 0.02


def _pct(value: float) -> str:
    return "   -  " if not math.isfinite(value) else f"{100 * value:+6.1f}%"


def held_out(models: list[str], bundle: object, device: str, processes: int) -> list[float]:
    """Measure and predict each model; print one line each; return the relative errors."""
    from layerpower.predictors.energy import predict_energy

    errors = []
    runs = measure_rounds(models, device=device, rounds=processes)
    print(f"\n{'model':<26}{'measured_s':>11}{'predicted_s':>12}{'error':>9}  coverage  spread")
    for name in models:
        measured = runs[name].runtime_s
        prediction = predict_energy(name, predictors=bundle)
        err = prediction.total.runtime_s / measured - 1.0
        errors.append(err)
        share = prediction.fallback.trained_share
        print(
            f"{name:<26}{measured:>11.4g}{prediction.total.runtime_s:>12.4g}{_pct(err):>9}  {100 * share:.1f} %"
            f"  {100 * runs[name].spread:.1f} %"
        )
    return errors


def zoo_fallbacks(bundle: object) -> None:
    """Predict every torchvision classifier; print the fallback counts and the largest fallback share."""
    from layerpower.models.zoo import torchvision_models
    from layerpower.predictors.energy import predict_energy

    shares: dict[str, float] = {}
    ops: dict[str, set[str]] = {}
    for name in torchvision_models():
        prediction = predict_energy(name, predictors=bundle)
        shares[name] = 1.0 - prediction.fallback.trained_share
        ops[name] = {op for group in prediction.fallback.fallback.values() for op in group}
    with_fallback = {n: s for n, s in shares.items() if ops[n]}
    worst = max(shares, key=shares.get)
    print(
        f"\n{len(shares)} torchvision classifiers predicted; {len(with_fallback)} with any fallback layer call"
    )
    for name in sorted(with_fallback, key=with_fallback.get, reverse=True)[:10]:
        print(
            f"  {name:<24}{100 * with_fallback[name]:6.2f} % of runtime from fallbacks: {', '.join(sorted(ops[name]))}"
        )
    ok = shares[worst] <= TARGET_FALLBACK
    print(
        f"largest fallback share {100 * shares[worst]:.2f} % ({worst}); target <= {100 * TARGET_FALLBACK:.0f} %: "
        + ("PASS" if ok else "FAIL")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(HELD_OUT), help="comma-separated held-out transformers")
    parser.add_argument("--predictors", default=None, help="a calibrated bundle of this machine")
    parser.add_argument("--budget", type=float, default=180.0, help="calibrate's budget when no --predictors")
    parser.add_argument(
        "--processes",
        type=int,
        default=3,
        help="interleaved rounds (one fresh process each) per measured model",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--skip-zoo", action="store_true", help="skip the fallback count over the classifiers"
    )
    args = parser.parse_args(argv)

    from layerpower.calibrate.run import calibrate
    from layerpower.hardware import cpu_model_name, device_id
    from layerpower.predictors.bundle import load_bundle

    here = device_id(args.device)
    print(f"CPU: {cpu_model_name()}; device {here}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.predictors:
            bundle = load_bundle(args.predictors)
        else:
            start = time.monotonic()
            bundle = calibrate(args.device, args.budget, Path(tmp) / here).bundle
            print(f"calibrate: {time.monotonic() - start:.1f} s wall")
        zoo = set(bundle.training.get("models") or [])
        models = [m for m in args.models.split(",") if m]
        inside = [m for m in models if m in zoo]
        if inside:
            raise SystemExit(f"not held out (in the training data): {', '.join(inside)}")
        print(f"bundle {bundle.device_id} ({bundle.family}); power: {bundle.power_label}")
        errors = held_out(models, bundle, args.device, args.processes)
        absolute = [abs(e) for e in errors]
        median, worst = statistics.median(absolute), max(absolute)
        print(
            f"median |error| {100 * median:.1f} % (target <= {100 * TARGET_MEDIAN:.0f} %: "
            f"{'PASS' if median <= TARGET_MEDIAN else 'FAIL'}); worst {100 * worst:.1f} % "
            f"(target <= {100 * TARGET_WORST:.0f} %: {'PASS' if worst <= TARGET_WORST else 'FAIL'})"
        )
        if not args.skip_zoo:
            zoo_fallbacks(bundle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
