"""``LayerKindRouter``: one regressor per layer kind behind a single scikit-learn estimator.

Given a DataFrame of :func:`layerpower.models.spec.feature_row` columns plus a ``kind`` column, the router
fits a clone of the family's regressor on each kind's rows, with that family's features for the kind
(:mod:`layerpower.predictors.features`), and routes rows to them when predicting. Rows of a kind without
training data, and ``other`` rows whose operation was never seen in training, predict NaN and are reported
by :meth:`LayerKindRouter.left_out_reasons`: they are not silently predicted.

Given a plain numeric array instead (no ``kind`` column), every row is one kind and the columns are the
features as they are, so the estimator checks of scikit-learn apply to the router as well.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from layerpower.predictors.features import FeatureSpec, fit_feature_spec, transform, unseen_mask
from layerpower.predictors.regressors import make_regressor

#: the single kind of a router fitted on a plain numeric array
ALL_ROWS = "all"


class LayerKindRouter(RegressorMixin, BaseEstimator):
    """Route rows to a per-kind regressor by ``kind_column``.

    ``family`` selects the features (and the default regressor); ``estimator`` overrides the regressor
    template (cloned per kind; its column-index parameters left at ``None`` are filled from the kind's
    features). Kinds with fewer than ``min_rows`` rows are not fitted. Targets in SI units.
    ``roofline=True`` (runtime targets, xgboost family): fit a device roofline on all kinds' rows together
    (``roofline_``: s/FLOP, s/byte, s) and give each kind its log time as feature and base.
    """

    def __init__(
        self,
        family: str = "xgboost",
        estimator: BaseEstimator | None = None,
        kind_column: str = "kind",
        type_column: str = "layer_type",
        min_rows: int = 5,
        roofline: bool = False,
    ) -> None:
        self.family = family
        self.estimator = estimator
        self.kind_column = kind_column
        self.type_column = type_column
        self.min_rows = min_rows
        self.roofline = roofline

    def _routed(self, X: Any) -> bool:
        return isinstance(X, pd.DataFrame) and self.kind_column in X.columns

    def _template(self, spec: FeatureSpec | None) -> BaseEstimator:
        base = make_regressor(self.family) if self.estimator is None else self.estimator
        est = clone(base)
        if spec is not None:
            params = est.get_params(deep=False)
            fill = {k: v for k, v in spec.regressor_params().items() if k in params and params[k] is None}
            if fill:
                est.set_params(**fill)
        return est

    def fit(self, X: Any, y: Any) -> LayerKindRouter:
        self.feature_specs_: dict[str, FeatureSpec] = {}
        self.estimators_: dict[str, BaseEstimator] = {}
        self.rows_: dict[str, int] = {}
        if not self._routed(X):
            X, y = validate_data(self, X, y, y_numeric=True)
            self.routed_ = False
            self.roofline_ = ()
            self.estimators_[ALL_ROWS] = self._template(None).fit(X, y)
            self.rows_[ALL_ROWS] = len(X)
            self.kinds_ = [ALL_ROWS]
            return self
        self.routed_ = True
        target = np.asarray(y, dtype=np.float64).ravel()
        if len(target) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(target)}")
        kinds = X[self.kind_column].astype(str).to_numpy()
        self.roofline_: tuple[float, ...] = self._fit_roofline(X, target)
        for kind in sorted(set(kinds)):
            mask = (kinds == kind) & np.isfinite(target)
            self.rows_[kind] = int(mask.sum())
            if mask.sum() < self.min_rows:
                continue
            rows = X.loc[mask]
            spec = fit_feature_spec(rows, kind, self.family, self.type_column, self.roofline_)
            self.feature_specs_[kind] = spec
            self.estimators_[kind] = self._template(spec).fit(
                transform(rows, spec, self.type_column), target[mask]
            )
        if not self.estimators_:
            raise ValueError(f"no layer kind has at least min_rows={self.min_rows} rows with a finite target")
        self.kinds_ = sorted(self.estimators_)
        self.n_features_in_ = X.shape[1]
        return self

    def _fit_roofline(self, X: pd.DataFrame, target: np.ndarray) -> tuple[float, ...]:
        if not self.roofline or self.family != "xgboost":
            return ()
        from layerpower.predictors.features import source_column
        from layerpower.predictors.roofline import fit_roofline

        return fit_roofline(source_column(X, "flops"), source_column(X, "bytes_moved"), target)

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        if not self.routed_:
            X = validate_data(self, X, reset=False)
            return self.estimators_[ALL_ROWS].predict(X)
        if not self._routed(X):
            raise ValueError(f"this router was fitted on rows with a {self.kind_column!r} column; X has none")
        out = np.full(len(X), np.nan)
        kinds = X[self.kind_column].astype(str).to_numpy()
        for kind, est in self.estimators_.items():
            spec = self.feature_specs_[kind]
            mask = kinds == kind
            if not mask.any():
                continue
            rows = X.loc[mask]
            usable = ~unseen_mask(rows, spec, self.type_column)
            if usable.any():
                index = np.flatnonzero(mask)[usable]
                out[index] = est.predict(transform(rows.loc[usable], spec, self.type_column))
        return out

    def left_out_reasons(self, X: pd.DataFrame) -> np.ndarray:
        """Per row: ``""`` when predicted, else why not (kind without training data, unseen operation)."""
        check_is_fitted(self, "estimators_")
        reasons = np.full(len(X), "", dtype=object)
        if not self.routed_:
            return reasons
        kinds = X[self.kind_column].astype(str).to_numpy()
        for i, kind in enumerate(kinds):
            if kind not in self.estimators_:
                reasons[i] = f"no training data for kind {kind!r}"
        for kind, spec in self.feature_specs_.items():
            mask = kinds == kind
            if not mask.any():
                continue
            unseen = unseen_mask(X.loc[mask], spec, self.type_column)
            if not unseen.any():
                continue
            types = X.loc[mask, self.type_column].astype(str).to_numpy()
            for i, op in zip(np.flatnonzero(mask)[unseen], types[unseen], strict=True):
                reasons[i] = f"operation {op!r} not seen in training"
        return reasons
