"""``calibrate``: recovers a known device factor, resumes, refuses what it must, writes only where told."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cal_fakes import SPEED, FakeSampled, fake_specs, fake_whole
from synthetic_layers import _runtime

from layerpower.calibrate import probes
from layerpower.calibrate.run import calibrate
from layerpower.errors import BundleError, LayerpowerError
from layerpower.hardware import device_id
from layerpower.predictors.bundle import load_bundle
from layerpower.predictors.energy import predict_energy, predict_layers, spec_frame
from layerpower.predictors.locations import user_bundle_dir

PACKAGE = Path(__file__).resolve().parents[2] / "layerpower"


def _snapshot(root: Path) -> dict[str, int]:
    """Files of the package (bytecode caches aside: the interpreter's, not ours) and their mtimes."""
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_calibration_recovers_the_per_kind_factor(reference_bundle, fake_sampled, tmp_path):
    result = calibrate(budget_s=60, out=tmp_path / "b", reference=reference_bundle)
    bundle = load_bundle(tmp_path / "b")  # the same safe loader: sha256-checked manifest, no pickle
    assert bundle.correction is not None and bundle.device_id == device_id("cpu")
    ref = load_bundle(reference_bundle)
    fresh = fake_specs(60, seed=3)  # layers not among the probes
    frame = spec_frame(fresh)
    here = predict_layers(bundle, frame)["runtime_s"].to_numpy()
    there = predict_layers(ref, frame)["runtime_s"].to_numpy()
    kinds = frame["kind"].to_numpy()
    for kind, factor in SPEED.items():
        ratio = float(np.median(here[kinds == kind] / there[kinds == kind]))
        assert ratio == pytest.approx(factor, rel=0.12), kind
    truth = np.array([_runtime(s, SPEED[s.kind], np.random.default_rng(0)) for s in fresh])
    assert np.median(np.abs(here / truth - 1)) < np.median(np.abs(there / truth - 1))
    info = bundle.calibrated
    for key in (
        "reference_device",
        "reference_bundle_sha256",
        "probes",
        "time_spent_s",
        "held_out_probe_error",
        "uncalibrated",
    ):
        assert key in info
    assert info["probes"]["layers"] == 120 and info["reference_device"] == ref.device_id
    held = info["held_out_probe_error"]
    assert held["corrected"]["median_ape"] < held["reference_uncorrected"]["median_ape"]
    assert any("power stays an estimate" in u for u in info["uncalibrated"])
    assert bundle.is_estimate and bundle.calibration is not None
    assert (tmp_path / "b" / "probes.csv").is_file() and not (tmp_path / "b" / probes.LAYERS_PARTIAL).exists()
    assert result.wall_s > 0


def test_interrupted_calibration_resumes(reference_bundle, fake_sampled, tmp_path):
    fake_sampled.fail_after = 2 * probes.CHUNK
    with pytest.raises(KeyboardInterrupt):
        calibrate(budget_s=60, out=tmp_path / "b", reference=reference_bundle)
    kept = probes.ProbeStore(tmp_path / "b").layers()
    assert len(kept) == 2 * probes.CHUNK
    fake_sampled.fail_after = None
    before = len(fake_sampled.measured)
    calibrate(budget_s=60, out=tmp_path / "b", reference=reference_bundle)
    new = fake_sampled.measured[before:]
    # the first pass measures only what was missing; the instant fake leaves budget for every further pass
    assert len(new) == 120 - 2 * probes.CHUNK + (probes.MAX_PASSES - 1) * 120
    assert set(new[: 120 - 2 * probes.CHUNK]).isdisjoint(kept["layer_name"])


def test_an_interrupted_second_pass_resumes_where_it_stopped(reference_bundle, fake_sampled, tmp_path):
    fake_sampled.fail_after = 120 + probes.CHUNK  # the first pass and one chunk of the second
    with pytest.raises(KeyboardInterrupt):
        calibrate(budget_s=60, out=tmp_path / "b", reference=reference_bundle)
    kept = probes.ProbeStore(tmp_path / "b").layers()
    assert kept[probes.PASS_COLUMN].value_counts().to_dict() == {0: 120, 1: probes.CHUNK}
    fake_sampled.fail_after = None
    before = len(fake_sampled.measured)
    result = calibrate(budget_s=60, out=tmp_path / "b", reference=reference_bundle)
    assert len(fake_sampled.measured) - before == (120 - probes.CHUNK) + 120 * (probes.MAX_PASSES - 2)
    rows = pd.read_csv(tmp_path / "b" / "probes.csv")
    assert sorted(rows[probes.PASS_COLUMN].value_counts().to_dict().items()) == [
        (n, 120) for n in range(probes.MAX_PASSES)
    ]
    info = result.provenance["probes"]
    assert info["layers"] == 120 and info["passes"] == probes.MAX_PASSES
    whole = json.loads((tmp_path / "b" / "whole.json").read_text())
    assert all(len(entry["rounds"]) == probes.MAX_PASSES for entry in whole.values())


def test_further_passes_run_only_while_the_budget_holds_a_whole_one(
    reference_bundle, fake_sampled, tmp_path, monkeypatch
):
    import time

    clock = {"now": 1000.0}
    measure = fake_sampled.measure_specs

    def timed(specs, **kw):  # 0.2 s a probe on a fake clock
        clock["now"] += 0.2 * len(specs)
        return measure(specs, **kw)

    monkeypatch.setattr(time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(fake_sampled, "measure_specs", timed)
    # 120 probes take 24 s a pass; a round of the three whole models is reserved at about 12 s
    assert (
        calibrate(budget_s=60, out=tmp_path / "a", reference=reference_bundle).provenance["probes"]["passes"]
        == 1
    )
    assert (
        calibrate(budget_s=120, out=tmp_path / "b", reference=reference_bundle).provenance["probes"]["passes"]
        == 3
    )


def test_a_probe_measured_in_several_passes_is_their_median():
    frame = pd.DataFrame(
        {
            "probe_key": ["a", "b", "a", "b", "a"],
            probes.PASS_COLUMN: [0, 0, 1, 1, 2],
            "layer_type": ["Conv2d", "Linear"] * 2 + ["Conv2d"],
            "runtime_isolated_s": [1.0, 5.0, 3.0, 7.0, 2.0],
            "power_w": [10.0, 20.0, 30.0, 40.0, 50.0],
        }
    )
    combined = probes.combine_passes(frame)
    assert combined["probe_key"].tolist() == ["a", "b"]
    assert combined["runtime_isolated_s"].tolist() == [2.0, 6.0]
    assert combined["power_w"].tolist() == [30.0, 30.0]
    assert combined["passes"].tolist() == [3, 2] and probes.PASS_COLUMN not in combined


def test_each_round_of_a_whole_probe_runs_in_a_fresh_process(monkeypatch, tmp_path):
    from layerpower.profiling import whole_model

    calls: list[tuple[str, object]] = []

    def recording(name: str, **kw: object):
        calls.append((name, kw.get("processes")))
        return fake_whole(name, **kw)

    monkeypatch.setattr(whole_model, "measure_whole_model", recording)
    store = probes.ProbeStore(tmp_path)
    models = {"lenet": 4e-4, "resnet18": 0.06}
    for rounds in (1, 2):
        probes.measure_whole_probes(models, store, device="cpu", deadline=math.inf, rounds=rounds)
    assert calls == [(m, probes.WHOLE_PROCESSES) for m in models] * 2 and probes.WHOLE_PROCESSES == 1
    assert [len(store.whole()[m]["rounds"]) for m in models] == [2, 2]


def test_a_budget_below_the_overhead_is_refused_with_the_minimum(reference_bundle, fake_sampled, tmp_path):
    with pytest.raises(LayerpowerError, match=r"below the minimum of \d+ s") as info:
        calibrate(budget_s=1, out=tmp_path / "b", reference=reference_bundle)
    assert "--budget" in info.value.hint
    assert fake_sampled.measured == []


def test_default_location_and_nothing_written_into_the_package(reference_bundle, fake_sampled):
    before = _snapshot(PACKAGE)
    result = calibrate(budget_s=60, reference=reference_bundle)
    assert result.path == user_bundle_dir(device_id("cpu"))
    assert _snapshot(PACKAGE) == before
    prediction = predict_energy("resnet18")  # this machine's calibrated bundle by default
    assert prediction.predictors.startswith("using this machine's calibrated bundle (")
    assert "from 120 probes" in prediction.predictors and not prediction.bundled
    assert prediction.total.device_id == device_id("cpu")


def test_foreign_or_corrupt_bundles_in_the_data_dir_are_refused(reference_bundle, fake_sampled):
    calibrate(budget_s=60, reference=reference_bundle)
    root = user_bundle_dir(device_id("cpu"))
    manifest = json.loads((root / "manifest.json").read_text())
    (root / "manifest.json").write_text(json.dumps({**manifest, "device_id": "gpu-other"}))
    with pytest.raises(BundleError, match=str(root)):
        predict_energy("lenet")
    with pytest.raises(BundleError, match=str(root)):
        calibrate(budget_s=60, reference=reference_bundle)  # never overwrites another device's bundle
    (root / "manifest.json").write_text(json.dumps(manifest))
    (root / "correction.json").write_text("{}")
    with pytest.raises(BundleError, match="sha256"):
        predict_energy("lenet")
    (root / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match=str(root)):
        predict_energy("lenet")


def test_power_is_corrected_only_from_a_sensor(reference_bundle, monkeypatch, tmp_path):
    from layerpower.calibrate import run
    from layerpower.profiling import whole_model

    fake = FakeSampled(power_source="rapl")
    monkeypatch.setattr(probes, "sampled_api", lambda: fake)
    monkeypatch.setattr(probes, "LAYER_PROBES", 80)
    monkeypatch.setattr(whole_model, "measure_whole_model", fake_whole)
    monkeypatch.setattr(run, "_source_name", lambda name: "rapl")
    calibrate(budget_s=60, out=tmp_path / "b", reference=reference_bundle)
    bundle = load_bundle(tmp_path / "b")
    assert not bundle.is_estimate and bundle.power_source == "rapl"
    shift = bundle.correction.power["*"][0]
    assert math.exp(shift) == pytest.approx(1.3, rel=0.05)


def test_whole_model_calibration_scales_the_reference_and_widens_in_quadrature(
    reference_bundle, fake_sampled, tmp_path
):
    from layerpower.calibrate.run import widen_band
    from layerpower.predictors.calibration import IDENTITY

    calibrate(budget_s=60, out=tmp_path / "b", reference=reference_bundle)
    bundle, ref = load_bundle(tmp_path / "b"), load_bundle(reference_bundle)
    info = bundle.calibrated
    assert info["held_out_probe_error"]["variant"] in (
        "per-group only",
        "with roofline ratio",
    )  # per-kind SPEED
    whole = info["whole_model"]
    scale = whole["device_factor"]
    form = ref.calibration or IDENTITY
    assert bundle.calibration.a == pytest.approx(scale * form.a)
    assert bundle.calibration.b_s == pytest.approx(scale * form.b_s)
    assert len(whole["leave_one_out_error"]) == 3
    width = info["interval_widening_log"]
    assert width == pytest.approx(whole["leave_one_out_rms_log"]) and width > 0
    for quantity, bands in ref.bands["model"].items():
        for label, band in bands.items():
            expected = widen_band((band[0], band[1]), width)
            assert bundle.bands["model"][quantity][label] == pytest.approx(list(expected))


def test_reference_probes_recorded_on_the_reference_pair_the_calibration(
    reference_bundle, fake_sampled, tmp_path, monkeypatch
):
    import shutil

    from synthetic_layers import DEVICE

    import layerpower.hardware as hardware
    from layerpower.calibrate.reference import record_reference_probes

    ref = tmp_path / "ref"
    shutil.copytree(reference_bundle, ref)
    with pytest.raises(BundleError, match="this machine is"):
        record_reference_probes(ref)  # another device's bundle
    real = hardware.device_id
    monkeypatch.setattr(hardware, "device_id", lambda device="cpu": DEVICE)
    entry = record_reference_probes(ref)
    monkeypatch.setattr(hardware, "device_id", real)
    assert len(entry["layers"]) == 120 and set(entry["whole"]) == set(probes.WHOLE_PROBES)
    assert entry["seed"] == probes.PROBE_SEED and all(t > 0 for t in entry["layers"].values())
    load_bundle(ref)  # still a verified bundle
    # the same (fake) machine measured both sides: the pairs see no device difference
    result = calibrate(budget_s=60, out=tmp_path / "b", reference=ref)
    info = result.provenance
    assert (
        info["held_out_probe_error"]["pairing"] == "paired: 120 probes measured on the reference device too"
    )
    assert info["whole_model"]["pairing"].startswith("paired")
    assert info["whole_model"]["device_factor"] == pytest.approx(1.0, rel=0.1)
    frame = spec_frame(fake_specs(60, seed=3))
    here = predict_layers(result.bundle, frame)["runtime_s"].to_numpy()
    there = predict_layers(load_bundle(ref), frame)["runtime_s"].to_numpy()
    assert abs(float(np.median(np.log(here / there)))) < 0.1


def test_a_recording_in_another_machine_state_than_the_dataset_is_named(
    reference_bundle, fake_sampled, tmp_path, monkeypatch
):
    """The whole-model probes the bundle was trained on are compared with its training measurements of
    them: a machine running them at half their training time is not the state the dataset was made in."""
    import shutil

    from synthetic_layers import DEVICE

    import layerpower.hardware as hardware
    from layerpower.calibrate.reference import record_reference_probes, state_mismatch

    ref = tmp_path / "ref"
    shutil.copytree(reference_bundle, ref)
    monkeypatch.setattr(hardware, "device_id", lambda device="cpu": DEVICE)
    entry = record_reference_probes(ref)
    assert entry["whole_vs_training"] == {} and entry["whole_vs_training_median"] is None
    assert state_mismatch(entry) == ""  # no probe model among the training models: nothing to compare

    manifest = json.loads((ref / "manifest.json").read_text())
    trained = {"lenet": 8e-4, "resnet18": 0.12}  # the fakes run 4e-4 s and 0.06 s: half as long now
    manifest["evaluation"]["models"] += [
        {"model": name, "batch_size": 1, "dtype": "float32", "measured_runtime_s": t}
        for name, t in trained.items()
    ] + [{"model": "resnet18", "batch_size": 8, "dtype": "float32", "measured_runtime_s": 9.0}]
    (ref / "manifest.json").write_text(json.dumps(manifest))
    entry = record_reference_probes(ref)
    assert entry["whole_vs_training"] == pytest.approx({"lenet": 0.5, "resnet18": 0.5})
    assert entry["whole_vs_training_median"] == pytest.approx(0.5)
    message = state_mismatch(entry)
    assert "0.50x" in message and "lenet 0.50x" in message and "re-profile" in message
    load_bundle(ref)
    assert json.loads((ref / "manifest.json").read_text())["reference_probes"][
        "whole_vs_training_median"
    ] == (pytest.approx(0.5))


def test_calibrate_measures_the_fault_cost_once_and_prediction_prices_it(
    reference_bundle, fake_sampled, tmp_path
):
    import dataclasses

    from cal_fakes import FAULT_COST_S

    from layerpower.predictors.energy import predict_frame

    # an interrupted run that got as far as the fault probe: the next run takes its result
    probes.measure_fault_probe(probes.ProbeStore(tmp_path / "b"), device="cpu", deadline=math.inf)
    calibrate(budget_s=60, out=tmp_path / "b", reference=reference_bundle)
    assert fake_sampled.fault_cost.calls == 1
    assert (tmp_path / "b" / "page_faults.json").is_file()
    bundle = load_bundle(tmp_path / "b")
    assert bundle.calibrated["page_faults"]["seconds_per_page"] == FAULT_COST_S
    frame = spec_frame(fake_specs(20, seed=5))
    conv = frame.index[frame["layer_type"] == "Conv2d"][0]
    frame.loc[conv, "params"] = 1024 * 1024 * 9  # 36 MiB of fp32 weight: 9,216 pages a call
    unpriced = dataclasses.replace(bundle, calibrated={})
    priced_layers, plain_layers = predict_layers(bundle, frame), predict_layers(unpriced, frame)
    extra = priced_layers["runtime_s"] - plain_layers["runtime_s"]
    assert extra[conv] == pytest.approx(9216 * FAULT_COST_S) and extra.drop(conv).abs().max() == 0
    assert priced_layers.loc[conv, "page_faults"] == 9216
    priced, plain = predict_frame(frame, bundle), predict_frame(frame, unpriced)
    # the whole-model calibration scales the regressors' sum; the measured fault cost is added as it is
    assert priced.total.runtime_s - plain.total.runtime_s == pytest.approx(9216 * FAULT_COST_S, rel=1e-9)
    assert any("priced at 1.50 µs" in n for n in priced.notes)
    assert any("not priced" in n and "layerpower calibrate" in n for n in plain.notes)
    from layerpower.cli.predict import format_table

    assert "9,216 page faults (0.01382 s of it)" in format_table(priced, per_layer=True)
    assert "9,216 page faults (not priced)" in format_table(plain, per_layer=True)


def test_a_failed_fault_probe_leaves_the_faults_unpriced_and_says_so(
    reference_bundle, fake_sampled, tmp_path, monkeypatch
):
    from layerpower.predictors.page_faults import fault_cost_s
    from layerpower.profiling import fault_cost

    def broken(device: str = "cpu", **_: object) -> dict:
        raise LayerpowerError("the page-fault cost probe failed: exit status 1", "see the message above")

    monkeypatch.setattr(fault_cost, "measure_fault_cost", broken)
    result = calibrate(budget_s=60, out=tmp_path / "b", reference=reference_bundle)
    assert fault_cost_s(result.bundle) is None and not (tmp_path / "b" / "page_faults.json").exists()
    assert any("not priced (the cost probe failed" in u for u in result.provenance["uncalibrated"])
