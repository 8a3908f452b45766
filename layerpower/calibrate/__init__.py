"""Calibrate the shipped predictors to this machine: a short probe run, a correction, a bundle of its own.

:func:`~layerpower.calibrate.run.calibrate` measures a fixed probe set (sampled layers and a few small whole
models) within a budget, fits what differs from the reference device (rooflines, a per-kind/operation
correction, the whole-model calibration; power only where a sensor measured it) and writes a calibrated
bundle to the user data dir. It measures with :mod:`layerpower.profiling` and fits on
:mod:`layerpower.predictors`. Names are imported lazily.
"""

from __future__ import annotations

from layerpower._lazy import lazy_exports

_EXPORTS = {
    "calibrate": "layerpower.calibrate.run",
    "CalibrationResult": "layerpower.calibrate.run",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
