"""A writer of profiler-format folders built from hand-made LayerSpecs, for the dataset tests.

The rows carry the exact columns of ``layerpower.config.schema``; their measurement values are synthetic
(derived from FLOPs and bytes), marked ``power_source="estimate"`` or a sensor name as each test needs, and
only ever used to exercise the reader.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from layerpower.config import LAYER_COLUMNS, LAYER_KINDS, MODEL_COLUMNS, SCHEMA_VERSION
from layerpower.models.spec import LayerSpec, feature_row

PEER_DIR = (
    Path(__file__).resolve().parents[1] / "data" / "peer" / "edge-vision-power-estimation" / "mobilenet_v2"
)


def _conv(name: str, c_in: int, c_out: int, size: int, kernel: int = 3, stride: int = 1) -> LayerSpec:
    pad = kernel // 2
    out = (size + 2 * pad - kernel) // stride + 1
    params = c_in * c_out * kernel * kernel + c_out
    flops = 2 * c_in * c_out * kernel * kernel * out * out
    return LayerSpec(
        name=name,
        module_type="Conv2d",
        kind="convolutional",
        input_shape=(1, c_in, size, size),
        output_shape=(1, c_out, out, out),
        kernel=(kernel, kernel),
        stride=(stride, stride),
        padding=(pad, pad),
        dilation=(1, 1),
        params=params,
        flops=flops,
        bytes_read=4 * (c_in * size * size + params),
        bytes_written=4 * c_out * out * out,
    )


def _pool(name: str, channels: int, size: int) -> LayerSpec:
    return LayerSpec(
        name=name,
        module_type="MaxPool2d",
        kind="pooling",
        input_shape=(1, channels, size, size),
        output_shape=(1, channels, size // 2, size // 2),
        kernel=(2, 2),
        stride=(2, 2),
        padding=(0, 0),
        flops=channels * size * size,
        bytes_read=4 * channels * size * size,
        bytes_written=channels * size * size,
    )


def _dense(name: str, n_in: int, n_out: int) -> LayerSpec:
    return LayerSpec(
        name=name,
        module_type="Linear",
        kind="dense",
        input_shape=(1, n_in),
        output_shape=(1, n_out),
        params=n_in * n_out + n_out,
        flops=2 * n_in * n_out,
        bytes_read=4 * (n_in + n_in * n_out + n_out),
        bytes_written=4 * n_out,
    )


def _relu(name: str, channels: int, size: int) -> LayerSpec:
    return LayerSpec(
        name=name,
        module_type="ReLU",
        kind="other",
        input_shape=(1, channels, size, size),
        output_shape=(1, channels, size, size),
        flops=channels * size * size,
        bytes_read=4 * channels * size * size,
        bytes_written=4 * channels * size * size,
    )


def tiny_cnn(width: int = 8, blocks: int = 2, size: int = 32) -> list[LayerSpec]:
    """A small CNN: conv-relu-pool blocks, then two dense layers."""
    specs: list[LayerSpec] = []
    channels = 3
    for b in range(blocks):
        out = width * 2**b
        specs += [_conv(f"features.{b}.conv", channels, out, size), _relu(f"features.{b}.relu", out, size)]
        specs.append(_pool(f"features.{b}.pool", out, size))
        channels, size = out, size // 2
    specs += [_dense("classifier.0", channels * size * size, 64), _dense("classifier.1", 64, 10)]
    return specs


def with_batch(spec: LayerSpec, batch: int, dtype: str) -> LayerSpec:
    scale = batch // spec.batch_size
    return dataclasses.replace(
        spec,
        input_shape=(batch, *spec.input_shape[1:]),
        output_shape=(batch, *spec.output_shape[1:]),
        dtype=dtype,
        flops=spec.flops * scale,
        bytes_read=spec.bytes_read + (scale - 1) * (spec.bytes_read - 4 * spec.params),
        bytes_written=spec.bytes_written * scale,
    )


def layer_rows(
    specs: Sequence[LayerSpec],
    device_id: str,
    model: str,
    batch_sizes: Sequence[int] = (1, 4),
    dtypes: Sequence[str] = ("float32",),
    power_source: str = "nvml",
) -> dict[str, pd.DataFrame]:
    """Rows of each layer kind in the profiler's schema, with synthetic measurement values."""
    rows: dict[str, list[dict]] = {kind: [] for kind in LAYER_KINDS}
    for dtype in dtypes:
        for batch in batch_sizes:
            for spec in specs:
                scaled = with_batch(spec, batch, dtype)
                runtime = 2e-6 + scaled.flops / 5e10 + (scaled.bytes_read + scaled.bytes_written) / 2e10
                power = 40.0 + 50.0 * min(1.0, scaled.arithmetic_intensity / 20.0)
                row = {
                    "schema_version": SCHEMA_VERSION,
                    "device_id": device_id,
                    "model": model,
                    **feature_row(scaled),
                    "runtime_s": runtime,
                    "runtime_isolated_s": runtime * 0.9,
                    "power_w": power,
                    "dynamic_power_w": power - 30.0,
                    "idle_power_w": 30.0,
                    "energy_j": power * runtime * 0.9,
                    "trials": 5,
                    "iterations": 100,
                    "runtime_cv": 0.02,
                    "power_cv": 0.01,
                    "power_source": power_source,
                    "is_estimate": power_source == "estimate",
                    "measured_as": "",
                }
                rows[spec.kind].append(row)
    return {kind: pd.DataFrame(r, columns=LAYER_COLUMNS[kind]) for kind, r in rows.items()}


