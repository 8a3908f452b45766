"""Model-level calibration of one device: ``whole ≈ a·Σ(layer predictions) + b·(number of layer calls)``.

Isolated or in-context layer timings do not add up exactly to a whole forward pass (framework overhead per
call, caches shared between layers). Two non-negative coefficients close most of that gap. They are fitted by
robust least squares on log-ratio errors (each model row weighs the same, whatever its runtime).
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
        return self.a * np.asarray(sum_runtime_s, dtype=np.float64) + self.b_s * np.asarray(
            layer_calls, dtype=np.float64
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(a=float(data["a"]), b_s=float(data["b_s"]), fitted_rows=int(data.get("fitted_rows", 0)))


IDENTITY = Calibration()


def fit_calibration(
    sum_runtime_s: np.ndarray, layer_calls: np.ndarray, measured_s: np.ndarray
) -> Calibration:
    """Fit (a, b_s) >= 0 to the whole-model runtimes ``measured_s``.

    Robust least squares on log-ratios (soft-L1 beyond 10 %), so every model weighs the same whatever its
    runtime and one badly predicted model cannot drag the others. Fewer than two usable rows: the identity.
    """
    from scipy.optimize import least_squares

    s = np.asarray(sum_runtime_s, dtype=np.float64)
    n = np.asarray(layer_calls, dtype=np.float64)
    t = np.asarray(measured_s, dtype=np.float64)
    ok = np.isfinite(s) & np.isfinite(n) & np.isfinite(t) & (t > 0) & (s > 0)
    if ok.sum() < 2:
        return IDENTITY
    s, n, t = s[ok], n[ok], t[ok]
    log_t = np.log(t)

    def residuals(x: np.ndarray) -> np.ndarray:  # x = (a, b in microseconds per call)
        return np.log(x[0] * s + x[1] * 1e-6 * n) - log_t

    start = np.array([float(np.median(t / s)), 0.0])
    result = least_squares(
        residuals, start, bounds=([1e-9, 0.0], [np.inf, np.inf]), loss="soft_l1", f_scale=0.1
    )
    a, b_us = (float(v) for v in result.x)
    return Calibration(a=a, b_s=b_us * 1e-6, fitted_rows=int(ok.sum()))
