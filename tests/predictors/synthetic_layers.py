"""A small synthetic dataset in the real schema, for the predictor tests.

The layers are hand-made :class:`LayerSpec` records turned into rows with ``feature_row`` (the profiler's
path); runtime follows a roofline with per-op and per-model factors, power an intensity curve, both with
noise. Power is labelled ``estimate``, as on a machine without a sensor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from layerpower.config import LAYER_COLUMNS, LAYER_KINDS, MODEL_COLUMNS, SCHEMA_VERSION
from layerpower.models.spec import LayerSpec, feature_row

DEVICE = "cpu-synthetic-test-2c"
OP_COST = {"BatchNorm2d": 1.6, "ReLU": 0.8, "add": 1.2, "GELU": 2.5, "Hardswish": 1.1}


def _conv(name: str, b: int, cin: int, h: int, cout: int, k: int, s: int) -> tuple[LayerSpec, int]:
    ho = (h + 2 * (k // 2) - k) // s + 1
    params = cout * cin * k * k + cout
    flops = 2 * b * cout * ho * ho * cin * k * k
    spec = LayerSpec(
        name,
        "Conv2d",
        "convolutional",
        (b, cin, h, h),
        (b, cout, ho, ho),
        kernel=(k, k),
        stride=(s, s),
        padding=(k // 2, k // 2),
        dilation=(1, 1),
        params=params,
        flops=flops,
        bytes_read=4 * (b * cin * h * h + params),
        bytes_written=4 * b * cout * ho * ho,
    )
    return spec, ho


def _elementwise(name: str, op: str, b: int, c: int, h: int, call: int = 0) -> LayerSpec:
    params = 2 * c if op == "BatchNorm2d" else 0
    n = b * c * h * h
    return LayerSpec(
        name,
        op,
        "other",
        (b, c, h, h),
        (b, c, h, h),
        params=params,
        bytes_read=4 * (n * (2 if op == "add" else 1) + params),
        bytes_written=4 * n,
        call_index=call,
        is_module=op != "add",
    )


def synthetic_model(
    index: int, batch_size: int, ops: tuple[str, ...] = ("BatchNorm2d", "ReLU", "add")
) -> list[LayerSpec]:
    """A CNN of a few conv blocks (conv, norm, activation, residual add), pools and a classifier."""
    rng = np.random.default_rng(1000 + index)
    b, h, c = batch_size, int(rng.choice([32, 64, 96])), 3
    specs: list[LayerSpec] = []
    for block in range(int(rng.integers(3, 6))):
        cout = int(rng.choice([16, 32, 64, 128]))
        k = int(rng.choice([1, 3, 5]))
        spec, h = _conv(f"b{block}.conv", b, c, h, cout, k, int(rng.choice([1, 2])) if h > 8 else 1)
        specs.append(spec)
        c = cout
        specs.append(_elementwise(f"b{block}.norm", ops[0], b, c, h))
        specs.append(_elementwise(f"b{block}.act", ops[1], b, c, h))
        if len(ops) > 2 and block % 2:
            specs.append(_elementwise(f"b{block}.{ops[2]}_0", ops[2], b, c, h))
        if h >= 8 and rng.random() < 0.5:
            ho = h // 2
            specs.append(
                LayerSpec(
                    f"b{block}.pool",
                    "MaxPool2d",
                    "pooling",
                    (b, c, h, h),
                    (b, c, ho, ho),
                    kernel=(2, 2),
                    stride=(2, 2),
                    padding=(0, 0),
                    bytes_read=4 * b * c * h * h,
                    bytes_written=4 * b * c * ho * ho,
                )
            )
            h = ho
    specs.append(
        LayerSpec(
            "avgpool",
            "AdaptiveAvgPool2d",
            "pooling",
            (b, c, h, h),
            (b, c, 1, 1),
            kernel=(h, h),
            stride=(h, h),
            bytes_read=4 * b * c * h * h,
            bytes_written=4 * b * c,
        )
    )
    hidden = int(rng.choice([64, 128, 256]))
    for i, (fin, fout) in enumerate([(c, hidden), (hidden, 10)]):
        params = fin * fout + fout
        specs.append(
            LayerSpec(
                f"fc{i}",
                "Linear",
                "dense",
                (b, fin),
                (b, fout),
                params=params,
                flops=2 * b * fin * fout,
                bytes_read=4 * (b * fin + params),
                bytes_written=4 * b * fout,
            )
        )
    return specs


def _runtime(spec: LayerSpec, factor: float, rng: np.random.Generator) -> float:
    moved = spec.bytes_read + spec.bytes_written
    efficiency = min(1.0, max(spec.output_shape[1], 1) / 64) ** 0.5
    compute = spec.flops / (2e10 * efficiency)
    memory = moved / 5e9 * OP_COST.get(spec.module_type, 1.0)
    return (4e-6 + max(compute, memory)) * factor * float(rng.lognormal(0.0, 0.04))


def _power(spec: LayerSpec, rng: np.random.Generator) -> float:
    intensity = spec.arithmetic_intensity
    return 20.0 + 30.0 * intensity / (intensity + 5.0) + float(rng.normal(0.0, 0.5))


def write_synthetic_dataset(
    root: Path,
    n_models: int = 6,
    batch_sizes: tuple[int, ...] = (1, 4),
    seed: int = 0,
    extra_ops: dict[int, tuple[str, ...]] | None = None,
) -> Path:
    """Write ``<kind>.parquet`` and ``model.parquet`` like build-dataset does, for ``n_models`` synthetic models."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict]] = {k: [] for k in LAYER_KINDS}
    model_rows: list[dict] = []
    for index in range(n_models):
        name = f"net{index}"
        factor = float(rng.lognormal(0.0, 0.05))
        for b in batch_sizes:
            specs = synthetic_model(index, b, (extra_ops or {}).get(index, ("BatchNorm2d", "ReLU", "add")))
            total_t = total_e = 0.0
            for spec in specs:
                t = _runtime(spec, factor, rng)
                p = _power(spec, rng)
                total_t += t
                total_e += t * p
                row = {c: None for c in LAYER_COLUMNS[spec.kind]}
                row.update({k: v for k, v in feature_row(spec).items() if k in row})
                row.update(
                    schema_version=SCHEMA_VERSION,
                    device_id=DEVICE,
                    model=name,
                    dtype="float32",
                    runtime_s=t,
                    runtime_isolated_s=t * 0.9,
                    power_w=p,
                    dynamic_power_w=p - 20.0,
                    idle_power_w=20.0,
                    energy_j=p * t * 0.9,
                    trials=3,
                    iterations=10,
                    runtime_cv=0.02,
                    power_cv=0.01,
                    power_source="estimate",
                    is_estimate=True,
                    measured_as="",
                    source="estimate",
                )
                rows[spec.kind].append(row)
            whole = (1.08 * total_t + 8e-6 * len(specs)) * float(rng.lognormal(0.0, 0.02))
            model_rows.append(
                {
                    **{c: None for c in MODEL_COLUMNS},
                    "schema_version": SCHEMA_VERSION,
                    "device_id": DEVICE,
                    "model": name,
                    "dtype": "float32",
                    "batch_size": b,
                    "runtime_s": whole,
                    "runtime_min_s": whole * 0.97,
                    "runtime_max_s": whole * 1.03,
                    "runtime_cv": 0.02,
                    "processes": 3,
                    "repeats": 10,
                    "statistic": "median of 10 forwards",
                    "power_w": total_e / total_t,
                    "dynamic_power_w": total_e / total_t - 20.0,
                    "energy_j": total_e / total_t * whole,
                    "power_source": "estimate",
                    "is_estimate": True,
                    "layer_calls": len(specs),
                    "sum_runtime_s": total_t,
                    "sum_runtime_isolated_s": total_t * 0.9,
                    "source": "estimate",
                }
            )
    root.mkdir(parents=True, exist_ok=True)
    for kind, kind_rows in rows.items():
        if kind_rows:
            pd.DataFrame(kind_rows, columns=[*LAYER_COLUMNS[kind], "source"]).to_parquet(
                root / f"{kind}.parquet"
            )
    pd.DataFrame(model_rows, columns=[*MODEL_COLUMNS, "source"]).to_parquet(root / "model.parquet")
    return root


#: small, fast regressors for tests
FAST_PARAMS = {
    "xgboost": {"n_estimators": 40, "learning_rate": 0.2},
    "random-forest": {"n_estimators": 10},
    "polynomial": {"degree": 2, "alphas": 10},
}
