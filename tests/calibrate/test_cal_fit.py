"""The fits of ``calibrate`` on synthetic numbers: correction variant, whole-model device factor, widening."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from layerpower.calibrate.fit import VARIANTS, choose_variant, fit_device, fit_whole
from layerpower.calibrate.run import _widen, widen_band
from layerpower.predictors.calibration import Calibration

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


def test_paired_probes_see_the_device_through_the_regressors_error():
    """The reference regressors miss each probe by ~30 % (log-normal); the reference measured the probes
    too (2 % noise), and this device is 1.2x slower: pairs find the factor, predictions alone blur it."""
    rng = np.random.default_rng(11)
    probes = _probes(factor=1.0, noise=0.0, seed=6)
    truth = probes["ref_t"].to_numpy()
    probes["runtime_isolated_s"] = truth * 1.2 * rng.lognormal(0.0, 0.02, len(probes))
    probes["ref_t"] = truth * rng.lognormal(0.0, 0.3, len(probes))  # what the regressors predict
    probes["probe_key"] = [f"p{i}" for i in range(len(probes))]
    there = truth * rng.lognormal(0.0, 0.02, len(probes))
    reference = _reference()
    _, unpaired = fit_device(reference, probes, "cpu-here-2c")
    reference.manifest = {"reference_probes": {"layers": dict(zip(probes["probe_key"], there, strict=True))}}
    correction, paired = fit_device(reference, probes, "cpu-here-2c")
    assert paired["pairing"].startswith("paired: 300 probes") and unpaired["pairing"].startswith("against")
    assert paired["variant"] == "global shift"
    assert correction.groups["*"][0] == pytest.approx(math.log(1.2), abs=0.01)
    assert paired["corrected"]["median_abs_log"] < 0.03 < unpaired["corrected"]["median_abs_log"]


def test_per_kind_factors_keep_the_per_group_correction():
    probes = _probes(factor=1.0, noise=0.1, seed=5)
    speed = probes["kind"].map({"convolutional": 1.6, "dense": 2.0, "pooling": 1.25, "other": 0.8})
    probes["runtime_isolated_s"] *= speed
    _, figures = fit_device(_reference(), probes, "cpu-here-2c")
    assert figures["variant"] in ("per-group only", "with roofline ratio")


REF_CAL = Calibration(a=1.1, b_s=3e-6, fitted_rows=54)
SUMS = np.array([4e-4, 0.05, 0.01])  # s, Σ corrected layer runtime of lenet, resnet18, mobilenet_v3_small
CALLS = np.array([11, 68, 155])


def _measured(factor: float, noise: np.ndarray, reference: Calibration = REF_CAL) -> np.ndarray:
    return factor * reference.apply(SUMS[: len(noise)], CALLS[: len(noise)]) * np.exp(noise)


def test_whole_model_calibration_is_the_reference_form_times_one_factor():
    noise = np.array([0.05, -0.02, 0.01])
    calibration, figures = fit_whole(SUMS, CALLS, _measured(1.3, noise), REF_CAL)
    scale = 1.3 * math.exp(0.01)  # the median log-ratio
    assert figures["device_factor"] == pytest.approx(scale)
    assert calibration.a == pytest.approx(scale * REF_CAL.a) and calibration.b_s == pytest.approx(
        scale * 3e-6
    )
    # leave one probe out: the factor from the other two (their mean log-ratio)
    expected = [
        math.expm1((-0.02 + 0.01) / 2 - 0.05),
        math.expm1((0.05 + 0.01) / 2 + 0.02),
        math.expm1((0.05 - 0.02) / 2 - 0.01),
    ]
    assert figures["leave_one_out_error"] == pytest.approx(expected)
    rms = math.sqrt(np.mean(np.log1p(expected) ** 2))
    assert figures["leave_one_out_rms_log"] == pytest.approx(rms) == figures["widening_log"]
    assert rms < 0.06  # three nearly agreeing probes: a small widening, whatever the (a, b) shape
    assert figures["reference_calibration"] == REF_CAL.to_dict()


def test_whole_model_factor_from_two_probes_and_one():
    noise = np.array([0.1, -0.1])
    two, figures = fit_whole(SUMS[:2], CALLS[:2], _measured(0.8, noise), REF_CAL)
    assert figures["device_factor"] == pytest.approx(0.8)  # the mean of the two log-ratios
    assert figures["widening_log"] == pytest.approx(np.std([0.1, -0.1], ddof=1))
    assert figures["leave_one_out_error"] == pytest.approx([math.expm1(-0.2), math.expm1(0.2)])
    one, figures = fit_whole(SUMS[:1], CALLS[:1], _measured(0.8, noise[:1]), REF_CAL)
    assert figures["device_factor"] == pytest.approx(0.8 * math.exp(0.1))
    assert one.a == pytest.approx(0.8 * math.exp(0.1) * REF_CAL.a)
    assert figures["leave_one_out_error"] is None and math.isnan(figures["widening_log"])
    none, figures = fit_whole(SUMS[:0], CALLS[:0], SUMS[:0], REF_CAL)
    assert none is REF_CAL and figures["device_factor"] is None


def test_without_a_reference_calibration_the_form_is_the_identity():
    noise = np.array([0.0, 0.02, -0.02])
    calibration, figures = fit_whole(SUMS, CALLS, _measured(1.5, noise, Calibration()), None)
    assert calibration.a == pytest.approx(1.5) and calibration.b_s == 0.0
    assert figures["reference_calibration"] is None


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
