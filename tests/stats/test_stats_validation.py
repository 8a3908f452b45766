"""Validation of predicted against measured energy and runtime.

No predictor bundle may be shipped yet, so the predictor is a stand-in (monkeypatched
``predict_energy`` returning the real :class:`EnergyPrediction` record) except in the last test, which uses
the bundled predictors when there are some. The measurement is real (lenet in this process) in one test and
a recorded stand-in with hand-checkable numbers in the others.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from layerpower.errors import BundleError, LayerpowerError
from layerpower.stats import validate, validation_summary
from layerpower.stats.validation import write_validation

energy_module = pytest.importorskip("layerpower.predictors.energy")
whole_model = pytest.importorskip("layerpower.profiling.whole_model")


def stand_in_prediction(energy: tuple[float, float, float], runtime: tuple[float, float, float]):
    """A ``predict_energy`` stand-in returning fixed totals (point, low, high) labelled as an estimate."""

    def predict(model, batch_size=1, dtype="fp32", device_id=None, predictors=None, **kwargs):
        if model == "unknown-net":
            raise BundleError("no predictors for unknown-net")
        total = energy_module.EnergyTotal(
            energy_j=energy[0],
            energy_low_j=energy[1],
            energy_high_j=energy[2],
            runtime_s=runtime[0],
            runtime_low_s=runtime[1],
            runtime_high_s=runtime[2],
            avg_power_w=energy[0] / runtime[0],
            power_source="estimate",
            is_estimate=True,
            device_id="test-cpu",
            family="xgboost",
            calibrated=True,
        )
        return energy_module.EnergyPrediction(
            model=model,
            batch_size=batch_size,
            dtype=dtype,
            total=total,
            layers=pd.DataFrame(),
            predictors="stand-in",
            bundled=False,
            coverage=0.9,
        )

    return predict


def recorded_measurements(energies: list[float], runtimes: list[float], calls: list[dict]):
    """A ``measure_whole_model`` stand-in: one recorded process result per repeat."""

    def measure(
        model, batch_size=1, dtype="float32", device="cpu", processes=3, repeats=None, power_source=None
    ):
        calls.append({"model": model, "processes": processes, "repeats": repeats})
        per = [
            whole_model.ProcessResult(
                batch_size=batch_size,
                dtype="float32",
                runtime_s=r,
                runtime_mean_s=r,
                times_s=[r],
                repeats=10,
                energy_j=e,
                power_w=e / r,
                power_source="estimate",
                is_estimate=True,
                torch_threads=2,
                pid=1000 + i,
            )
            for i, (e, r) in enumerate(zip(energies, runtimes, strict=True))
        ][: max(processes, 1)]
        return whole_model.WholeModelResult(
            model=model,
            batch_size=batch_size,
            dtype="float32",
            device=device,
            runtime_s=runtimes[0],
            runtime_min_s=min(runtimes),
            runtime_max_s=max(runtimes),
            runtime_cv=0.0,
            processes=processes,
            repeats=10,
            statistic="recorded",
            energy_j=energies[0],
            power_w=1.0,
            dynamic_power_w=math.nan,
            idle_power_w=math.nan,
            power_source="estimate",
            is_estimate=True,
            per_process=per,
        )

    return measure


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    calls: list[dict] = []
    monkeypatch.setattr(
        whole_model,
        "measure_whole_model",
        recorded_measurements([1.0, 1.2, 0.8], [0.010, 0.011, 0.009], calls),
    )
    monkeypatch.setattr(
        energy_module, "predict_energy", stand_in_prediction((1.1, 0.9, 1.3), (0.020, 0.015, 0.025))
    )
    return calls


def test_validation_numbers_by_hand(recorded: list[dict]) -> None:
    table = validate(["resnet18"], repeats=3)
    assert recorded == [
        {"model": "resnet18", "processes": 3, "repeats": None}
    ]  # one fresh process per repeat
    row = table.iloc[0]
    assert row["status"] == "ok" and row["repeats"] == 3
    assert row["measured_energy_j"] == pytest.approx(1.0)
    assert row["measured_energy_std_j"] == pytest.approx(0.2)
    half = 4.302653 * 0.2 / math.sqrt(3)  # t(0.975, 2 df) x SEM
    assert row["measured_energy_ci95_low_j"] == pytest.approx(1.0 - half, rel=1e-5)
    assert row["energy_error_pct"] == pytest.approx(10.0)
    assert row["energy_abs_error_pct"] == pytest.approx(10.0)
    assert row["energy_in_measured_ci"]
    assert row["energy_measured_in_interval"]
    assert row["energy_interval_coverage"] == pytest.approx(2 / 3)  # 1.0 and 1.2 inside [0.9, 1.3]
    assert row["runtime_error_pct"] == pytest.approx(100.0)
    assert not row["runtime_in_measured_ci"] and not row["runtime_measured_in_interval"]
    assert row["runtime_interval_coverage"] == 0.0
    assert row["measured_energy_source"] == "estimate" and row["measured_is_estimate"]
    assert row["predicted_energy_source"] == "estimate" and row["predicted_is_estimate"]
    assert row["ci_method"].startswith("Student's t")
    summary = validation_summary(table)
    assert summary["energy"]["mean_abs_error_pct"] == pytest.approx(10.0)
    assert summary["energy"]["pooled_interval_coverage"] == pytest.approx(2 / 3)
    assert summary["runtime"]["share_in_measured_ci"] == 0.0
    assert summary["nominal_coverage"] == 0.9


def test_a_failing_model_does_not_stop_the_others(recorded: list[dict], tmp_path: Path) -> None:
    table = validate(["lenet", "unknown-net"], repeats=2)
    assert list(table["status"]) == ["ok", "failed"]
    assert "no predictors for unknown-net" in table.iloc[1]["error"]
    summary = validation_summary(table)
    assert summary["validated"] == 1 and summary["failed"] == 1
    files = write_validation(table, tmp_path)
    assert set(files) == {"table", "summary", "plot"}
    assert json.loads(files["summary"].read_text())["validated"] == 1


def test_validate_energy_command(recorded: list[dict], tmp_path: Path) -> None:
    from layerpower.cli import main

    result = CliRunner().invoke(
        main,
        [
            "validate-energy",
            "--models",
            "lenet,resnet18",
            "--repeats",
            "3",
            "--out",
            str(tmp_path),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "energy J: measured (estimate)" in result.output and "predicted (estimate)" in result.output
    assert "2 of 2 model(s) validated" in result.output
    assert (tmp_path / "predicted_vs_measured.png").is_file()
    assert len(pd.read_csv(tmp_path / "validation.csv")) == 2

    failed = CliRunner().invoke(
        main, ["validate-energy", "--model", "unknown-net", "--repeats", "2", "--quiet"]
    )
    assert failed.exit_code == 2 and "no model could be validated" in failed.output
    missing = CliRunner().invoke(main, ["validate-energy"])
    assert missing.exit_code == 2 and "--model" in missing.output


def test_bad_input() -> None:
    with pytest.raises(LayerpowerError, match="no model"):
        validate([])
    with pytest.raises(LayerpowerError, match="repeats"):
        validate("lenet", repeats=0)


def test_real_measurement_of_lenet_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """lenet measured for real, twice in this process; the prediction is the stand-in."""
    monkeypatch.setattr(
        energy_module, "predict_energy", stand_in_prediction((1.0, 0.0, 1e9), (1.0, 0.0, 1e9))
    )
    table = validate("lenet", repeats=2, in_process=True, forwards=200, power_source="estimate")
    row = table.iloc[0]
    assert row["status"] == "ok", row["error"]
    assert row["repeats"] == 2
    assert 0 < row["measured_runtime_s"] < 1 and row["measured_energy_j"] > 0
    assert row["measured_energy_source"] == "estimate"
    assert row["energy_interval_coverage"] == 1.0
    expected = (1.0 - row["measured_energy_j"]) / row["measured_energy_j"] * 100
    assert row["energy_error_pct"] == pytest.approx(expected)


def test_real_prediction_with_bundled_predictors() -> None:
    """Runs only where a predictor bundle is shipped: lenet, real measurement and real prediction."""
    try:
        energy_module.resolve_predictors()
    except BundleError as exc:
        pytest.skip(f"no bundled predictors: {exc}")
    table = validate("lenet", repeats=2, in_process=True, forwards=200)
    row = table.iloc[0]
    assert row["status"] == "ok", row["error"]
    assert row["predicted_energy_j"] > 0
    assert row["predicted_energy_low_j"] <= row["predicted_energy_j"] <= row["predicted_energy_high_j"]
