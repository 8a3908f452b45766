"""Shared pytest configuration: the ``gpu`` marker skips cleanly where no NVIDIA GPU is present."""

from __future__ import annotations

import functools
import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@functools.cache
def _have_gpu() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
        return count > 0
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_gpu = pytest.mark.skip(reason="no NVIDIA GPU with NVML on this machine")
    for item in items:
        if "gpu" in item.keywords and not _have_gpu():
            item.add_marker(skip_gpu)
