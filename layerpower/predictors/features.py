"""Feature matrices for the three regressor families, built from :func:`layerpower.models.spec.feature_row` columns.

The columns every family starts from are the profiler's (:mod:`layerpower.config.features`); a family only
chooses which of them it uses and how it transforms them:

- ``polynomial`` (NeuralPower): the seed features, expanded into polynomial terms by the regressor, plus the
  layer's work (FLOPs, bytes moved) as linear terms;
- ``random-forest`` (nn-Meter): the extended features (seed + FLOPs, parameters, bytes, intensity) as they are;
- ``xgboost`` (ours): the extended features on a log scale, plus bytes moved, plus (for runtime) the log of the
  device roofline's time for the layer (:mod:`layerpower.predictors.roofline`). A linear base in the log
  roofline time (or, without a roofline, in log FLOPs and log bytes) is what the trees correct, so runtime
  scales with the work of a layer larger than any seen in training instead of saturating.

The random forest and xgboost also take the value features (:data:`layerpower.config.features.VALUE_FEATURES`:
the share of subnormal inputs, as it is), which default to 0 where a frame lacks them.

The ``other`` kind adds a one-hot of ``layer_type`` (the operation) to every family; an operation that was
not seen in training has no column and is flagged by :func:`unseen_mask` rather than predicted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from layerpower.config.features import (
    FEATURES_BY_KIND,
    FEATURES_EXTENDED_BY_KIND,
    OPTIONAL_FEATURES,
    VALUE_FEATURES,
)

FAMILIES: tuple[str, ...] = ("xgboost", "random-forest", "polynomial")

#: columns derived from the feature_row columns (not stored by the profiler)
DERIVED = {"bytes_moved": ("bytes_read", "bytes_written")}
#: the log (natural, of seconds) of the device roofline's time for the layer; needs ``FeatureSpec.roofline``
ROOFLINE_COLUMN = "log_roofline_s"

TYPE_PREFIX = "op="


@dataclass(frozen=True)
class FeatureSpec:
    """How one family turns one kind's rows into a numeric matrix (the fitted part: ``categories``).

    ``columns``: source columns in order (feature_row names or :data:`DERIVED`); ``log_columns``: those taken
    as ``log1p``; ``categories``: the ``layer_type`` values one-hot encoded after them; ``poly_columns``: the
    indices the polynomial family expands; ``base_columns``: the indices of the linear base (xgboost);
    ``roofline``: the device roofline (c_f s/FLOP, c_b s/byte, t0 s) behind :data:`ROOFLINE_COLUMN`, if used.
    """

    kind: str
    family: str
    columns: tuple[str, ...]
    log_columns: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    poly_columns: tuple[int, ...] = ()
    base_columns: tuple[int, ...] = ()
    roofline: tuple[float, ...] = ()

    @property
    def names(self) -> list[str]:
        """Output column names: ``log1p(x)`` for logged columns, ``op=<type>`` for the one-hot."""
        out = [f"log1p({c})" if c in self.log_columns else c for c in self.columns]
        return out + [f"{TYPE_PREFIX}{c}" for c in self.categories]

    @property
    def n_features(self) -> int:
        return len(self.columns) + len(self.categories)

    def regressor_params(self) -> dict[str, Any]:
        """The column-index parameters a family's regressor takes from this spec."""
        return {"poly_columns": self.poly_columns, "base_columns": self.base_columns}

    def to_dict(self) -> dict[str, Any]:
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        fields = {key: tuple(value) if isinstance(value, list) else value for key, value in data.items()}
        return cls(**fields)


def _family_columns(
    kind: str, family: str, roofline: bool = False
) -> tuple[list[str], list[str], list[str], list[str]]:
    """(columns, log columns, polynomial columns, base columns) of ``family`` for ``kind``."""
    if family == "polynomial":
        seed = list(FEATURES_BY_KIND[kind])
        return [*seed, "flops", "bytes_moved"], [], seed, []
    if family == "random-forest":
        return [*FEATURES_EXTENDED_BY_KIND[kind], *VALUE_FEATURES], [], [], []
    if family == "xgboost":
        logged = [*FEATURES_EXTENDED_BY_KIND[kind], "bytes_moved"]
        columns = [*logged, *VALUE_FEATURES]
        if roofline:
            return [*columns, ROOFLINE_COLUMN], logged, [], [ROOFLINE_COLUMN]
        return columns, logged, [], ["flops", "bytes_moved"]
    raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")


