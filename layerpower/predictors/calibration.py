"""Model-level calibration of one device: ``whole ≈ a·Σ(layer predictions) + b·(number of layer calls)``.

Isolated or in-context layer timings do not add up exactly to a whole forward pass (framework overhead per
call, caches shared between layers). Two non-negative coefficients close most of that gap. They are fitted by
non-negative least squares on *relative* errors (each model row weighs the same, whatever its runtime).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Calibration:
    """``runtime_s = a · Σ predicted layer runtime_s + b_s · layer_calls`` (a: unitless, b_s: seconds/call)."""

    a: float = 1.0
    b_s: float = 0.0
    fitted_rows: int = 0

    def apply(self, sum_runtime_s: np.ndarray | float, layer_calls: np.ndarray | float) -> np.ndarray:
        """The calibrated whole-model runtime in seconds."""
        return self.a * np.asarray(sum_runtime_s, dtype=np.float64) + self.b_s * np.asarray(layer_calls, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(a=float(data["a"]), b_s=float(data["b_s"]), fitted_rows=int(data.get("fitted_rows", 0)))


IDENTITY = Calibration()


def fit_calibration(sum_runtime_s: np.ndarray, layer_calls: np.ndarray, measured_s: np.ndarray) -> Calibration:
    """Fit (a, b_s) >= 0 minimising the squared relative error against ``measured_s`` (NNLS)."""
    from scipy.optimize import nnls

    s = np.asarray(sum_runtime_s, dtype=np.float64)
    n = np.asarray(layer_calls, dtype=np.float64)
    t = np.asarray(measured_s, dtype=np.float64)
    ok = np.isfinite(s) & np.isfinite(n) & np.isfinite(t) & (t > 0) & (s > 0)
    if ok.sum() < 2:
        return IDENTITY
    design = np.column_stack([s[ok] / t[ok], n[ok] / t[ok]])
    (a, b), _ = nnls(design, np.ones(int(ok.sum())))
    if a <= 0:
        return IDENTITY
    return Calibration(a=float(a), b_s=float(b), fitted_rows=int(ok.sum()))
