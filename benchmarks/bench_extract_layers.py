"""Speed of weight-free layer extraction over the whole zoo.

Times ``extract_layers(name)`` (meta build + traced forward + specs) for every torchvision classification
model and lenet, in one process after a warm-up, and prints one row per model (seconds, layer calls,
GFLOPs) and PASS/FAIL lines for the targets:

* every model except the largest RegNets in under 1 s;
* all models together in under 90 s (on the project's 2-core CPU);
* every model extracts without error, and no op outside a leaf module goes unclassified.

``--cli`` also runs ``layerpower layers <name> --format csv`` for every model. Exits 0 either way.

    python benchmarks/bench_extract_layers.py [--models resnet18,vgg16] [--repeat 2] [--cli]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import Counter

PER_MODEL_TARGET_S = 1.0
TOTAL_TARGET_S = 90.0
#: exempt from the per-model target: the largest RegNets (over 100 M parameters)
LARGEST_REGNETS = frozenset({"regnet_x_32gf", "regnet_y_32gf", "regnet_y_128gf"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="", help="comma-separated names (default: the whole zoo)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="time each model this many times, keep the best"
    )
    parser.add_argument(
        "--cli", action="store_true", help="also run `layerpower layers NAME` for every model"
    )
    options = parser.parse_args()

    import torch

    from layerpower.models.layers import extract_layers, summarize_layers
    from layerpower.models.trace import trace_layer_calls
    from layerpower.models.zoo import available_models, build_model, resolve_model

    names = [n.strip() for n in options.models.split(",") if n.strip()] or available_models()
    print(
        f"# extract_layers over {len(names)} models; torch {torch.__version__}, {platform.processor() or '?'}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, torch threads {torch.get_num_threads()}"
    )
    extract_layers("lenet")  # warm-up: imports and first-call costs
    extract_layers("resnet18")

    rows, failures = [], []  # rows: (name, wall s, CPU s, layer calls, GFLOPs)
    for name in names:
        best = (float("inf"), float("inf"))
        try:
            for _ in range(max(options.repeat, 1)):
                wall, cpu = time.perf_counter(), time.process_time()
                specs = extract_layers(name)
                best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
        except Exception as exc:  # report every failure, keep going
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            print(f"{name:22s} FAILED {type(exc).__name__}: {exc}", flush=True)
            continue
        summary = summarize_layers(specs)
        rows.append((name, *best, summary["layer_calls"], summary["flops"] / 1e9))
        print(
            f"{name:22s} {best[0]:7.3f} s (CPU {best[1]:6.3f} s) {summary['layer_calls']:6d} calls "
            f"{summary['flops'] / 1e9:10.2f} GFLOPs",
            flush=True,
        )

    # ops seen outside leaf modules that are neither layers nor shape ops (should be none)
    unclassified: Counter[str] = Counter()
    for name in names:
        entry = resolve_model(name)
        model = build_model(entry, device="meta")
        trace = trace_layer_calls(model, torch.empty(1, *entry.input_shape, device="meta"))
        unclassified.update(trace.ignored_ops)

    cli_failures = []
    if options.cli:
        from click.testing import CliRunner

        from layerpower.cli import main as cli

        runner = CliRunner()
        for name in names:
            result = runner.invoke(cli, ["layers", name, "--format", "csv"])
            if result.exit_code != 0:
                cli_failures.append(f"{name}: exit {result.exit_code}: {result.output.strip()[-200:]}")

    total = sum(r[1] for r in rows)
    total_cpu = sum(r[2] for r in rows)
    slow = [(r[0], r[1]) for r in rows if r[1] >= PER_MODEL_TARGET_S and r[0] not in LARGEST_REGNETS]
    slow_cpu = [(r[0], r[2]) for r in rows if r[2] >= PER_MODEL_TARGET_S and r[0] not in LARGEST_REGNETS]
    slowest = max(rows, key=lambda r: r[1]) if rows else ("-", 0.0, 0.0)
    load = os.getloadavg()[0]
    print()
    print(
        f"models {len(rows)} ok, {len(failures)} failed; total {total:.1f} s wall, {total_cpu:.1f} s CPU; "
        f"slowest {slowest[0]} {slowest[1]:.3f} s; load average now {load:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'PASS' if not slow else 'FAIL'} every model but the largest RegNets under {PER_MODEL_TARGET_S:.0f} s"
        + (": over it " + ", ".join(f"{n} {s:.2f} s" for n, s in slow) if slow else "")
    )
    print(
        f"{'PASS' if total < TOTAL_TARGET_S else 'FAIL'} all models under {TOTAL_TARGET_S:.0f} s in total "
        f"({total:.1f} s)"
    )
    if load > (os.cpu_count() or 1):
        print(
            f"  NOTE: the CPU is shared (load {load:.1f} > {os.cpu_count()} CPUs), so wall times are inflated; "
            f"in CPU time: {'PASS' if not slow_cpu else 'FAIL'} every model under {PER_MODEL_TARGET_S:.0f} s"
            + (f" (over it: {', '.join(n for n, _ in slow_cpu)})" if slow_cpu else "")
            + f", {'PASS' if total_cpu < TOTAL_TARGET_S else 'FAIL'} total {total_cpu:.1f} s"
        )
    print(
        f"{'PASS' if not failures else 'FAIL'} every model extracts without error"
        + ("".join(f"\n    {f}" for f in failures) if failures else "")
    )
    print(
        f"{'PASS' if not unclassified else 'FAIL'} no unclassified op outside leaf modules"
        + (f": {dict(unclassified)}" if unclassified else "")
    )
    if options.cli:
        print(
            f"{'PASS' if not cli_failures else 'FAIL'} `layerpower layers NAME` works for every model"
            + ("".join(f"\n    {f}" for f in cli_failures) if cli_failures else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
