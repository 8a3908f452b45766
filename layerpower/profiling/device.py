"""Stable, readable identifiers for the device a measurement ran on.

``device_id("cpu")`` -> ``"cpu-amd-epyc-7b13-2c"`` (CPU model from ``/proc/cpuinfo``, slugified, plus the
logical core count); ``device_id("cuda:0")`` -> ``"nvidia-h100-80gb-hbm3"`` (the GPU's name). The id
names the folder of profiled data (``training_data/<device-id>/``), so it is deterministic: the same
machine always gives the same id.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path

from layerpower.errors import LayerpowerError
from layerpower.profiling.power.estimate import cpu_model_name

#: words that add nothing to a CPU model name
_NOISE = re.compile(
    r"\(r\)|\(tm\)|\bcpu\b|\bprocessor\b|\b\d+-core\b|@\s*[\d.]+\s*[gm]hz|\bwith\b.*$|\bgraphics\b",
    re.IGNORECASE,
)


def slugify(text: str) -> str:
    """Lower-case, runs of anything but letters and digits become one ``-``, no leading/trailing ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _kind_and_index(device: str) -> tuple[str, int]:
    text = str(device).strip().lower()
    kind, _, index = text.partition(":")
    if kind not in ("cpu", "cuda", "gpu"):
        raise LayerpowerError(f"unknown device {device!r}", hint="use 'cpu', 'cuda' or 'cuda:<index>'")
    if not index:
        return ("cpu" if kind == "cpu" else "cuda"), 0
    if not index.isdigit():
        raise LayerpowerError(f"bad device index in {device!r}", hint="use e.g. 'cuda:0'")
    return ("cpu" if kind == "cpu" else "cuda"), int(index)


def cpu_name(root: str | Path = "/") -> str:
    """The CPU model name (from ``/proc/cpuinfo``; falls back to the machine architecture)."""
    return cpu_model_name(root) or platform.machine() or "unknown"


def gpu_name(index: int = 0) -> str:
    """The name of CUDA GPU ``index``: from torch when it is already imported and sees CUDA, else NVML."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                if index >= torch.cuda.device_count():
                    raise LayerpowerError(
                        f"no CUDA device cuda:{index}",
                        hint=f"this machine has {torch.cuda.device_count()} GPU(s)",
                    )
                return str(torch.cuda.get_device_name(index))
        except LayerpowerError:
            raise
        except Exception:
            pass
    from layerpower.profiling.power.nvml import nvml_device_names

    names = nvml_device_names()
    if index >= len(names):
        raise LayerpowerError(
            f"no CUDA device cuda:{index}",
            hint=f"this machine has {len(names)} NVIDIA GPU(s)"
            if names
            else "this machine has no NVIDIA GPU",
        )
    return names[index]


def device_name(device: str = "cpu", *, root: str | Path = "/") -> str:
    """A human name for ``device``: the CPU model (with core count) or the GPU name."""
    kind, index = _kind_and_index(device)
    if kind == "cpu":
        return f"{cpu_name(root)} ({os.cpu_count() or 1} logical cores)"
    return gpu_name(index)


def device_id(device: str = "cpu", *, root: str | Path = "/", cores: int | None = None) -> str:
    """A stable readable id for ``device`` ("cpu", "cuda", "cuda:1"), e.g. ``cpu-amd-epyc-7b13-2c``."""
    kind, index = _kind_and_index(device)
    if kind == "cpu":
        name = slugify(_NOISE.sub(" ", cpu_name(root))) or "unknown"
        return f"cpu-{name}-{int(cores or os.cpu_count() or 1)}c"
    return slugify(gpu_name(index)) or f"gpu{index}"
