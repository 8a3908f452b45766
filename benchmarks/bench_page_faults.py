"""What one minor page fault costs on this machine, and how much of a model's forward it takes.

The layer predictors price compute and memory traffic; a forward pass also pays for every page of a freed
buffer it touches again (glibc hands blocks above its mmap threshold back to the OS, so a model with large
temporaries refaults them on every forward). That cost is set by the kernel and the hypervisor, not by the
CPU's speed, so a device factor fitted on non-faulting probes does not carry it. This prints:

- the cost of a minor fault on fresh anonymous memory (µs per fault: median, min and max of ``--repeats``
  maps of ``--mib`` MiB, one write per page), and the cost of writing the same pages again (ns per page);
- for each ``--models`` model at batch 1 (random weights, CPU): the median forward time, the minor faults per
  forward and their share of it at the measured cost per fault.

Usage: python benchmarks/bench_page_faults.py [--mib 64] [--repeats 30] [--models wide_resnet50_2,resnet18]
"""

from __future__ import annotations

import argparse
import mmap
import resource
import statistics
import time


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def fault_cost(mib: int) -> tuple[float, float]:
    """(µs per minor fault on a fresh anonymous map of ``mib`` MiB, ns per page written again)."""
    import numpy as np

    size = mib << 20
    pages = size // mmap.PAGESIZE
    block = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    view = np.frombuffer(block, dtype=np.uint8)
    before = minor_faults()
    start = time.perf_counter()
    view[:: mmap.PAGESIZE] = 1
    first = time.perf_counter() - start
    faults = max(1, minor_faults() - before)
    start = time.perf_counter()
    view[:: mmap.PAGESIZE] = 2
    again = time.perf_counter() - start
    del view
    block.close()
    return first / faults * 1e6, again / pages * 1e9


def model_faults(name: str, forwards: int = 10) -> tuple[float, float]:
    """(median forward time in s, median minor faults per forward) of ``name`` at batch 1 on the CPU."""
    import torch

    from layerpower.models.inputs import make_inputs
    from layerpower.models.zoo import build_model, resolve_model

    entry = resolve_model(name)
    net = build_model(entry).eval()
    x = make_inputs(entry, 1, "float32", module=net)
    times, faults = [], []
    with torch.inference_mode():
        for _ in range(3):
            net(*x)
        for _ in range(forwards):
            before, start = minor_faults(), time.perf_counter()
            net(*x)
            times.append(time.perf_counter() - start)
            faults.append(minor_faults() - before)
    return statistics.median(times), statistics.median(faults)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=64, help="size of each fresh map, MiB")
    parser.add_argument("--repeats", type=int, default=30, help="fresh maps measured")
    parser.add_argument("--models", default="wide_resnet50_2,densenet169,resnet18", help="comma-separated")
    args = parser.parse_args(argv)

    from layerpower.hardware import cpu_model_name

    costs = [fault_cost(args.mib) for _ in range(max(1, args.repeats))]
    per_fault = [c[0] for c in costs]
    cost_us = statistics.median(per_fault)
    print(f"CPU: {cpu_model_name() or 'unknown'}")
    print(
        f"minor fault on fresh memory: {cost_us:.2f} µs median (min {min(per_fault):.2f}, max "
        f"{max(per_fault):.2f}; {args.repeats} maps of {args.mib} MiB); writing the page again: "
        f"{statistics.median(c[1] for c in costs):.1f} ns"
    )
    models = [m for m in args.models.split(",") if m]
    if models:
        print(f"\n{'model':<22}{'forward_ms':>11}{'faults':>9}{'fault_ms':>10}{'share':>8}")
    for name in models:
        forward_s, faults = model_faults(name)
        fault_s = faults * cost_us * 1e-6
        print(
            f"{name:<22}{forward_s * 1e3:>11.2f}{faults:>9.0f}{fault_s * 1e3:>10.2f}{fault_s / forward_s:>8.1%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