def model_rows(
    frames: dict[str, pd.DataFrame], device_id: str, model: str, power_source: str = "nvml"
) -> pd.DataFrame:
    every = pd.concat([f for f in frames.values() if not f.empty])
    out = []
    for (dtype, batch), group in every.groupby(["dtype", "batch_size"]):
        total = float(group["runtime_s"].sum())
        out.append(
            {
                "schema_version": SCHEMA_VERSION,
                "device_id": device_id,
                "model": model,
                "dtype": dtype,
                "batch_size": batch,
                "runtime_s": total * 1.05,
                "runtime_min_s": total,
                "runtime_max_s": total * 1.1,
                "runtime_cv": 0.03,
                "processes": 3,
                "repeats": 30,
                "statistic": "median of 30 forwards",
                "power_w": 60.0,
                "dynamic_power_w": 30.0,
                "energy_j": 60.0 * total * 1.05,
                "power_source": power_source,
                "is_estimate": power_source == "estimate",
                "layer_calls": len(group),
                "sum_runtime_s": total,
                "sum_runtime_isolated_s": total * 0.9,
            }
        )
    return pd.DataFrame(out, columns=MODEL_COLUMNS)


def write_profile(
    root: Path,
    device_id: str = "test-gpu",
    model: str = "tinynet",
    specs: Sequence[LayerSpec] | None = None,
    batch_sizes: Sequence[int] = (1, 4),
    dtypes: Sequence[str] = ("float32",),
    power_source: str = "nvml",
) -> Path:
    """Write ``root/<device_id>/<model>/`` as the profiler does; returns the model folder."""
    folder = root / device_id / model
    folder.mkdir(parents=True, exist_ok=True)
    frames = layer_rows(specs or tiny_cnn(), device_id, model, batch_sizes, dtypes, power_source)
    for kind, frame in frames.items():
        frame.to_csv(folder / f"{kind}.csv", index=False)
    model_rows(frames, device_id, model, power_source).to_csv(folder / "model.csv", index=False)
    meta = {
        "schema_version": SCHEMA_VERSION,
        "device": {"id": device_id, "name": f"Test device {device_id}"},
        "power_source": power_source,
        "is_estimate": power_source == "estimate",
        "model": model,
    }
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


def copy_peer(dest: Path) -> Path:
    """Copy the peer mobilenet_v2 files to ``dest`` (made if missing); returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("convolutional.csv", "pooling.csv"):
        shutil.copy(PEER_DIR / name, dest / name)
    return dest
