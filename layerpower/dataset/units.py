"""Units of power and runtime in files written by other tools, and the ``units.json`` sidecar that names them.

Our own files carry SI units in their column names (``power_w``, ``runtime_s``). Files from other tools
often record power in µW or mW and runtime in ms or µs. The unit is taken from the column name
(``power_uw``, ``power_mw``, ``power_w``; ``runtime_us``, ``runtime_ms``, ``runtime_s``), or, for bare
``power``/``runtime`` columns, from metadata: the reader's arguments or a sidecar file ``units.json`` in the
same folder as the CSV::

    {"power": "uW", "runtime": "ms", "power_source": "jetson", "idle_subtracted": true,
     "device_id": "jetson-agx-orin", "dtype": "float16"}

Sidecar keys (all optional): ``power`` (uW|mW|W), ``runtime`` (us|ms|s), ``power_source``
(nvml|rapl|jetson|estimate), ``idle_subtracted`` (true when the power column has the idle power subtracted,
i.e. it is dynamic power), ``idle_power_w`` (the idle power in W, if known), ``device_id``, ``dtype`` and
``model`` (default: the folder name). A bare column with no unit anywhere is refused, never guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerpower.config.vocab import POWER_SOURCES
from layerpower.errors import SchemaError

SIDECAR_NAME = "units.json"

#: factor that converts a value in the unit to watts
POWER_UNITS: dict[str, float] = {"uw": 1e-6, "µw": 1e-6, "mw": 1e-3, "w": 1.0}
#: factor that converts a value in the unit to seconds
RUNTIME_UNITS: dict[str, float] = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}

#: power/runtime column names another tool may use, and the unit the name implies (None: bare, unknown)
POWER_COLUMN_UNITS: dict[str, str | None] = {
    "power": None,
    "power_uw": "uW",
    "power_mw": "mW",
    "power_w": "W",
}
RUNTIME_COLUMN_UNITS: dict[str, str | None] = {
    "runtime": None,
    "runtime_us": "us",
    "runtime_ms": "ms",
    "runtime_s": "s",
}

_SIDECAR_KEYS = (
    "power",
    "runtime",
    "power_source",
    "idle_subtracted",
    "idle_power_w",
    "device_id",
    "dtype",
    "model",
)


def power_factor(unit: str, where: str = "power unit") -> float:
    """The factor from ``unit`` (uW, mW, W; lower case accepted, but never a capital M: that is mega) to watts."""
    key = unit.strip()
    if key.lower() not in POWER_UNITS or key.startswith("M"):
        raise SchemaError(f"{where}: unknown power unit {unit!r}", "use uW, mW or W")
    return POWER_UNITS[key.lower()]


def runtime_factor(unit: str, where: str = "runtime unit") -> float:
    """The factor from ``unit`` (us, ms, s; lower case accepted, never a capital M) to seconds."""
    key = unit.strip()
    if key.lower() not in RUNTIME_UNITS or key.startswith("M"):
        raise SchemaError(f"{where}: unknown runtime unit {unit!r}", "use us, ms or s")
    return RUNTIME_UNITS[key.lower()]


@dataclass(frozen=True)
class Sidecar:
    """The contents of a ``units.json`` file (every field optional)."""

    path: Path
    power: str | None = None
    runtime: str | None = None
    power_source: str | None = None
    idle_subtracted: bool | None = None
    idle_power_w: float | None = None
    device_id: str | None = None
    dtype: str | None = None
    model: str | None = None


def read_sidecar(folder: Path) -> Sidecar | None:
    """Read and check ``folder/units.json``; None when there is none."""
    path = folder / SIDECAR_NAME
    if not path.is_file():
        return None
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SchemaError(f"{path}: expected a JSON object with keys {', '.join(_SIDECAR_KEYS)}")
    unknown = sorted(set(data) - set(_SIDECAR_KEYS))
    if unknown:
        raise SchemaError(
            f"{path}: unknown key(s) {', '.join(map(repr, unknown))}",
            f"known keys: {', '.join(_SIDECAR_KEYS)}",
        )
    if data.get("power") is not None:
        power_factor(str(data["power"]), f"{path}: key 'power'")
    if data.get("runtime") is not None:
        runtime_factor(str(data["runtime"]), f"{path}: key 'runtime'")
    source = data.get("power_source")
    if source is not None and source not in POWER_SOURCES:
        raise SchemaError(
            f"{path}: key 'power_source' is {source!r}", f"use one of {', '.join(POWER_SOURCES)}"
        )
    idle_subtracted = data.get("idle_subtracted")
    if idle_subtracted is not None and not isinstance(idle_subtracted, bool):
        raise SchemaError(f"{path}: key 'idle_subtracted' must be true or false, got {idle_subtracted!r}")
    idle_power = data.get("idle_power_w")
    if idle_power is not None and (not isinstance(idle_power, (int, float)) or idle_power < 0):
        raise SchemaError(
            f"{path}: key 'idle_power_w' must be a non-negative number of watts, got {idle_power!r}"
        )
    return Sidecar(
        path=path,
        power=data.get("power"),
        runtime=data.get("runtime"),
        power_source=source,
        idle_subtracted=idle_subtracted,
        idle_power_w=None if idle_power is None else float(idle_power),
        device_id=data.get("device_id"),
        dtype=data.get("dtype"),
        model=data.get("model"),
    )
