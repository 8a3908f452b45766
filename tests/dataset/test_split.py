"""Grouped splits keep every model wholly on one side."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from profiled_files import tiny_cnn

from layerpower.dataset import (
    DatasetBuilder,
    LayerData,
    grouped_split,
    grouped_split_indices,
    leave_one_model_out,
)
from layerpower.errors import LayerpowerError


@pytest.fixture
def five_models(profile: Callable[..., Path]) -> LayerData:
    files = [
        profile(model=f"net{i}", specs=tiny_cnn(4 + 4 * i, 2 + i % 2)) / "convolutional.csv" for i in range(5)
    ]
    return DatasetBuilder().merge_feature_data(files)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouped_split_keeps_models_apart(five_models: LayerData, seed: int) -> None:
    train, test = grouped_split(five_models, test_size=0.4, seed=seed)
    assert set(train.model).isdisjoint(set(test.model))
    assert set(train.model) | set(test.model) == set(five_models.model)
    assert len(train) + len(test) == len(five_models)
    assert test.model.nunique() == 2
    # the subsets stay consistent with their frames
    assert train.input_features.index.equals(train.power.index)
    assert train.frame.index.tolist() == list(range(len(train)))


def test_grouped_split_is_reproducible(five_models: LayerData) -> None:
    a = grouped_split_indices(five_models.model, seed=3)
    b = grouped_split_indices(five_models.model, seed=3)
    np.testing.assert_array_equal(a[1], b[1])


def test_leave_one_model_out(five_models: LayerData) -> None:
    held_out = []
    for model, train, test in leave_one_model_out(five_models):
        assert set(test.model) == {model}
        assert model not in set(train.model)
        assert len(train) + len(test) == len(five_models)
        held_out.append(model)
    assert held_out == sorted(five_models.model.unique())


def test_split_needs_two_models(profile: Callable[..., Path]) -> None:
    data = DatasetBuilder().merge_feature_data([profile() / "convolutional.csv"])
    with pytest.raises(LayerpowerError, match="at least 2 models, the data holds 1"):
        grouped_split(data)
