"""Weight reorders above glibc's mmap threshold: the pages counted from the layer rows, and their cost's
source in a bundle."""

from __future__ import annotations

import types

import pandas as pd
import pytest

from layerpower.predictors.page_faults import bundle_pages, fault_cost_s, fault_note, refault_pages


def _rows(*rows: tuple[str, int, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["layer_type", "params", "dtype"])


def test_only_convolution_weights_of_32_mib_or_more_refault():
    frame = _rows(
        ("Conv2d", 1024 * 1024 * 9, "float32"),  # 36 MiB: its reorder buffer is mapped fresh
        ("Conv2d", 700 * 700 * 9, "float32"),  # 16.8 MiB: reused from the heap
        ("Linear", 25088 * 4096, "float32"),  # 392 MiB, read in place
        ("ConvTranspose2d", 1024 * 1024 * 9, "float32"),
        ("Conv2d", 1024 * 1024 * 9, "bfloat16"),  # 18 MiB in bf16
        ("Conv2d", 1448 * 1448 * 9, "bfloat16"),  # 36 MiB in bf16
        ("BatchNorm2d", 10**9, "float32"),
    )
    assert refault_pages(frame).tolist() == [9216, 0, 0, 9216, 0, 9215, 0]


def test_wide_resnet50_2_refaults_its_three_widest_convolutions_and_resnet18_none():
    from layerpower.predictors.layer_cache import layer_frame

    wide = layer_frame("wide_resnet50_2", 1, "float32")
    pages = refault_pages(wide)
    assert pages.sum() == 3 * 9216  # measured: 27,651 faults a forward on the development machine
    assert sorted(wide.loc[pages > 0, "layer_name"]) == [f"layer4.{i}.conv2" for i in range(3)]
    assert refault_pages(layer_frame("resnet18", 1, "float32")).sum() == 0


def test_the_cost_comes_from_calibrate_else_the_reference_recording_and_never_for_a_gpu():
    calibrated = {"page_faults": {"seconds_per_page": 1e-6}}
    recorded = {"reference_probes": {"page_faults": {"seconds_per_page": 2e-6}}}
    bundle = types.SimpleNamespace(device_id="cpu-x-2c", calibrated=calibrated, manifest=recorded)
    assert fault_cost_s(bundle) == 1e-6
    bundle.calibrated = {}
    assert fault_cost_s(bundle) == 2e-6
    bundle.manifest = {}
    assert fault_cost_s(bundle) is None
    gpu = types.SimpleNamespace(device_id="nvidia-h200", calibrated=calibrated, manifest=recorded)
    assert fault_cost_s(gpu) is None


@pytest.mark.parametrize(
    ("cost", "says"),
    [(None, "not priced"), (0.0, "reuses such buffers"), (1.1e-6, "priced at 1.10 µs")],
)
def test_the_note_says_whether_the_faults_were_priced(cost, says):
    import numpy as np

    note = fault_note(np.array([0.0, 9216.0, 0.0]), cost, "cpu-x-2c")
    assert "1 convolution call(s)" in note and "9,216 page faults" in note and says in note
    assert fault_note(np.zeros(3), cost, "cpu-x-2c") == ""


def test_a_gpu_bundle_counts_no_weight_reorder_faults():
    frame = _rows(("Conv2d", 1024 * 1024 * 9, "float32"))
    cpu = types.SimpleNamespace(device_id="cpu-x-2c", calibrated={}, manifest={})
    gpu = types.SimpleNamespace(device_id="nvidia-h200", calibrated={}, manifest={})
    assert bundle_pages(cpu, frame).tolist() == [9216]
    assert bundle_pages(gpu, frame).tolist() == [0]
