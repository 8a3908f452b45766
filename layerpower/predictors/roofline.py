"""A device roofline fitted on every layer: ``runtime_s ≈ flops·c_f + bytes·c_b + t0``.

``1/c_f`` is the device's effective compute rate (FLOP/s), ``1/c_b`` its effective memory bandwidth (B/s),
``t0`` the fixed cost of a layer call (s). Fitted once per device on all layer kinds together (robust
least squares on log runtimes), it lets the xgboost family start from the physics: a dense layer larger than
any dense layer in training still gets the compute time that the convolutions taught, where trees alone
would saturate at the largest runtime they saw.
"""

from __future__ import annotations

import math

import numpy as np

#: coefficients (c_f s/FLOP, c_b s/byte, t0 s)
Roofline = tuple[float, float, float]


def roofline_time(flops: np.ndarray, bytes_moved: np.ndarray, roofline: Roofline) -> np.ndarray:
    """Predicted runtime in seconds of layers with ``flops`` and ``bytes_moved``."""
    c_f, c_b, t0 = roofline
    return c_f * np.clip(flops, 0, None) + c_b * np.clip(bytes_moved, 0, None) + t0


def fit_roofline(flops: np.ndarray, bytes_moved: np.ndarray, runtime_s: np.ndarray) -> Roofline:
    """Fit the three non-negative coefficients to positive runtimes (soft-L1 loss on log-ratios)."""
    from scipy.optimize import least_squares

    f = np.asarray(flops, dtype=np.float64)
    b = np.asarray(bytes_moved, dtype=np.float64)
    t = np.asarray(runtime_s, dtype=np.float64)
    ok = np.isfinite(f) & np.isfinite(b) & np.isfinite(t) & (t > 0)
    f, b, t = np.clip(f[ok], 0, None), np.clip(b[ok], 0, None), t[ok]
    if len(t) < 3:
        raise ValueError(f"a roofline needs at least 3 layers with a positive runtime, got {len(t)}")
    # starting point: each term alone explains the median layer, the overhead a tenth of the fastest layer
    start = np.log(
        [
            np.median(t[f > 0] / f[f > 0]) if (f > 0).any() else 1e-12,
            np.median(t[b > 0] / b[b > 0]) if (b > 0).any() else 1e-12,
            max(float(t.min()) / 10.0, 1e-12),
        ]
    ) - np.log([2.0, 2.0, 1.0])
    log_t = np.log(t)

    def residuals(u: np.ndarray) -> np.ndarray:
        return np.log(np.exp(u[0]) * f + np.exp(u[1]) * b + np.exp(u[2])) - log_t

    result = least_squares(residuals, start, loss="soft_l1", f_scale=0.1, method="trf")
    c_f, c_b, t0 = (float(math.exp(v)) for v in result.x)
    return (c_f, c_b, t0)
