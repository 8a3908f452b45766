"""What one refaulted page costs a convolution on this CPU (s), measured on the mechanism itself.

A probe convolution whose weight is above glibc's mmap threshold (1024→1024 3×3 at 7×7, fp32: 36 MiB) is
timed in one fresh worker process in interleaved rounds of two malloc settings, switched with ``mallopt``:
the mmap threshold at 32 MiB (glibc's own ceiling: the weight's reorder buffer is mapped fresh every call,
as in any process) and at 1 GiB (the buffer is reused from the heap and never faults). The cost per page
is the difference of the two median call times over the difference of their minor faults per call
(the predictors price the refaulted pages with it). The worker runs apart because
``mallopt`` turns glibc's dynamic threshold off for the rest of a process.

Where ``mallopt`` is missing (not glibc) or the faults do not differ by at least half the weight's pages
(another allocator), the mechanism is absent: the cost is 0 and ``applies`` is False. Run by
``layerpower calibrate`` and ``--record-reference`` on the CPU (about 3 s); the worker entry point is
``python -m layerpower.profiling.fault_cost``.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from layerpower.errors import LayerpowerError

#: the probe convolution: channels in = out, kernel, spatial size (batch 1, fp32)
PROBE_CHANNELS, PROBE_KERNEL, PROBE_SIZE = 1024, 3, 7
#: glibc mallopt parameters
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: interleaved rounds per setting, timed calls per round
ROUNDS, CALLS = 5, 8
#: a worker running longer than this is stopped (s)
WORKER_TIMEOUT_S = 300.0


def _libc() -> Any:
    """glibc, with ``mallopt`` and ``malloc_trim``; None elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else ctypes.CDLL(None)
        libc.mallopt, libc.malloc_trim  # noqa: B018 (both must exist)
    except (OSError, AttributeError):
        return None
    return libc


def _faults() -> int:
    """This process's minor page faults so far (0 where they cannot be counted, as on Windows)."""
    from layerpower.profiling.whole_model import minor_faults

    return minor_faults() or 0


def measure_in_this_process(rounds: int = ROUNDS, calls: int = CALLS) -> dict[str, Any]:
    """Time the probe convolution under both settings in this process (changes its malloc settings for
    good: run it in a worker, :func:`measure_fault_cost`). Seconds, faults per call, pages."""
    import torch

    from layerpower.config.memory import MMAP_THRESHOLD_MAX_BYTES, PAGE_BYTES

    libc = _libc()
    conv = torch.nn.Conv2d(
        PROBE_CHANNELS, PROBE_CHANNELS, PROBE_KERNEL, padding=PROBE_KERNEL // 2, bias=False
    )
    conv = conv.eval()
    x = torch.randn(1, PROBE_CHANNELS, PROBE_SIZE, PROBE_SIZE)
    pages = conv.weight.numel() * conv.weight.element_size() / PAGE_BYTES
    found: dict[str, dict[str, list[float]]] = {
        "fresh": {"time": [], "faults": []},
        "reused": {"time": [], "faults": []},
    }
    # (mmap threshold, trim threshold) in bytes; both fit a C int
    settings = {
        "fresh": (MMAP_THRESHOLD_MAX_BYTES, 2 * MMAP_THRESHOLD_MAX_BYTES),
        "reused": (1 << 30, 1 << 30),
    }
    with torch.no_grad():
        for _ in range(max(1, rounds)):
            for mode, (mmap_at, trim_at) in settings.items():
                if libc is not None:
                    libc.mallopt(M_MMAP_THRESHOLD, mmap_at)
                    libc.mallopt(M_TRIM_THRESHOLD, trim_at)
                    libc.malloc_trim(0)  # hand back the free heap top, or malloc serves the buffer from it
                conv(x)
                conv(x)
                times = []
                before = _faults()
                for _ in range(max(1, calls)):
                    start = time.perf_counter()
                    conv(x)
                    times.append(time.perf_counter() - start)
                found[mode]["faults"].append((_faults() - before) / max(1, calls))
                found[mode]["time"].append(statistics.median(times))
    fresh_t, reused_t = (statistics.median(found[m]["time"]) for m in settings)
    fresh_f, reused_f = (statistics.median(found[m]["faults"]) for m in settings)
    applies = libc is not None and fresh_f - reused_f >= pages / 2
    cost = max(0.0, (fresh_t - reused_t) / (fresh_f - reused_f)) if applies else 0.0
    return {
        "seconds_per_page": cost,
        "applies": bool(applies),
        "probe": f"Conv2d {PROBE_CHANNELS}->{PROBE_CHANNELS} {PROBE_KERNEL}x{PROBE_KERNEL} at "
        f"{PROBE_SIZE}x{PROBE_SIZE}, batch 1, fp32 ({pages:,.0f} weight pages)",
        "fresh_call_s": fresh_t,
        "reused_call_s": reused_t,
        "fresh_faults_per_call": fresh_f,
        "reused_faults_per_call": reused_f,
        "rounds": int(max(1, rounds)),
        "calls_per_round": int(max(1, calls)),
        "torch_threads": torch.get_num_threads(),
        "method": "median call time with the mmap threshold at 32 MiB minus at 1 GiB (mallopt), over the "
        "difference of their minor faults per call; interleaved rounds in one worker process"
        + ("" if libc is not None else "; mallopt not found (not glibc): no cost"),
    }


def measure_fault_cost(device: str = "cpu", rounds: int = ROUNDS, calls: int = CALLS) -> dict[str, Any]:
    """The cost per refaulted page on ``device`` (CPU only) from one worker process (see the module)."""
    if not str(device).startswith("cpu"):
        raise LayerpowerError(f"page-fault cost is a CPU measurement, not one of {device!r}", "use cpu")
    from layerpower.profiling.worker import run_json_worker

    command = [sys.executable, "-m", "layerpower.profiling.fault_cost", "--rounds", str(rounds)]
    command += ["--calls", str(calls)]
    return dict(
        run_json_worker(command, "the page-fault cost probe", WORKER_TIMEOUT_S, "retry on an idle machine")
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Worker entry point: print the measurement as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m layerpower.profiling.fault_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--calls", type=int, default=CALLS)
    args = parser.parse_args(argv)
    threads = os.environ.get("LAYERPOWER_TORCH_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    print(json.dumps(measure_in_this_process(args.rounds, args.calls)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
