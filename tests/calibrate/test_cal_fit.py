"""The fits of ``calibrate`` on synthetic numbers: correction variant, whole-model device factor, widening."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from layerpower.calibrate.fit import VARIANTS, choose_variant, fit_device
from layerpower.calibrate.run import _widen, widen_band

OPS = [
    ("convolutional", "Conv2d"),
    ("dense", "Linear"),
    ("pooling", "MaxPool2d"),
    ("other", "ReLU"),
    ("other", "add"),
    ("other", "BatchNorm2d"),
]


class _Router:
    """A reference runtime router that predicts the probes' ``ref_t`` column (s)."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return frame["ref_t"].to_numpy(dtype=np.float64)


def _reference() -> SimpleNamespace:
    return SimpleNamespace(device_id="cpu-reference-2c", routers={"runtime_s": _Router()}, training={})


def _probes(factor: float, noise: float, n: int = 300, seed: int = 0) -> pd.DataFrame:
    """``n`` probes whose runtime here (s) is the reference's × ``factor`` × lognormal(0, ``noise``)."""
    rng = np.random.default_rng(seed)
    kinds, ops = zip(*(OPS[i] for i in rng.integers(0, len(OPS), n)), strict=True)
    flops = np.where(np.isin(kinds, ["convolutional", "dense"]), 10 ** rng.uniform(5, 10, n), 0.0)
    moved = 10 ** rng.uniform(3, 8, n)
    ref_t = 4e-6 + np.maximum(flops / 2e10, moved / 5e9)
    return pd.DataFrame(
        {
            "kind": kinds,
            "layer_type": ops,
            "flops": flops,
            "bytes_read": moved / 2,
            "bytes_written": moved / 2,
            "ref_t": ref_t,
            "runtime_isolated_s": ref_t * factor * rng.lognormal(0.0, noise, n),
        }
    )


def test_the_simplest_variant_within_one_point_of_the_best_is_chosen():
    figures = {"none": 0.22, "global shift": 0.215, "per-group only": 0.21, "with roofline ratio": 0.209}
    assert choose_variant({k: {"median_ape": v} for k, v in figures.items()}) == "global shift"
    figures["global shift"] = 0.2195
    assert choose_variant({k: {"median_ape": v} for k, v in figures.items()}) == "per-group only"
    figures["none"] = 0.219
    assert choose_variant({k: {"median_ape": v} for k, v in figures.items()}) == "none"
    assert choose_variant({k: {"median_ape": math.nan} for k in VARIANTS}) == "per-group only"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pure_noise_on_the_same_device_keeps_the_reference(seed):
    probes = _probes(factor=1.0, noise=0.3, seed=seed)
    correction, figures = fit_device(_reference(), probes, "cpu-here-2c")
    assert figures["variant"] in ("none", "global shift")
    assert set(figures["variants"]) == set(VARIANTS)
    assert figures["corrected"] == figures["variants"][figures["variant"]]
    assert not correction.use_roofline and set(correction.groups) == {"*"}
    a, beta, _ = correction.groups["*"]
    assert abs(a) < 0.06 and beta == 0.0
    ref_t = probes["ref_t"].to_numpy()
    np.testing.assert_allclose(correction.runtime(probes, ref_t), ref_t * math.exp(a))


def test_a_device_factor_of_1_3_is_one_global_shift():
    probes = _probes(factor=1.3, noise=0.3, seed=4)
    correction, figures = fit_device(_reference(), probes, "cpu-here-2c")
    assert figures["variant"] == "global shift"
    a, beta, count = correction.groups["*"]
    assert a == pytest.approx(math.log(1.3), abs=0.05) and beta == 0.0 and count == len(probes)
    assert figures["corrected"]["median_ape"] < figures["reference_uncorrected"]["median_ape"] - 0.05
    assert figures["variants"]["none"]["median_ape"] > figures["corrected"]["median_ape"] + 0.01


def test_per_kind_factors_keep_the_per_group_correction():
    probes = _probes(factor=1.0, noise=0.1, seed=5)
    speed = probes["kind"].map({"convolutional": 1.6, "dense": 2.0, "pooling": 1.25, "other": 0.8})
    probes["runtime_isolated_s"] *= speed
    _, figures = fit_device(_reference(), probes, "cpu-here-2c")
    assert figures["variant"] in ("per-group only", "with roofline ratio")


def test_bands_are_widened_in_quadrature():
    lo, hi = widen_band((-0.3, 0.2), 0.4)
    assert lo == pytest.approx(-0.5) and hi == pytest.approx(math.sqrt(0.2**2 + 0.4**2))
    assert lo > -0.3 - 0.4 and hi < 0.2 + 0.4  # narrower than adding the width to both sides
    # a band above 0: its lower end moves by the width, its span grows in quadrature
    assert widen_band((0.1, 0.3), 0.2) == pytest.approx((-0.1, 0.1 + math.sqrt(0.2**2 + 0.2**2)))
    assert widen_band((-0.3, -0.1), 0.2) == pytest.approx((-0.1 - math.sqrt(0.2**2 + 0.2**2), 0.1))
    assert widen_band((1e-12, 0.3), 0.2) == pytest.approx(widen_band((0.0, 0.3), 0.2))  # continuous at 0
    assert widen_band((-0.3, 0.2), 0.0) == (-0.3, 0.2) and widen_band((-0.3, 0.2), math.nan) == (-0.3, 0.2)
    bands = {
        "layer": {"dense": {"runtime_s": [-0.1, 0.1]}},
        "model": {"runtime_s": {"raw": [-0.3, 0.2], "calibrated": [math.nan, math.nan]}},
    }
    out = _widen(bands, 0.4)
    assert out["model"]["runtime_s"]["raw"] == pytest.approx([-0.5, math.sqrt(0.2)])
    assert out["layer"] == bands["layer"] and all(
        math.isnan(v) for v in out["model"]["runtime_s"]["calibrated"]
    )
    assert bands["model"]["runtime_s"]["raw"] == [-0.3, 0.2]  # the reference's bands are left alone
