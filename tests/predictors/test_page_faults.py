"""Weight reorders above glibc's mmap threshold: the pages counted from the layer rows, and their cost's
source in a bundle."""

from __future__ import annotations

import platform
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


def test_cpu_predictions_say_heap_faults_are_not_predicted_and_gpu_ones_do_not():
    from layerpower.config.memory import STEADY_MALLOC_TUNABLES
    from layerpower.predictors.page_faults import heap_note

    cpu = types.SimpleNamespace(device_id="cpu-x-2c", calibrated={}, manifest={})
    gpu = types.SimpleNamespace(device_id="nvidia-h200", calibrated={}, manifest={})
    note = heap_note(cpu)
    assert "not predicted per model" in note and f"GLIBC_TUNABLES={STEADY_MALLOC_TUNABLES}" in note
    assert heap_note(gpu) == ""


# Frees one 4 MiB mapped block (glibc's dynamic thresholds rise: mmap 4 MiB, trim 8 MiB), then fills and frees
# three 3 MiB heap blocks ten times: 9 MiB free at the heap top, above the trim threshold, goes back to the
# kernel each time and faults in again. Prints the minor faults of the last nine rounds.
_TRIM_SCRIPT = """
import ctypes, resource
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
MiB = 1 << 20
block = libc.malloc(4 * MiB); libc.memset(block, 1, 4 * MiB); libc.free(block)
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(10):
    if i == 1:
        start = faults()
    blocks = [libc.malloc(3 * MiB) for _ in range(3)]
    for b in blocks:
        libc.memset(b, 1, 3 * MiB)
    for b in reversed(blocks):
        libc.free(b)
print(faults() - start)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's heap trimming")
def test_the_steady_tunables_keep_a_trimmed_heap_mapped():
    import os
    import subprocess
    import sys

    from layerpower.config.memory import PAGE_BYTES, STEADY_MALLOC_TUNABLES

    def faults(tunables: str | None) -> int:
        env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
        env.update({"GLIBC_TUNABLES": tunables} if tunables else {})
        done = subprocess.run([sys.executable, "-c", _TRIM_SCRIPT], env=env, capture_output=True, text=True)
        return int(done.stdout.strip())

    pages = 9 * (1 << 20) // PAGE_BYTES  # 2,304 pages refaulted per round by default
    assert faults(None) >= 9 * pages * 0.9
    assert faults(STEADY_MALLOC_TUNABLES) < pages  # nine rounds together fault less than one round did
