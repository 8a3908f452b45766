"""Power and energy sources: NVML (NVIDIA GPUs), Jetson INA3221 rails, RAPL (CPU packages and DRAM), and
a CPU estimate for machines without a sensor.

``detect_sources()`` lists what this machine has, best first; ``get_source()`` opens the best or a named
one. Every reading is in SI units (joules, watts, seconds) and every source names itself (``source.name``)
and says whether it is an estimate (``source.is_estimate``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from layerpower.config.vocab import POWER_SOURCES
from layerpower.errors import PowerSourceError
from layerpower.profiling.power.base import PowerSource, clear_probe_cache

#: source name -> "module:class", in order of preference
SOURCE_CLASSES: dict[str, str] = {
    "nvml": "layerpower.profiling.power.nvml:NvmlSource",
    "jetson": "layerpower.profiling.power.jetson:JetsonSource",
    "rapl": "layerpower.profiling.power.rapl:RaplSource",
    "estimate": "layerpower.profiling.power.estimate:EstimateSource",
}
SOURCE_NAMES: tuple[str, ...] = POWER_SOURCES
assert tuple(SOURCE_CLASSES) == POWER_SOURCES, "one class per name in layerpower.config.vocab"

#: what to do when a named source is missing
_HINTS: dict[str, str] = {
    "nvml": "install the NVIDIA driver and nvidia-ml-py, or pick another --power-source",
    "jetson": "only NVIDIA Jetson boards have INA3221 rails; pick another --power-source",
    "rapl": "needs an Intel/AMD CPU with the powercap driver (modprobe intel_rapl_common) and read access",
    "estimate": "",
}

__all__ = [
    "SOURCE_NAMES",
    "PowerSource",
    "PowerSourceError",
    "clear_probe_cache",
    "detect_sources",
    "get_source",
    "source_class",
    "unavailable_reasons",
]


def source_class(name: str) -> type[PowerSource]:
    """The class implementing source ``name``; a :class:`PowerSourceError` for an unknown name."""
    target = SOURCE_CLASSES.get(name)
    if target is None:
        raise PowerSourceError(
            f"unknown power source {name!r}", hint=f"choose one of: {', '.join(SOURCE_NAMES)}"
        )
    module_name, attr = target.split(":")
    return getattr(importlib.import_module(module_name), attr)


def unavailable_reasons(root: str | Path = "/") -> dict[str, str | None]:
    """For every source name, why it is missing here (``None`` when available). Never raises."""
    return {name: source_class(name).unavailable_reason(root) for name in SOURCE_NAMES}


def detect_sources(root: str | Path = "/") -> list[str]:
    """Names of the sources available on this machine, best first: nvml, jetson, rapl, estimate.

    ``estimate`` is always last and always present.
    """
    return [name for name, reason in unavailable_reasons(root).items() if reason is None]


def _open(name: str, root: str | Path, tdp_w: float | None, gpus: list[int] | None, **kw: Any) -> PowerSource:
    cls = source_class(name)
    if name == "nvml":
        return cls(gpus=gpus, root=root, **kw)
    if name == "estimate":
        return cls(tdp_w=tdp_w, root=root, **kw)
    return cls(root=root, **kw)


def get_source(
    name: str | PowerSource | None = None,
    *,
    root: str | Path = "/",
    tdp_w: float | None = None,
    gpus: list[int] | None = None,
    **kw: Any,
) -> PowerSource:
    """Open the best available source (``name`` None or ``"auto"``) or the one named.

    ``tdp_w`` is used by the estimate only; ``gpus`` (indices) by NVML only. A named source that is not
    present raises :class:`PowerSourceError` saying why it is missing and what to do.
    """
    if isinstance(name, PowerSource):
        return name
    if name in (None, "", "auto"):
        for candidate in detect_sources(root):
            return _open(candidate, root, tdp_w, gpus, **kw)
    assert isinstance(name, str)
    reason = source_class(name).unavailable_reason(root)
    if reason is not None:
        raise PowerSourceError(
            f"power source {name!r} is not available: {reason}", hint=_HINTS.get(name) or None
        )
    return _open(name, root, tdp_w, gpus, **kw)