def fit_feature_spec(
    frame: pd.DataFrame,
    kind: str,
    family: str,
    type_column: str = "layer_type",
    roofline: tuple[float, ...] = (),
) -> FeatureSpec:
    """The :class:`FeatureSpec` of ``family`` for ``kind``, learning the operation types from ``frame``.

    ``roofline`` (xgboost only): the device roofline whose log time becomes a feature and the base.
    """
    use_roofline = bool(roofline) and family == "xgboost"
    columns, logs, poly, base = _family_columns(kind, family, use_roofline)
    categories: tuple[str, ...] = ()
    if kind == "other" and type_column in frame.columns:
        categories = tuple(sorted(str(v) for v in frame[type_column].dropna().unique()))
    return FeatureSpec(
        kind=kind,
        family=family,
        columns=tuple(columns),
        log_columns=tuple(logs),
        categories=categories,
        poly_columns=tuple(columns.index(c) for c in poly),
        base_columns=tuple(columns.index(c) for c in base),
        roofline=tuple(float(v) for v in roofline) if use_roofline else (),
    )


def source_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """One source column as float64, deriving :data:`DERIVED` columns from their parts."""
    if name == ROOFLINE_COLUMN:
        raise KeyError(f"{name} needs a roofline: use transform()")
    if name in DERIVED:
        return sum((source_column(frame, part) for part in DERIVED[name]), start=np.zeros(len(frame)))
    if name not in frame.columns:
        if name in OPTIONAL_FEATURES:
            return np.full(len(frame), OPTIONAL_FEATURES[name])
        raise KeyError(name)
    column = frame[name]
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)


def transform(frame: pd.DataFrame, spec: FeatureSpec, type_column: str = "layer_type") -> np.ndarray:
    """The numeric feature matrix of ``frame`` under ``spec`` (rows × :attr:`FeatureSpec.n_features`)."""
    needed = [c for c in spec.columns if c != ROOFLINE_COLUMN]
    if ROOFLINE_COLUMN in spec.columns:
        needed += ["flops", "bytes_moved"]
    missing = [
        c for c in needed if c not in DERIVED and c not in OPTIONAL_FEATURES and c not in frame.columns
    ]
    missing += [p for c in needed if c in DERIVED for p in DERIVED[c] if p not in frame.columns]
    if missing:
        from layerpower.errors import SchemaError

        raise SchemaError(
            f"{spec.kind} rows lack the feature columns {sorted(set(missing))}",
            "build rows with layerpower.models.spec.feature_row",
        )
    out = np.empty((len(frame), spec.n_features), dtype=np.float64)
    for j, name in enumerate(spec.columns):
        if name == ROOFLINE_COLUMN:
            from layerpower.predictors.roofline import roofline_time

            flops, moved = source_column(frame, "flops"), source_column(frame, "bytes_moved")
            out[:, j] = np.log(roofline_time(flops, moved, spec.roofline))  # type: ignore[arg-type]
            continue
        values = source_column(frame, name)
        if name in OPTIONAL_FEATURES:
            values = np.where(np.isnan(values), OPTIONAL_FEATURES[name], values)
        out[:, j] = np.log1p(np.clip(values, 0.0, None)) if name in spec.log_columns else values
    if spec.categories:
        types = frame[type_column].astype(str).to_numpy() if type_column in frame.columns else np.array([])
        for j, category in enumerate(spec.categories, start=len(spec.columns)):
            out[:, j] = (types == category).astype(np.float64) if len(types) else 0.0
    return out


def unseen_mask(frame: pd.DataFrame, spec: FeatureSpec, type_column: str = "layer_type") -> np.ndarray:
    """True for rows of the ``other`` kind whose operation type was not seen when ``spec`` was fitted."""
    if spec.kind != "other" or type_column not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return ~frame[type_column].astype(str).isin(spec.categories).to_numpy()
