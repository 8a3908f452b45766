"""Per-layer runtime and power predictors, and whole-model energy prediction.

- :mod:`~layerpower.predictors.regressors`: the three families as scikit-learn estimators: ``polynomial``
  (NeuralPower: polynomial terms + LassoCV), ``random-forest`` (nn-Meter), ``xgboost`` (ours: boosted trees on
  a log-log power law in the layer's work);
- :class:`~layerpower.predictors.router.LayerKindRouter`: one regressor per layer kind behind one estimator;
- :func:`~layerpower.predictors.training.train_predictors`: leave-one-model-out evaluation, calibration,
  intervals, and a bundle on disk (:mod:`~layerpower.predictors.bundle`: safe formats, checked manifest);
- :func:`~layerpower.predictors.energy.predict_energy`: a model name -> :class:`EnergyPrediction`
  (``.total``: energy J, runtime s, average power W with intervals; ``.layers``: one row per layer call).

Names are imported lazily (``from layerpower.predictors import predict_energy`` loads numpy, pandas and
scikit-learn only then).
"""

from __future__ import annotations

from layerpower._lazy import lazy_exports

_EXPORTS = {
    "predict_energy": "layerpower.predictors.energy",
    "EnergyPrediction": "layerpower.predictors.energy",
    "EnergyTotal": "layerpower.predictors.energy",
    "bundled_devices": "layerpower.predictors.bundle_choice",
    "train_predictors": "layerpower.predictors.training",
    "TrainResult": "layerpower.predictors.training",
    "PredictorBundle": "layerpower.predictors.bundle",
    "load_bundle": "layerpower.predictors.bundle",
    "save_bundle": "layerpower.predictors.bundle",
    "LayerKindRouter": "layerpower.predictors.router",
    "PhysicsBoostRegressor": "layerpower.predictors.regressors",
    "PolynomialLassoRegressor": "layerpower.predictors.regressors",
    "evaluate_family": "layerpower.predictors.evaluation",
    "load_training_set": "layerpower.predictors.data",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
