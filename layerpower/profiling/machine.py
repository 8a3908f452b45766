"""This machine and process around a profile: CUDA present, torch threads, load, CPUs, versions."""

from __future__ import annotations

import os
import platform
from typing import Any

from layerpower.errors import LayerpowerError


def check_device(device: str) -> None:
    """Fail clearly when ``device`` is a CUDA device but torch sees none."""
    import torch

    from layerpower.profiling.timing import is_cuda

    if is_cuda(device) and not torch.cuda.is_available():
        raise LayerpowerError(
            f"device {device!r} asked for, but torch sees no CUDA device", hint="use --device cpu"
        )


def set_threads(threads: int) -> None:
    """Use ``threads`` intra-op threads here and in whole-model workers (they read the environment)."""
    import torch

    if threads < 1:
        raise LayerpowerError(f"threads must be at least 1, got {threads}")
    torch.set_num_threads(int(threads))
    os.environ["LAYERPOWER_TORCH_THREADS"] = str(int(threads))


def load_average() -> float | None:
    """The machine's 1-minute load average (None where the OS has none): how busy the machine was."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def usable_cpu_count() -> int:
    """The logical CPUs this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def process_facts() -> dict[str, Any]:
    """Library versions, torch threads, usable CPUs and the platform of this process, for meta.json."""
    import torch

    try:
        import torchvision

        tv = torchvision.__version__
    except ImportError:  # pragma: no cover - torchvision is a dependency
        tv = None
    from layerpower import __version__

    return {
        "versions": {
            "layerpower": __version__,
            "torch": torch.__version__,
            "torchvision": tv,
            "python": platform.python_version(),
        },
        "torch_threads": torch.get_num_threads(),
        "cpu_count": usable_cpu_count(),
        "platform": platform.platform(),
        # fixed malloc thresholds change the heap's page faults (layerpower.predictors.page_faults.heap_note)
        **({"glibc_tunables": tunables} if (tunables := os.environ.get("GLIBC_TUNABLES")) else {}),
    }
