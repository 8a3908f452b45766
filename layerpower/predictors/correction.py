"""A device correction on top of a reference bundle's regressors: how device B differs from device A.

A calibrated bundle keeps the reference device's regressors unchanged and adds this correction, stored as
plain JSON coefficients (``correction.json``, listed with its sha256 in the manifest). For a layer with
FLOPs ``f`` and bytes moved ``m`` whose reference prediction is ``t_A`` (s)::

    x      = log t_A + u · (log R_B(f, m) − log R_A(f, m))        # roofline ratio, u ∈ {0, 1}
    log t_B = x + a_g + β_g · (x − c)                              # per-group correction in log space

``R_A``/``R_B`` are device rooflines (``c_f`` s/FLOP, ``c_b`` s/byte, ``t0`` s per call) fitted to the
reference predictions and to the measurements of the same probe layers; ``u`` is 1 when the ratio lowered
the held-out probe error. The group ``g`` is the layer's ``kind/operation`` when it had probes, else its kind,
else ``*`` (all probes); ``(a_g, β_g)`` are shrunk toward the coarser group's (ridge with a pseudo-count
prior), so an operation with few probes gets nearly its kind's correction. ``c`` (log s) centres the slope.
Power, where the probes' power came from a sensor: ``log p_B = log p_A + d_kind`` (same shrinkage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: the group of every probe (the coarsest level)
ALL = "*"
CORRECTION_FILE = "correction.json"


def group_keys(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(kind, kind/operation) of every row, as strings."""
    kinds = frame["kind"].astype(str).to_numpy() if "kind" in frame.columns else np.full(len(frame), "")
    ops = frame["layer_type"].astype(str).to_numpy() if "layer_type" in frame.columns else kinds
    return kinds, np.array([f"{k}/{o}" for k, o in zip(kinds, ops, strict=True)], dtype=object)


def _log_roofline(frame: pd.DataFrame, roofline: tuple[float, ...]) -> np.ndarray:
    from layerpower.predictors.features import source_column
    from layerpower.predictors.roofline import roofline_time

    flops = np.nan_to_num(source_column(frame, "flops"), nan=0.0)
    moved = np.nan_to_num(source_column(frame, "bytes_moved"), nan=0.0)
    return np.log(roofline_time(flops, moved, roofline))  # type: ignore[arg-type]


