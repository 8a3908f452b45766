"""Speed of the dataset merge: 600 profiler-format CSV files, 100,000 rows in all, through build_dataset.

Target: under 5 s on 2 cores for the whole build (read, validate, convert, merge, write parquet). The files
are generated in a temporary folder (150 models x 4 layer kinds, synthetic values in the schema's columns);
the figure is the best of three builds into fresh output folders. Prints the figures and PASS or FAIL
(exit status 1 on FAIL).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from layerpower.config import LAYER_COLUMNS, LAYER_KINDS, SCHEMA_VERSION
from layerpower.dataset import DatasetBuilder, build_dataset
from layerpower.dataset.tables import INT_COLUMNS

FILES = 600
ROWS = 100_000
TARGET_S = 5.0
REPEATS = 3


def _layer_file(kind: str, model: str, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    data: dict[str, object] = {}
    for column in LAYER_COLUMNS[kind]:
        if column in INT_COLUMNS:
            data[column] = rng.integers(1, 512, rows)
        else:
            data[column] = rng.uniform(1e-6, 1e-2, rows)
    data.update(
        schema_version=SCHEMA_VERSION,
        device_id="bench-gpu",
        model=model,
        batch_size=np.where(np.arange(rows) < rows // 2, 1, 8),  # two configurations, the same layers
        dtype=np.where(np.arange(rows) < rows // 2, "float32", "float16"),
        layer_name=[f"layer{i % max(1, rows // 2)}" for i in range(rows)],
        layer_type="Conv2d",
        call_index=0,
        power_w=rng.uniform(20.0, 300.0, rows),
        dynamic_power_w=rng.uniform(-1.0, 250.0, rows),
        idle_power_w=20.0,
        power_source="nvml",
        is_estimate=False,
        measured_as="",
    )
    return pd.DataFrame(data, columns=LAYER_COLUMNS[kind])


def generate(root: Path) -> int:
    """Write FILES layer CSVs holding ROWS rows in all under root/bench-gpu/; returns the row count."""
    rng = np.random.default_rng(0)
    models = FILES // len(LAYER_KINDS)
    sizes = np.full(FILES, ROWS // FILES // 2 * 2)  # even: both configurations hold the same layers
    sizes[: (ROWS - sizes.sum()) // 2] += 2
    written = 0
    for m in range(models):
        folder = root / "bench-gpu" / f"model{m:03d}"
        folder.mkdir(parents=True)
        meta = {
            "schema_version": SCHEMA_VERSION,
            "device": {"id": "bench-gpu", "name": "bench"},
            "power_source": "nvml",
            "is_estimate": False,
        }
        (folder / "meta.json").write_text(json.dumps(meta))
        for k, kind in enumerate(LAYER_KINDS):
            rows = int(sizes[m * len(LAYER_KINDS) + k])
            _layer_file(kind, f"model{m:03d}", rows, rng).to_csv(folder / f"{kind}.csv", index=False)
            written += rows
    return written


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "training_data"
        rows = generate(root)
        csvs = sorted(root.rglob("*.csv"))
        print(f"generated {len(csvs)} CSV files, {rows} rows")

        timings = []
        for repeat in range(REPEATS):
            start = time.perf_counter()
            result = build_dataset(root, out=Path(tmp) / f"out{repeat}", progress=False)
            timings.append(time.perf_counter() - start)
        assert sum(result.summary["rows"][k] for k in LAYER_KINDS) == rows

        conv = [p for p in csvs if p.name == "convolutional.csv"]
        start = time.perf_counter()
        data = DatasetBuilder().merge_feature_data(conv)
        merge_s = time.perf_counter() - start

    best = min(timings)
    print(
        f"build_dataset ({len(csvs)} files, {rows} rows, parquet out): best {best:.2f} s of "
        f"{', '.join(f'{t:.2f}' for t in timings)} s; {rows / best:,.0f} rows/s"
    )
    print(f"merge_feature_data ({len(conv)} convolutional files, {len(data)} rows): {merge_s:.2f} s")
    verdict = "PASS" if best < TARGET_S else "FAIL"
    print(f"{verdict}: build_dataset {best:.2f} s (target < {TARGET_S:.0f} s)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
