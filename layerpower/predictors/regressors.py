"""The per-kind regressors of the three families, as scikit-learn estimators on numeric matrices.

- :class:`PolynomialLassoRegressor`: NeuralPower's method: polynomial terms of degree up to 3 of the seed
  features plus linear work terms, standardised, fitted by Lasso with a cross-validated penalty (``LassoCV``).
- ``RandomForestRegressor``: nn-Meter's method, used as scikit-learn ships it.
- :class:`PhysicsBoostRegressor`: ours: gradient-boosted trees (xgboost) on a log target, correcting a
  log-log linear base in the layer's work (FLOPs, bytes) so predictions scale beyond the training range.

All follow the estimator contract (no logic in ``__init__``, fitted attributes end in ``_``, ``fit`` returns
``self``), so ``clone``, ``GridSearchCV`` and ``check_estimator`` work. Targets are in SI units (seconds,
watts); with ``log_target="auto"`` / ``floor="auto"`` strictly positive targets are modelled on a log scale /
floored above zero, which is what runtimes and powers are.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data


def _columns(selected: Sequence[int] | None, n_features: int) -> list[int]:
    """Validated column indices (``None`` means none)."""
    out = [int(i) for i in (selected or ())]
    bad = [i for i in out if not 0 <= i < n_features]
    if bad:
        raise ValueError(f"column indices {bad} out of range for {n_features} features")
    return out


class PolynomialLassoRegressor(RegressorMixin, BaseEstimator):
    """NeuralPower's polynomial regression: scale, polynomial terms, scale, ``LassoCV``.

    ``poly_columns`` are expanded to polynomial terms up to ``degree`` (all columns when ``None`` or empty);
    the remaining columns (the layer's work, one-hot operation types) enter linearly. ``floor="auto"`` keeps
    predictions above a tenth of the smallest training target when all targets are positive.

    Parameters
    ----------
    degree : int
        Highest total degree of the polynomial terms.
    poly_columns : sequence of int or None
        Column indices of ``X`` expanded to polynomial terms; ``None`` or empty for all columns.
    cv : int
        Cross-validation folds used to choose the Lasso penalty.
    alphas : int
        Number of penalties on ``LassoCV``'s grid.
    max_iter : int
        Largest number of coordinate-descent iterations per fit.
    tol : float
        Coordinate-descent tolerance, on the standardised target (dimensionless).
    floor : "auto", float or None
        Smallest prediction, in the target's unit (s or W); ``"auto"`` is a tenth of the smallest
        training target when all are positive, ``None`` no floor.
    """

    def __init__(
        self,
        degree: int = 3,
        poly_columns: Sequence[int] | None = None,
        cv: int = 5,
        alphas: int = 30,
        max_iter: int = 1000,
        tol: float = 1e-3,
        floor: str | float | None = "auto",
    ) -> None:
        self.degree = degree
        self.poly_columns = poly_columns
        self.cv = cv
        self.alphas = alphas
        self.max_iter = max_iter
        self.tol = tol
        self.floor = floor

    def fit(self, X: Any, y: Any) -> PolynomialLassoRegressor:
        from sklearn.compose import ColumnTransformer
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LassoCV
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import PolynomialFeatures, StandardScaler

        X, y = validate_data(self, X, y, y_numeric=True)
        n_samples, n_features = X.shape
        if n_samples < 3:
            raise ValueError(f"PolynomialLassoRegressor needs at least 3 samples, got n_samples={n_samples}")
        poly = _columns(self.poly_columns, n_features) or list(range(n_features))
        linear = [i for i in range(n_features) if i not in poly]
        parts: list[tuple[str, Any, list[int]]] = [
            (
                "poly",
                Pipeline(
                    [
                        ("scale", StandardScaler()),
                        ("terms", PolynomialFeatures(self.degree, include_bias=False)),
                    ]
                ),
                poly,
            )
        ]
        if linear:
            parts.append(("linear", "passthrough", linear))
        self.model_ = Pipeline(
            [
                ("expand", ColumnTransformer(parts)),
                ("scale", StandardScaler()),
                (
                    "lasso",
                    LassoCV(
                        cv=min(self.cv, n_samples), alphas=self.alphas, max_iter=self.max_iter, tol=self.tol
                    ),
                ),
            ]
        )
        # a standardised target makes Lasso's tolerance and alpha grid independent of the target's units
        self.y_mean_ = float(np.mean(y))
        self.y_scale_ = float(np.std(y)) or 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_.fit(X, (y - self.y_mean_) / self.y_scale_)
        self.n_iter_ = int(np.max(self.model_.named_steps["lasso"].n_iter_))
        if self.floor == "auto":
            self.floor_ = float(np.min(y)) / 10.0 if np.all(y > 0) else -np.inf
        else:
            self.floor_ = -np.inf if self.floor is None else float(self.floor)
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False)
        return np.maximum(self.model_.predict(X) * self.y_scale_ + self.y_mean_, self.floor_)


class PhysicsBoostRegressor(RegressorMixin, BaseEstimator):
    """Gradient-boosted trees (xgboost) correcting a linear base, on a log target.

    With ``log_target="auto"`` and all targets positive the model fits ``log(y)``. The base is a least-squares
    line in the ``base_columns`` (for layers: log FLOPs and log bytes moved, i.e. a power law in the work);
    the trees start from it (xgboost ``base_margin``) and learn what the work alone does not explain.
    Without ``base_columns`` the base is the mean target.

    Parameters
    ----------
    n_estimators : int
        Boosting rounds (trees), a count.
    max_depth : int
        Largest depth of each tree, in levels.
    learning_rate : float
        Shrinkage of each tree's contribution (xgboost ``eta``), dimensionless, in (0, 1].
    subsample : float
        Share of training rows drawn for each tree, in (0, 1].
    colsample_bytree : float
        Share of feature columns drawn for each tree, in (0, 1].
    min_child_weight : float
        Smallest sum of instance weight (Hessian) in a leaf; with squared error, a number of rows.
    reg_lambda : float
        L2 penalty on leaf weights (xgboost ``lambda``), in units of the (log) target squared.
    base_columns : sequence of int or None
        Column indices of ``X`` entering the linear base (for layers: log FLOPs, log bytes); ``None`` or
        empty for a constant base.
    log_target : {"auto", True, False}
        Fit ``log(y)``: ``"auto"`` does when every target is positive (runtimes in s, powers in W).
    n_jobs : int
        Threads xgboost uses to train and predict.
    random_state : int
        Seed of the row and column sampling.
    """

    def __init__(
        self,
        n_estimators: int = 300,
        max_depth: int = 4,
        learning_rate: float = 0.05,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        min_child_weight: float = 1.0,
        reg_lambda: float = 1.0,
        base_columns: Sequence[int] | None = None,
        log_target: str | bool = "auto",
        n_jobs: int = 1,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.base_columns = base_columns
        self.log_target = log_target
        self.n_jobs = n_jobs
        self.random_state = random_state

    def booster_params(self) -> dict[str, Any]:
        """The xgboost training parameters."""
        return {
            "objective": "reg:squarederror",
            "tree_method": "hist",
            "max_depth": int(self.max_depth),
            "eta": float(self.learning_rate),
            "subsample": float(self.subsample),
            "colsample_bytree": float(self.colsample_bytree),
            "min_child_weight": float(self.min_child_weight),
            "lambda": float(self.reg_lambda),
            "nthread": int(self.n_jobs),
            "seed": int(self.random_state),
            "verbosity": 0,
        }

    def fit(self, X: Any, y: Any) -> PhysicsBoostRegressor:
        import xgboost as xgb

        X, y = validate_data(self, X, y, y_numeric=True)
        if self.log_target not in ("auto", True, False):
            raise ValueError(f"log_target must be 'auto', True or False, got {self.log_target!r}")
        positive = bool(np.all(y > 0))
        if self.log_target is True and not positive:
            raise ValueError("log_target=True needs strictly positive targets")
        self.log_target_ = bool(self.log_target is True or (self.log_target == "auto" and positive))
        target = np.log(y) if self.log_target_ else np.asarray(y, dtype=np.float64)
        self.base_columns_ = _columns(self.base_columns, X.shape[1])
        self.base_coef_, self.base_intercept_ = self._fit_base(X, target)
        dtrain = xgb.DMatrix(X, label=target, base_margin=self._base(X), nthread=int(self.n_jobs))
        self.booster_ = xgb.train(self.booster_params(), dtrain, num_boost_round=int(self.n_estimators))
        return self

    def _fit_base(self, X: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
        if not self.base_columns_:
            return np.zeros(0), float(np.mean(target))
        design = np.column_stack([X[:, self.base_columns_], np.ones(len(X))])
        solution, *_ = np.linalg.lstsq(design, target, rcond=None)
        return solution[:-1], float(solution[-1])

    def _base(self, X: np.ndarray) -> np.ndarray:
        if not self.base_columns_:
            return np.full(len(X), self.base_intercept_)
        return X[:, self.base_columns_] @ self.base_coef_ + self.base_intercept_

    def predict(self, X: Any) -> np.ndarray:
        import xgboost as xgb

        check_is_fitted(self, "booster_")
        X = validate_data(self, X, reset=False)
        # few rows: one thread avoids OpenMP start-up costs that dwarf the work (tens of ms on a busy CPU)
        self.booster_.set_param({"nthread": int(self.n_jobs)})
        raw = self.booster_.predict(xgb.DMatrix(X, base_margin=self._base(X), nthread=int(self.n_jobs)))
        raw = np.asarray(raw, dtype=np.float64)
        return np.exp(raw) if self.log_target_ else raw


def make_regressor(family: str, **params: Any) -> BaseEstimator:
    """A fresh, unfitted per-kind regressor of ``family`` (``xgboost``, ``random-forest``, ``polynomial``)."""
    if family == "xgboost":
        return PhysicsBoostRegressor(**params)
    if family == "random-forest":
        from sklearn.ensemble import RandomForestRegressor

        defaults: dict[str, Any] = {
            "n_estimators": 100,
            "min_samples_leaf": 1,
            "random_state": 0,
            "n_jobs": 1,
        }
        return RandomForestRegressor(**{**defaults, **params})
    if family == "polynomial":
        return PolynomialLassoRegressor(**params)
    from layerpower.predictors.features import FAMILIES

    raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