@dataclass(frozen=True)
class DeviceCorrection:
    """Coefficients of the correction (see the module docstring); units: log seconds, log watts.

    ``groups``: group -> ``[a, beta, probes]``; ``power``: group (kind or ``*``) -> ``[d, probes]`` (empty:
    power not corrected). ``reference_roofline``/``device_roofline``: (c_f s/FLOP, c_b s/byte, t0 s).
    """

    reference_device: str
    device_id: str
    groups: dict[str, list[float]]
    center: float = 0.0
    use_roofline: bool = False
    reference_roofline: tuple[float, ...] = ()
    device_roofline: tuple[float, ...] = ()
    power: dict[str, list[float]] = field(default_factory=dict)

    def base(self, frame: pd.DataFrame, reference_s: np.ndarray) -> np.ndarray:
        """``x``: log of the reference prediction, times the roofline ratio where used (log s)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.log(np.asarray(reference_s, dtype=np.float64))
        if self.use_roofline and self.reference_roofline and self.device_roofline:
            x = x + _log_roofline(frame, self.device_roofline) - _log_roofline(frame, self.reference_roofline)
        return x

    def coefficients(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Per row (a, beta) of its finest group with probes."""
        kinds, ops = group_keys(frame)
        a = np.zeros(len(frame))
        beta = np.zeros(len(frame))
        fallback = self.groups.get(ALL, [0.0, 0.0, 0])
        for i, (kind, op) in enumerate(zip(kinds, ops, strict=True)):
            coef = self.groups.get(op) or self.groups.get(kind) or fallback
            a[i], beta[i] = coef[0], coef[1]
        return a, beta

    def runtime(self, frame: pd.DataFrame, reference_s: np.ndarray) -> np.ndarray:
        """This device's runtime (s) of ``frame``'s layers from the reference predictions (NaN stays NaN)."""
        x = self.base(frame, reference_s)
        a, beta = self.coefficients(frame)
        return np.exp(x + a + beta * (x - self.center))

    def power_w(self, frame: pd.DataFrame, reference_w: np.ndarray) -> np.ndarray:
        """This device's power (W); the reference prediction unchanged when power is not corrected."""
        p = np.asarray(reference_w, dtype=np.float64)
        if not self.power:
            return p
        kinds, _ = group_keys(frame)
        fallback = self.power.get(ALL, [0.0, 0])[0]
        d = np.array([(self.power.get(k) or [fallback])[0] for k in kinds], dtype=np.float64)
        return p * np.exp(d)

    def to_dict(self) -> dict[str, Any]:
        return {
            "formula": "log t_B = x + a_g + beta_g*(x - center); x = log t_A [+ log R_B - log R_A]",
            "reference_device": self.reference_device,
            "device_id": self.device_id,
            "groups": {k: [float(v[0]), float(v[1]), int(v[2])] for k, v in sorted(self.groups.items())},
            "center": float(self.center),
            "use_roofline": bool(self.use_roofline),
            "reference_roofline": [float(v) for v in self.reference_roofline],
            "device_roofline": [float(v) for v in self.device_roofline],
            "power": {k: [float(v[0]), int(v[1])] for k, v in sorted(self.power.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceCorrection:
        return cls(
            reference_device=str(data["reference_device"]),
            device_id=str(data["device_id"]),
            groups={str(k): [float(v[0]), float(v[1]), int(v[2])] for k, v in data["groups"].items()},
            center=float(data.get("center", 0.0)),
            use_roofline=bool(data.get("use_roofline", False)),
            reference_roofline=tuple(float(v) for v in data.get("reference_roofline", [])),
            device_roofline=tuple(float(v) for v in data.get("device_roofline", [])),
            power={str(k): [float(v[0]), int(v[1])] for k, v in (data.get("power") or {}).items()},
        )


# ---------------------------------------------------------------------------------------------- fitting


def _ridge(
    r: np.ndarray, z: np.ndarray, prior: tuple[float, float], strength: float, z_scale: float
) -> tuple[float, float]:
    """(a, beta) minimising Σ(r − a − beta·z)² + strength·((a − a0)² + z_scale²·(beta − b0)²)."""
    a0, b0 = prior
    design = np.column_stack([np.ones(len(r)), z])
    penalty = np.sqrt(strength) * np.diag([1.0, z_scale])
    rows = np.vstack([design, penalty])
    target = np.concatenate([r, penalty @ np.array([a0, b0])])
    solution, *_ = np.linalg.lstsq(rows, target, rcond=None)
    return float(solution[0]), float(solution[1])


def fit_groups(
    frame: pd.DataFrame,
    x: np.ndarray,
    measured_s: np.ndarray,
    shrinkage: float = 8.0,
    slope: bool = True,
) -> tuple[dict[str, list[float]], float]:
    """Per group (``*``, kind, kind/op) the shrunk (a, beta, probes) and the centre ``c`` (log s).

    ``shrinkage`` is the prior's weight in probes: a group with ``n`` probes moves ``n/(n+shrinkage)`` of
    the way from its parent's coefficients to its own least-squares fit.
    """
    y = np.log(np.asarray(measured_s, dtype=np.float64))
    ok = np.isfinite(x) & np.isfinite(y)
    kinds, ops = group_keys(frame)
    x, y, kinds, ops = x[ok], y[ok], kinds[ok], ops[ok]
    if len(y) == 0:
        return {ALL: [0.0, 0.0, 0]}, 0.0
    center = float(np.median(x))
    z = x - center
    r = y - x
    z_scale = float(np.std(z)) or 1.0
    # the slope is held near 0 unless many probes ask for it (a device shift is mostly a factor)
    slope_strength = 1.0 if slope else 1e9
    groups: dict[str, list[float]] = {}

    def fit(mask: np.ndarray, prior: tuple[float, float], strength: float) -> list[float]:
        a, b = _ridge(r[mask], z[mask], prior, strength, z_scale * np.sqrt(slope_strength))
        return [a, b, int(mask.sum())]

    groups[ALL] = fit(np.ones(len(r), dtype=bool), (float(np.median(r)), 0.0), 1.0)
    for kind in sorted(set(kinds.tolist())):
        kmask = kinds == kind
        groups[kind] = fit(kmask, (groups[ALL][0], groups[ALL][1]), shrinkage)
        for op in sorted(set(ops[kmask].tolist())):
            groups[op] = fit(ops == op, (groups[kind][0], groups[kind][1]), shrinkage)
    return groups, center


def fit_power(
    frame: pd.DataFrame, reference_w: np.ndarray, measured_w: np.ndarray, shrinkage: float = 8.0
) -> dict[str, list[float]]:
    """Per kind (and ``*``) the shrunk mean log-ratio ``d`` of measured to reference power, with counts."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(np.asarray(measured_w, dtype=np.float64) / np.asarray(reference_w, dtype=np.float64))
    kinds, _ = group_keys(frame)
    ok = np.isfinite(r)
    r, kinds = r[ok], kinds[ok]
    if len(r) == 0:
        return {}
    overall = float(np.median(r))
    out: dict[str, list[float]] = {ALL: [overall, int(len(r))]}
    for kind in sorted(set(kinds.tolist())):
        part = r[kinds == kind]
        out[kind] = [(part.sum() + shrinkage * overall) / (len(part) + shrinkage), int(len(part))]
    return out
