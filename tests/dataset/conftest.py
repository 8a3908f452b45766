"""Fixtures for the dataset tests (helpers in ``profiled_files``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from profiled_files import tiny_cnn, write_profile


@pytest.fixture
def profile(tmp_path: Path) -> Callable[..., Path]:
    """``profile(model=..., device_id=..., ...)`` writes a profiler-format folder under ``tmp_path/training_data``."""

    def make(**kwargs) -> Path:
        return write_profile(tmp_path / "training_data", **kwargs)

    return make


@pytest.fixture
def training_data(tmp_path: Path) -> Path:
    """``training_data/test-gpu/`` with three models of different widths and depths."""
    root = tmp_path / "training_data"
    write_profile(root, model="tinynet", specs=tiny_cnn(8, 2))
    write_profile(root, model="widenet", specs=tiny_cnn(16, 2))
    write_profile(root, model="deepnet", specs=tiny_cnn(8, 3, size=64))
    return root
