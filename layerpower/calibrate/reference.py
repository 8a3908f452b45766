"""The reference device's own measurements of the probe set, stored in its bundle: calibration by pairs.

Without them, ``calibrate`` compares the probes measured here with the reference regressors' *predictions*
for them, so the regressors' own error on sampled layers (about 15 % per probe) reads as a device
difference. With them (``manifest["reference_probes"]``, written by :func:`record_reference_probes` on the
reference machine), each probe is a pair, the same layer measured on both devices with the same code, and
the correction fits the device ratio ``measured here / measured there`` alone. The whole-model probes are
paired the same way: the reference's error on each probe model is taken out before the device factor is
fitted. Stored per probe: its :func:`~layerpower.calibrate.probes.probe_key` and isolated runtime (s); on
a CPU also the cost per refaulted page (``page_faults``, :mod:`layerpower.profiling.fault_cost`), so the
reference bundle prices the weight-reorder faults of :mod:`layerpower.predictors.page_faults` on its own
device too.
"""

from __future__ import annotations

import math
import tempfile
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerpower.calibrate import probes as P
from layerpower.errors import BundleError
from layerpower.predictors.bundle import MANIFEST, PredictorBundle, read_manifest
from layerpower.predictors.page_faults import REFERENCE_PROBES_KEY

#: the manifest key
KEY = REFERENCE_PROBES_KEY
#: a recording whose whole-model probes run more than this factor faster or slower than the bundle's own
#: training measurements of the same models is from another machine state than the dataset (warned of)
STATE_TOLERANCE = 1.15


def training_whole_runtimes(manifest: dict[str, Any]) -> dict[str, float]:
    """The bundle's training measurements of whole models at batch 1 in fp32 (s), by model name, from its
    leave-one-model-out evaluation records."""
    rows = (manifest.get("evaluation") or {}).get("models") or []
    out: dict[str, float] = {}
    for row in rows:
        if not isinstance(row, dict) or row.get("batch_size") != 1 or row.get("dtype") != "float32":
            continue
        runtime = float(row.get("measured_runtime_s") or math.nan)
        if math.isfinite(runtime) and runtime > 0:
            out[str(row.get("model"))] = runtime
    return out


def state_ratios(whole: dict[str, float], manifest: dict[str, Any]) -> dict[str, float]:
    """Per whole-model probe that the bundle was trained on: runtime measured now / in its training data."""
    trained = training_whole_runtimes(manifest)
    return {
        name: whole[name] / trained[name]
        for name in whole
        if name in trained and math.isfinite(whole[name]) and whole[name] > 0
    }


def state_mismatch(entry: dict[str, Any]) -> str:
    """A sentence when a recording's whole-model probes ran beyond :data:`STATE_TOLERANCE` of the
    bundle's training measurements of them (another machine state than the dataset's); else ``""``."""
    median = entry.get("whole_vs_training_median")
    if median is None or abs(math.log(median)) <= math.log(STATE_TOLERANCE):
        return ""
    shown = ", ".join(f"{name} {ratio:.2f}x" for name, ratio in sorted(entry["whole_vs_training"].items()))
    return (
        f"the whole-model probes ran {median:.2f}x their time in the bundle's training data ({shown}): this "
        "machine is not in the state its dataset was profiled in, and calibrations paired with this "
        "recording would miss that difference; record right after profiling the dataset, or re-profile it"
    )


def record_reference_probes(
    bundle_dir: str | PathLike[str],
    device: str = "cpu",
    *,
    power_source: str | None = None,
    progress: P.Progress | None = None,
) -> dict[str, Any]:
    """Measure the whole probe set on this machine and store it in the (trained) bundle at ``bundle_dir``.

    The bundle must be this device's and not a calibrated one. Returns the stored entry, which also holds
    per whole-model probe the bundle was trained on its runtime now / in the training data
    (``whole_vs_training`` and their median; see :func:`state_mismatch`).
    """
    from layerpower.hardware import cpu_model_name, device_id
    from layerpower.io import write_json_atomic

    root = Path(bundle_dir)
    manifest = read_manifest(root)
    here = device_id(device)
    if manifest.get("calibrated"):
        raise BundleError(
            f"{root}: a calibrated bundle", "record the probes into a trained (reference) bundle"
        )
    if manifest.get("device_id") != here:
        raise BundleError(
            f"{root}: a bundle for {manifest.get('device_id')!r}, and this machine is {here!r}",
            "record a bundle's reference probes on the machine it was trained for",
        )
    specs = P.probe_specs()
    with tempfile.TemporaryDirectory() as tmp:
        store = P.ProbeStore(Path(tmp))
        layers = P.measure_layer_probes(
            specs, store, device=device, deadline=math.inf, power_source=power_source, progress=progress
        )
        whole = P.measure_whole_probes(
            dict.fromkeys(P.WHOLE_PROBES, 0.0),
            store,
            device=device,
            deadline=math.inf,
            power_source=power_source,
            progress=progress,
        )
        faults = P.measure_fault_probe(store, device=device, deadline=math.inf, progress=progress)
    runtimes = pd.to_numeric(layers["runtime_isolated_s"], errors="coerce")
    entry = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device_id": here,
        "cpu_model": cpu_model_name(),
        "seed": P.PROBE_SEED,
        "planned": len(specs),
        "statistic": "runtime_isolated_s of each layer probe (s); whole models: runtime_s (s)",
        "layers": {
            str(k): float(t)
            for k, t in zip(layers["probe_key"], runtimes, strict=True)
            if math.isfinite(t) and t > 0
        },
        "whole": {name: float(result["runtime_s"]) for name, result in whole.items()},
        "page_faults": faults or None,
    }
    ratios = state_ratios(entry["whole"], manifest)
    entry["whole_vs_training"] = ratios
    entry["whole_vs_training_median"] = float(np.median(list(ratios.values()))) if ratios else None
    manifest[KEY] = entry
    write_json_atomic(manifest, root / MANIFEST)
    return entry


def reference_probes(bundle: PredictorBundle) -> dict[str, Any]:
    """The bundle's stored probe measurements (``{}`` when it has none)."""
    entry = (getattr(bundle, "manifest", None) or {}).get(KEY)
    return entry if isinstance(entry, dict) else {}


def paired_isolated(bundle: PredictorBundle, probes: pd.DataFrame) -> np.ndarray:
    """Per probe row the reference's isolated runtime (s) of the same probe; NaN where it has none."""
    layers = reference_probes(bundle).get("layers") or {}
    if "probe_key" not in probes.columns:
        return np.full(len(probes), np.nan)
    return np.array([layers.get(str(k), np.nan) for k in probes["probe_key"]], dtype=np.float64)


def paired_whole(bundle: PredictorBundle, names: list[str]) -> np.ndarray:
    """Per whole-model probe the reference's measured runtime (s); NaN where it has none."""
    whole = reference_probes(bundle).get("whole") or {}
    return np.array([whole.get(name, np.nan) for name in names], dtype=np.float64)
