"""Stand-ins for ``layerpower.profiling.sampled`` and the whole-model measurement, for the calibrate tests.

The fake draws probe layers from the synthetic models and "measures" each at the synthetic runtime times a
known per-kind speed factor, so a test can check that calibration recovers the factor.
"""

from __future__ import annotations

import dataclasses
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predictors"))

from synthetic_layers import _power, _runtime, synthetic_model  # noqa: E402

#: this fake device's speed relative to the synthetic reference, per kind (runtime here / there)
SPEED = {"convolutional": 1.6, "pooling": 1.25, "dense": 2.0, "other": 0.8}


def fake_specs(n: int, seed: int = 0, **_: object) -> list:
    """``n`` probe layers from synthetic models (unique names), deterministic in ``seed``."""
    out = []
    index = 0
    while len(out) < n:
        for spec in synthetic_model(100 + seed % 7 + index, 1 + index % 3):
            out.append(dataclasses.replace(spec, name=f"p{len(out)}.{spec.name}"))
        index += 1
    return out[:n]


class FakeSampled:
    """A stand-in for ``layerpower.profiling.sampled``; counts what it measured."""

    def __init__(self, fail_after: int | None = None, power_source: str = "estimate") -> None:
        self.measured: list[str] = []
        self.fail_after = fail_after
        self.power_source = power_source

    def load_space(self) -> types.SimpleNamespace:
        """A stand-in space; probes draw from ``for_probes()`` of it (here: itself)."""
        space = types.SimpleNamespace()
        space.for_probes = lambda: space
        return space

    def sample_specs(self, n: int, *, seed: int = 0, **kw: object) -> list:
        return fake_specs(n, seed)

    def measure_specs(self, specs: list, **kw: object) -> pd.DataFrame:
        from layerpower.models.spec import feature_row

        if self.fail_after is not None and len(self.measured) >= self.fail_after:
            raise KeyboardInterrupt
        rng = np.random.default_rng(len(self.measured))
        rows = []
        for spec in specs:
            t = _runtime(spec, SPEED[spec.kind], rng)
            p = _power(spec, rng) * (1.3 if self.power_source != "estimate" else 1.0)
            rows.append(
                {
                    **feature_row(spec),
                    "kind": spec.kind,
                    "runtime_isolated_s": t,
                    "runtime_s": np.nan,
                    "power_w": p,
                    "power_source": self.power_source,
                    "is_estimate": self.power_source == "estimate",
                }
            )
            self.measured.append(spec.name)
        return pd.DataFrame(rows)


def fake_whole(name: str, **kw: object) -> types.SimpleNamespace:
    runtime = {"lenet": 4e-4, "resnet18": 0.06, "mobilenet_v3_small": 0.012}[name]
    return types.SimpleNamespace(
        runtime_s=runtime,
        energy_j=runtime * 30,
        power_w=30.0,
        power_source="estimate",
        is_estimate=True,
        statistic="fake",
    )


#: the cost per refaulted page the fake fault probe reports (s)
FAULT_COST_S = 1.5e-6


class FakeFaultCost:
    """A stand-in for ``layerpower.profiling.fault_cost.measure_fault_cost``; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, device: str = "cpu", **_: object) -> dict:
        self.calls += 1
        return {"seconds_per_page": FAULT_COST_S, "applies": True, "method": "fake"}
