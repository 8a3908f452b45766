"""The regressors and the router follow scikit-learn's estimator contract and route rows by kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import GridSearchCV, LeaveOneGroupOut
from sklearn.utils.estimator_checks import parametrize_with_checks

from layerpower.predictors.data import load_training_set
from layerpower.predictors.features import fit_feature_spec, transform, unseen_mask
from layerpower.predictors.regressors import PhysicsBoostRegressor, PolynomialLassoRegressor
from layerpower.predictors.router import LayerKindRouter


@parametrize_with_checks(
    [
        PhysicsBoostRegressor(n_estimators=20, learning_rate=0.3),
        PolynomialLassoRegressor(degree=2, alphas=10),
        LayerKindRouter(estimator=PhysicsBoostRegressor(n_estimators=20, learning_rate=0.3)),
        LayerKindRouter(
            family="random-forest", estimator=RandomForestRegressor(n_estimators=5, random_state=0)
        ),
    ]
)
def test_sklearn_contract(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def layers(synthetic_dataset):
    return load_training_set(synthetic_dataset).layers


def test_router_fits_one_regressor_per_kind(layers):
    router = LayerKindRouter(estimator=PhysicsBoostRegressor(n_estimators=20)).fit(
        layers, layers["runtime_s"]
    )
    assert router.kinds_ == ["convolutional", "dense", "other", "pooling"]
    assert set(router.feature_specs_["other"].categories) == {"BatchNorm2d", "ReLU", "add", "GELU"}
    predicted = router.predict(layers)
    assert predicted.shape == (len(layers),)
    assert np.all(np.isfinite(predicted)) and np.all(predicted > 0)
    # in-sample relative error is small: the router really routes rows to their kind's model
    assert np.median(np.abs(predicted / layers["runtime_s"] - 1)) < 0.2


def test_router_clones_and_grid_searches_with_grouped_folds(layers):
    layers = layers[
        layers["layer_type"] != "GELU"
    ]  # an op only one model has would be left out (NaN) when held out
    router = LayerKindRouter(estimator=PhysicsBoostRegressor(n_estimators=10))
    assert clone(router).get_params()["estimator__n_estimators"] == 10
    search = GridSearchCV(
        router,
        {"estimator__max_depth": [2, 3]},
        cv=LeaveOneGroupOut(),
        scoring="neg_mean_absolute_percentage_error",
    )
    search.fit(layers, layers["runtime_s"], groups=layers["model"])
    assert search.best_params_["estimator__max_depth"] in (2, 3)
    assert len(search.cv_results_["split0_test_score"]) == 2


def test_unseen_operation_and_missing_kind_are_reported_not_predicted(layers):
    train = layers[(layers["layer_type"] != "GELU") & (layers["kind"] != "dense")]
    router = LayerKindRouter(estimator=PhysicsBoostRegressor(n_estimators=10)).fit(train, train["runtime_s"])
    test = layers[layers["model"] == "net5"].reset_index(drop=True)
    predicted = router.predict(test)
    reasons = router.left_out_reasons(test)
    gelu = (test["layer_type"] == "GELU").to_numpy()
    dense = (test["kind"] == "dense").to_numpy()
    assert gelu.any() and dense.any()
    assert np.all(np.isnan(predicted[gelu | dense]))
    assert np.all(np.isfinite(predicted[~(gelu | dense)]))
    assert all(r == "operation 'GELU' not seen in training" for r in reasons[gelu])
    assert all(r == "no training data for kind 'dense'" for r in reasons[dense])
    assert all(r == "" for r in reasons[~(gelu | dense)])


def test_router_refuses_rows_without_kind_after_routed_fit(layers):
    router = LayerKindRouter(estimator=PhysicsBoostRegressor(n_estimators=5)).fit(layers, layers["runtime_s"])
    with pytest.raises(ValueError, match="kind"):
        router.predict(layers.drop(columns=["kind"]))


def test_feature_specs_per_family(layers):
    other = layers[layers["kind"] == "other"]
    xgb_spec = fit_feature_spec(other, "other", "xgboost")
    assert "log1p(flops)" in xgb_spec.names and "op=ReLU" in xgb_spec.names
    assert [xgb_spec.columns[i] for i in xgb_spec.base_columns] == ["flops", "bytes_moved"]
    poly = fit_feature_spec(layers[layers["kind"] == "convolutional"], "convolutional", "polynomial")
    assert "kernel_0" in [poly.columns[i] for i in poly.poly_columns]
    assert "flops" not in [poly.columns[i] for i in poly.poly_columns] and "flops" in poly.columns
    matrix = transform(other, xgb_spec)
    assert matrix.shape == (len(other), xgb_spec.n_features)
    onehot = matrix[:, len(xgb_spec.columns) :]
    assert np.all(onehot.sum(axis=1) == 1)
    fresh = pd.DataFrame({"layer_type": ["ReLU", "SiLU"]})
    assert unseen_mask(fresh, xgb_spec).tolist() == [False, True]


def test_runtime_router_starts_from_the_device_roofline(layers):
    router = LayerKindRouter(estimator=PhysicsBoostRegressor(n_estimators=10), roofline=True)
    router.fit(layers, layers["runtime_s"])
    c_f, c_b, t0 = router.roofline_
    assert c_f > 0 and c_b > 0 and t0 > 0
    spec = router.feature_specs_["dense"]
    assert spec.columns[spec.base_columns[0]] == "log_roofline_s"
    # a dense layer 100x larger than any in training: the roofline carries the prediction up with it
    dense = layers[layers["kind"] == "dense"]
    big = dense.loc[[dense["flops"].idxmax()]].copy()
    for column in ("flops", "params", "bytes_read"):
        big[column] = big[column] * 100
    assert router.predict(big)[0] > 5 * dense["runtime_s"].max()
