"""How much of a fresh process's forward goes to heap page faults that no layer feature predicts.

In a fresh process glibc's dynamic thresholds start low (mmap at 128 KiB, trim at twice the mmap threshold).
They rise to the largest mmapped block freed so far, at most 32 MiB. A model whose activations stay below
that ceiling can end each forward with more free memory at the top of the heap than the trim threshold.
glibc then hands it back to the kernel, and the next forward faults it in again, every forward. A process
that once freed a block of 31 MiB or more trims only above 62 MiB, and most models at batch 1 then take no
heap faults at all. That process might be a server that loaded a checkpoint, or one that ran a bigger model.

For each model this bench runs interleaved rounds of two fresh worker processes. ``plain`` builds the model
and measures it. ``warmed`` first allocates and frees one 31 MiB block, then does the same. It prints the
median forward time and the minor faults per forward of both, and the difference as a share of the plain
time. Convolution weights of 32 MiB or more refault in both (their cost is priced:
``layerpower.predictors.page_faults``).

Usage: python benchmarks/bench_heap_faults.py [--models densenet121,vgg16] [--rounds 3] [--forwards 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: zoo models at batch 1 (in the training data, so no held-out model is measured here)
MODELS = ("densenet121", "vgg16", "googlenet", "mobilenet_v2", "efficientnet_b0", "resnet18")
#: the block the warmed worker frees first: below glibc's 32 MiB ceiling, so it raises the thresholds
WARM_BYTES = 31 << 20


def worker(name: str, warm: bool, forwards: int) -> dict[str, float]:
    """In this process: optionally free a 31 MiB block, build ``name``, time ``forwards`` forwards."""
    import resource

    import torch

    from layerpower.models.inputs import make_inputs
    from layerpower.models.zoo import build_model, resolve_model

    if warm:
        block = torch.empty(WARM_BYTES, dtype=torch.uint8)
        block.fill_(1)
        del block
    entry = resolve_model(name)
    net = build_model(entry).eval()
    x = make_inputs(entry, 1, "float32", module=net)
    times = []
    with torch.no_grad():
        for _ in range(3):
            net(*x)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(forwards):
            start = time.perf_counter()
            net(*x)
            times.append(time.perf_counter() - start)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    return {"runtime_s": statistics.median(times), "faults": faults / forwards}


def run_worker(name: str, warm: bool, forwards: int) -> dict[str, float]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--forwards", str(forwards)]
    command += ["--warm"] if warm else []
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated zoo models")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of both workers")
    parser.add_argument("--forwards", type=int, default=20, help="timed forwards per worker")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.warm, args.forwards)))
        return 0

    from layerpower.hardware import cpu_model_name

    models = [m for m in args.models.split(",") if m]
    found: dict[tuple[str, bool], list[dict[str, float]]] = {
        (m, w): [] for m in models for w in (False, True)
    }
    for r in range(max(1, args.rounds)):
        for name in models:
            for warm in (False, True):
                found[(name, warm)].append(run_worker(name, warm, args.forwards))
        print(f"  round {r + 1}/{args.rounds}", file=sys.stderr)
    print(
        f"CPU: {cpu_model_name() or 'unknown'}; batch 1, fp32; medians of {args.rounds} fresh processes each"
    )
    print(f"\n{'model':<18}{'plain_ms':>10}{'faults':>9}{'warmed_ms':>11}{'faults':>9}{'heap share':>12}")
    for name in models:
        plain, warmed = (
            {key: statistics.median(d[key] for d in found[(name, w)]) for key in ("runtime_s", "faults")}
            for w in (False, True)
        )
        share = 1.0 - warmed["runtime_s"] / plain["runtime_s"]
        print(
            f"{name:<18}{plain['runtime_s'] * 1e3:>10.2f}{plain['faults']:>9.0f}"
            f"{warmed['runtime_s'] * 1e3:>11.2f}{warmed['faults']:>9.0f}{share:>12.1%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
