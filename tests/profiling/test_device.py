"""Device ids: stable, readable, from /proc/cpuinfo or the GPU name."""

from __future__ import annotations

from pathlib import Path

import pytest
from power_fakes import (
    FakeGpu,
    fresh_probes,  # noqa: F401  (autouse: clean probe caches)
    hide_pynvml,
    install_pynvml,
    write,
)

from layerpower.errors import LayerpowerError
from layerpower.hardware import device_id, device_name, slugify


@pytest.mark.parametrize(
    ("model", "cores", "expected"),
    [
        ("AMD EPYC 7B13", 2, "cpu-amd-epyc-7b13-2c"),
        ("AMD EPYC 7763 64-Core Processor", 8, "cpu-amd-epyc-7763-8c"),
        ("Intel(R) Xeon(R) CPU @ 2.20GHz", 4, "cpu-intel-xeon-4c"),
        ("Intel(R) Xeon(R) Processor", 2, "cpu-intel-xeon-2c"),
        ("12th Gen Intel(R) Core(TM) i9-12900K", 24, "cpu-12th-gen-intel-core-i9-12900k-24c"),
        ("AMD Ryzen 7 PRO 4750U with Radeon Graphics", 16, "cpu-amd-ryzen-7-pro-4750u-16c"),
    ],
)
def test_cpu_ids(tmp_path: Path, model: str, cores: int, expected: str):
    write(tmp_path / "proc" / "cpuinfo", f"processor\t: 0\nvendor_id\t: x\nmodel name\t: {model}\n")
    assert device_id("cpu", root=tmp_path, cores=cores) == expected


def test_cpu_id_is_deterministic_here():
    first = device_id()
    assert first == device_id("cpu") and first.startswith("cpu-") and first.endswith("c")
    assert first == slugify(first)


def test_cpu_without_model_name_uses_the_architecture(tmp_path: Path):
    write(tmp_path / "proc" / "cpuinfo", "processor\t: 0\nBogoMIPS\t: 48.00\n")
    assert device_id("cpu", root=tmp_path, cores=8).startswith("cpu-")


def test_gpu_id_from_nvml(monkeypatch: pytest.MonkeyPatch):
    install_pynvml(
        monkeypatch, [FakeGpu(name="NVIDIA H100 80GB HBM3"), FakeGpu(name="NVIDIA A100-SXM4-40GB")]
    )
    assert device_id("cuda") == "nvidia-h100-80gb-hbm3"
    assert device_id("cuda:1") == "nvidia-a100-sxm4-40gb"
    assert device_name("cuda:1") == "NVIDIA A100-SXM4-40GB"


def test_missing_gpu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    install_pynvml(monkeypatch, [FakeGpu()])
    with pytest.raises(LayerpowerError, match="no CUDA device cuda:3"):
        device_id("cuda:3")


def test_no_gpu_at_all(monkeypatch: pytest.MonkeyPatch):
    hide_pynvml(monkeypatch)
    with pytest.raises(LayerpowerError, match="no NVIDIA GPU"):
        device_id("cuda")


@pytest.mark.parametrize("bad", ["tpu", "cuda:x"])
def test_unknown_device(bad: str):
    with pytest.raises(LayerpowerError):
        device_id(bad)


def test_cpu_name_has_core_count(tmp_path: Path):
    write(tmp_path / "proc" / "cpuinfo", "model name\t: AMD EPYC 7B13\n")
    assert device_name("cpu", root=tmp_path).startswith("AMD EPYC 7B13 (")
