"""A fitted ``RandomForestRegressor`` as plain arrays: saved with numpy (no pickle), predicted with numpy.

Loading a forest through skops imports every scikit-learn estimator (and, through them, torch): seconds
that ``predict-energy`` should not spend. A forest is just its trees' arrays (children, split feature,
threshold, leaf value), so the bundle stores those in one ``.npz`` (read with ``allow_pickle=False``) and
:class:`ForestArrays` predicts exactly as scikit-learn does: inputs cast to float32, ``x <= threshold`` goes
left, the prediction is the mean of the trees' leaf values.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np

_FIELDS = ("left", "right", "feature", "threshold", "value")


@dataclass
class ForestArrays:
    """The trees of a fitted single-output forest regressor, concatenated; ``offsets[i]`` starts tree i."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    value: np.ndarray
    offsets: np.ndarray
    n_features_in_: int

    @classmethod
    def from_forest(cls, forest: Any) -> ForestArrays:
        """Arrays of a fitted ``RandomForestRegressor`` (one output)."""
        if getattr(forest, "n_outputs_", 1) != 1:
            raise ValueError("only single-output forests are supported")
        trees = [est.tree_ for est in forest.estimators_]
        sizes = [t.node_count for t in trees]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        # children are stored as global node indices; leaves keep -1
        left = np.concatenate(
            [
                np.where(t.children_left >= 0, t.children_left + o, -1)
                for t, o in zip(trees, offsets, strict=True)
            ]
        )
        right = np.concatenate(
            [
                np.where(t.children_right >= 0, t.children_right + o, -1)
                for t, o in zip(trees, offsets, strict=True)
            ]
        )
        return cls(
            left=left.astype(np.int64),
            right=right.astype(np.int64),
            feature=np.concatenate([t.feature for t in trees]).astype(np.int64),
            threshold=np.concatenate([t.threshold for t in trees]).astype(np.float64),
            value=np.concatenate([t.value[:, 0, 0] for t in trees]).astype(np.float64),
            offsets=offsets,
            n_features_in_=int(forest.n_features_in_),
        )

    def predict(self, X: Any) -> np.ndarray:
        """Mean leaf value over the trees, for rows of ``X`` (n_samples × n_features_in_)."""
        data = np.asarray(X, dtype=np.float32)
        if data.ndim != 2 or data.shape[1] != self.n_features_in_:
            raise ValueError(f"X has shape {data.shape}, expected (n, {self.n_features_in_})")
        rows = np.arange(len(data))
        total = np.zeros(len(data))
        for start in self.offsets:
            node = np.full(len(data), start, dtype=np.int64)
            while True:
                inner = self.left[node] >= 0
                if not inner.any():
                    break
                at = node[inner]
                go_left = data[rows[inner], self.feature[at]] <= self.threshold[at]
                node[inner] = np.where(go_left, self.left[at], self.right[at])
            total += self.value[node]
        return total / len(self.offsets)

    def save(self, path: str | PathLike[str]) -> None:
        """Write the arrays as an uncompressed-pickle-free ``.npz`` (deflate-compressed)."""
        with open(path, "wb") as handle:
            np.savez_compressed(
                handle,
                offsets=self.offsets,
                n_features_in=np.array([self.n_features_in_]),
                **{name: getattr(self, name) for name in _FIELDS},
            )

    @classmethod
    def load(cls, path: str | PathLike[str]) -> ForestArrays:
        """Read arrays written by :meth:`save` (``allow_pickle=False``: data only, never code)."""
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in _FIELDS}
            return cls(**arrays, offsets=data["offsets"], n_features_in_=int(data["n_features_in"][0]))
