"""Device identity: stable, readable names for the CPU or GPU a measurement ran on (or a prediction is for).

``device_id("cpu")`` -> ``"cpu-amd-epyc-7b13-2c"`` (CPU model from ``/proc/cpuinfo``, slugified, plus the
logical core count); ``device_id("cuda:0")`` -> ``"nvidia-h100-80gb-hbm3"`` (the GPU's name). The id
names the folder of profiled data (``training_data/<device-id>/``) and picks a predictor bundle, so it is
deterministic: the same machine always gives the same id.

This module sits below both :mod:`layerpower.profiling` and :mod:`layerpower.predictors`: it imports
neither (NVML is imported lazily, as ``pynvml``, only to name a GPU).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import sys
from pathlib import Path

from layerpower.errors import LayerpowerError

#: words that add nothing to a CPU model name
_NOISE = re.compile(
    r"\(r\)|\(tm\)|\bcpu\b|\bprocessor\b|\b\d+-core\b|@\s*[\d.]+\s*[gm]hz|\bwith\b.*$|\bgraphics\b",
    re.IGNORECASE,
)
#: keys of ``/proc/cpuinfo`` that hold the CPU model name (x86, some ARM kernels, older ARM boards)
_CPUINFO_MODEL_KEYS = ("model name", "cpu model", "hardware")


def slugify(text: str) -> str:
    """Lower-case, runs of anything but letters and digits become one ``-``, no leading/trailing ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def kind_and_index(device: str) -> tuple[str, int]:
    """``"cpu"`` -> ``("cpu", 0)``, ``"cuda:1"`` / ``"gpu:1"`` -> ``("cuda", 1)``; anything else fails."""
    text = str(device).strip().lower()
    kind, _, index = text.partition(":")
    if kind not in ("cpu", "cuda", "gpu"):
        raise LayerpowerError(f"unknown device {device!r}", hint="use 'cpu', 'cuda' or 'cuda:<index>'")
    if not index:
        return ("cpu" if kind == "cpu" else "cuda"), 0
    if not index.isdigit():
        raise LayerpowerError(f"bad device index in {device!r}", hint="use e.g. 'cuda:0'")
    return ("cpu" if kind == "cpu" else "cuda"), int(index)


def cpu_model_name(root: str | Path = "/") -> str:
    """The CPU model name from ``<root>/proc/cpuinfo`` ("" when it has none, e.g. some ARM boards)."""
    try:
        with open(Path(root) / "proc" / "cpuinfo", encoding="utf-8") as handle:
            text = handle.read().strip()
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in _CPUINFO_MODEL_KEYS and value.strip():
            return value.strip()
    return ""


def cpu_name(root: str | Path = "/") -> str:
    """The CPU model name (from ``/proc/cpuinfo``; falls back to the machine architecture)."""
    return cpu_model_name(root) or platform.machine() or "unknown"


def nvml_device_names() -> list[str]:
    """Names of the NVIDIA GPUs NVML sees, in index order ([] when NVML is absent). Never raises."""
    try:
        import pynvml as nvml

        nvml.nvmlInit()
    except Exception:
        return []
    try:
        return [
            str(nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(i)))
            for i in range(nvml.nvmlDeviceGetCount())
        ]
    except Exception:
        return []
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()


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
    kind, index = kind_and_index(device)
    if kind == "cpu":
        return f"{cpu_name(root)} ({os.cpu_count() or 1} logical cores)"
    return gpu_name(index)


def device_id(device: str = "cpu", *, root: str | Path = "/", cores: int | None = None) -> str:
    """A stable readable id for ``device`` ("cpu", "cuda", "cuda:1"), e.g. ``cpu-amd-epyc-7b13-2c``.

    ``cores`` (logical cores) defaults to this machine's count; ``root`` is where ``/proc`` is read (tests).
    """
    kind, index = kind_and_index(device)
    if kind == "cpu":
        name = slugify(_NOISE.sub(" ", cpu_name(root))) or "unknown"
        return f"cpu-{name}-{int(cores or os.cpu_count() or 1)}c"
    return slugify(gpu_name(index)) or f"gpu{index}"
