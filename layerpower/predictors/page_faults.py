"""Page faults the layer predictors cannot have learned: convolution weights reordered above glibc's mmap
threshold.

On the CPU every convolution call has oneDNN reorder its weight into a blocked layout, in a scratch buffer of
the weight's size. glibc serves a request of at least :data:`MMAP_THRESHOLD_MAX_BYTES` (32 MiB on 64-bit,
the ceiling of its dynamic mmap threshold) with a fresh ``mmap`` and unmaps it on free, so such a call
takes one minor fault per page of its weight, every time. Measured on a 2-core AMD EPYC: a 1024→1024 3×3
convolution (36 MiB of weight) at 7×7 takes 9,217 faults and 13.9 ms a call, and 0 faults and 5.3 ms with
the mmap threshold raised; a 700→700 one (16.8 MiB) takes none. Linear layers read their weight in place
and take none. No zoo model has such a convolution (the widest, 512→512 3×3, holds 9 MiB), so the
regressors never saw the cost; wide_resnet50_2's three 1024→1024 convolutions take 27,648 faults a forward.

:func:`refault_pages` counts these pages per layer call from its features; prediction prices them at the
bundle's measured cost per page (:func:`fault_cost_s`: measured by ``calibrate`` on its device, or recorded
with the reference probes), and lists them as not priced where the bundle has no such measurement.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from layerpower.config.memory import MMAP_THRESHOLD_MAX_BYTES, PAGE_BYTES

#: operations whose weight oneDNN reorders on every call
REORDERED_WEIGHT_OPS = frozenset(
    {"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"}
)
#: the manifest entry of the reference's recorded probes (``layerpower.calibrate.reference.KEY``)
REFERENCE_PROBES_KEY = "reference_probes"
#: bytes per element of the dtypes a layer row names
_ELEMENT_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}


def refault_pages(frame: pd.DataFrame) -> np.ndarray:
    """Per layer row: the pages (4 KiB) its call faults in for a weight reorder above the mmap threshold
    (0 for every other row). Uses ``layer_type``, ``params`` and ``dtype`` (float32 where absent)."""
    if frame.empty or "layer_type" not in frame.columns or "params" not in frame.columns:
        return np.zeros(len(frame))
    reordered = frame["layer_type"].astype(str).isin(REORDERED_WEIGHT_OPS).to_numpy()
    params = pd.to_numeric(frame["params"], errors="coerce").fillna(0.0).to_numpy(dtype=np.float64)
    dtypes = frame["dtype"].astype(str) if "dtype" in frame.columns else pd.Series("float32", frame.index)
    element = dtypes.map(_ELEMENT_BYTES).fillna(4.0).to_numpy(dtype=np.float64)
    weight = params * element
    pages = np.ceil(weight / PAGE_BYTES)
    return np.where(reordered & (weight >= MMAP_THRESHOLD_MAX_BYTES), pages, 0.0)


def on_cpu(bundle: Any) -> bool:
    """Whether ``bundle`` predicts a CPU device, where glibc serves the weight reorders (not a GPU)."""
    return str(getattr(bundle, "device_id", "")).startswith("cpu-")


def bundle_pages(bundle: Any, frame: pd.DataFrame) -> np.ndarray:
    """:func:`refault_pages` of ``frame`` on ``bundle``'s device: zeros where it is not a CPU."""
    return refault_pages(frame) if on_cpu(bundle) else np.zeros(len(frame))


def fault_cost_s(bundle: Any) -> float | None:
    """Seconds per refaulted page on ``bundle``'s device: the cost ``calibrate`` measured, else the one
    recorded with the reference probes; None where neither was measured or the device is not a CPU."""
    if not on_cpu(bundle):
        return None
    recorded = (getattr(bundle, "manifest", None) or {}).get(REFERENCE_PROBES_KEY)
    for entry in (
        (getattr(bundle, "calibrated", None) or {}),
        recorded if isinstance(recorded, dict) else {},
    ):
        value = (entry.get("page_faults") or {}).get("seconds_per_page")
        if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
            return float(value)
    return None


def fault_note(pages: np.ndarray, cost_s: float | None, device_id: str) -> str:
    """The sentence prediction prints about the refaulted pages (``""`` when there are none)."""
    calls = int((pages > 0).sum())
    if not calls:
        return ""
    total = float(pages.sum())
    what = (
        f"{calls} convolution call(s) reorder a weight of 32 MiB or more, which glibc maps fresh every call: "
        f"{total:,.0f} page faults a forward"
    )
    if cost_s == 0:
        return f"{what}; calibrate found that the allocator on {device_id} reuses such buffers: no cost"
    if cost_s is None:
        return (
            f"{what}, not priced: the bundle for {device_id} has no measured cost per fault "
            "(run `layerpower calibrate` on the device)"
        )
    return f"{what}, priced at {cost_s * 1e6:.2f} µs each as measured on {device_id} ({total * cost_s:.4g} s)"


def heap_note(bundle: Any) -> str:
    """The sentence CPU predictions print about heap page faults (``""`` off the CPU).

    With glibc's default malloc a process may hand a forward's freed memory back to the kernel and fault it
    in again on every forward. Whether it does depends on what the process allocated before (its dynamic
    thresholds), not on the model alone, so no layer feature predicts it; ``benchmarks/bench_heap_faults.py``
    measures the share. Fixed thresholds (:data:`~layerpower.config.memory.STEADY_MALLOC_TUNABLES`) avoid it.
    """
    if not on_cpu(bundle):
        return ""
    from layerpower.config.memory import STEADY_MALLOC_TUNABLES

    return (
        "heap page faults are not predicted per model: with glibc's default malloc a process may fault a "
        "forward's freed memory in again every forward, by its allocation history (up to a third of a forward: "
        "'Heap page faults' in the README); the runtime carries the calibration models' average share, and "
        f"GLIBC_TUNABLES={STEADY_MALLOC_TUNABLES} avoids them"
    )
