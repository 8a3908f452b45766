"""Grouped splits: every model lies wholly on one side, so a test score measures unseen models.

Layers of one model are strongly correlated (same sizes repeated, same batch sizes), so a row-wise split
leaks; these helpers wrap scikit-learn's ``GroupShuffleSplit`` and ``LeaveOneGroupOut`` with the model as
the group.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from layerpower.errors import LayerpowerError

if TYPE_CHECKING:
    from layerpower.dataset.dataset_builder import LayerData


def _groups(models: Sequence[str] | pd.Series | np.ndarray, need: int) -> np.ndarray:
    groups = np.asarray(models, dtype=object)
    found = len(pd.unique(groups))
    if found < need:
        raise LayerpowerError(
            f"a grouped split needs at least {need} models, the data holds {found}",
            "profile more models, or evaluate without a held-out model",
        )
    return groups


def grouped_split_indices(
    models: Sequence[str] | pd.Series | np.ndarray, test_size: float | int = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (train, test) with each model on one side; ``test_size``: fraction or number of models."""
    from sklearn.model_selection import GroupShuffleSplit

    groups = _groups(models, 2)
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    train, test = next(splitter.split(np.zeros(len(groups)), groups=groups))
    return train, test


def grouped_split(
    data: LayerData, test_size: float | int = 0.2, seed: int = 0
) -> tuple[LayerData, LayerData]:
    """Split ``data`` into (train, test) with each model wholly on one side."""
    train, test = grouped_split_indices(data.model, test_size, seed)
    return data.subset(train), data.subset(test)


def leave_one_model_out_indices(
    models: Sequence[str] | pd.Series | np.ndarray,
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """For each model (sorted): (model, train positions, test positions), the model held out."""
    from sklearn.model_selection import LeaveOneGroupOut

    groups = _groups(models, 2)
    for train, test in LeaveOneGroupOut().split(np.zeros(len(groups)), groups=groups):
        yield str(groups[test[0]]), train, test


def leave_one_model_out(data: LayerData) -> Iterator[tuple[str, LayerData, LayerData]]:
    """For each model: (model, data without it, data of it)."""
    for model, train, test in leave_one_model_out_indices(data.model):
        yield model, data.subset(train), data.subset(test)
