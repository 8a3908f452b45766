"""The ``calibrate`` command and what ``predict-energy`` says about bundle selection."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from layerpower.cli import main
from layerpower.predictors import bundle_choice
from layerpower.predictors.bundle_choice import bundled_devices


def test_calibrate_command_writes_and_reports(reference_bundle, fake_sampled, tmp_path):
    out = CliRunner().invoke(
        main,
        [
            "calibrate",
            "--budget",
            "60",
            "--out",
            str(tmp_path / "b"),
            "--reference",
            str(reference_bundle),
            "--quiet",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "held-out probes" in out.output and "uncorrected ->" in out.output
    assert "power stays an estimate" in out.output and f"bundle written to {tmp_path / 'b'}" in out.output
    low = CliRunner().invoke(main, ["calibrate", "--budget", "1", "--out", str(tmp_path / "c"), "--quiet"])
    assert low.exit_code != 0 and "below the minimum" in low.output


@pytest.mark.skipif(not bundled_devices(), reason="no predictors bundled with the package")
def test_predict_energy_names_a_device_mismatch(monkeypatch):
    monkeypatch.setattr(bundle_choice, "this_machine_ids", lambda gpu=True: ["cpu-amd-epyc-7b13-2c"])
    out = CliRunner().invoke(main, ["predict-energy", "--model", "lenet"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "this machine is cpu-amd-epyc-7b13-2c" in out.output and "layerpower calibrate" in out.output


def test_predict_energy_uses_the_calibrated_bundle(reference_bundle, fake_sampled):
    from layerpower.calibrate.run import calibrate

    calibrate(budget_s=60, reference=reference_bundle)
    out = CliRunner().invoke(main, ["predict-energy", "--model", "resnet18"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "using this machine's calibrated bundle (" in out.output and "from 120 probes" in out.output
    override = CliRunner().invoke(
        main, ["predict-energy", "--model", "resnet18", "--predictors", str(reference_bundle)]
    )
    assert "calibrated bundle" not in override.output
    raw = CliRunner().invoke(main, ["predict-energy", "--model", "resnet18", "--no-calibration"])
    assert "sum over layers, uncalibrated" in raw.output and "calibrated bundle (" in raw.output
