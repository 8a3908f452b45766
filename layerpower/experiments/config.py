"""One experiment run's configuration, and the names of its result folder.

A run lives in ``<out>/<seed>/<timestamp>_<backend>_<model>_<complexity>_<precision>_<seed>/``. Field
values never contain ``_`` (backends are ``tf-keras``, precisions ``mixed-fp16``; the timestamp is
``YYYYmmddTHHMMSS``), so :func:`parse_run_name` can split a folder name on ``_``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from layerpower.errors import LayerpowerError
from layerpower.experiments.backends import BACKENDS
from layerpower.experiments.precision import canonical_precision
from layerpower.experiments.tasks import COMPLEXITIES, MODELS

CONFIG_SCHEMA_VERSION = 1
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S"
RUN_NAME_FIELDS: tuple[str, ...] = ("timestamp", "backend", "model", "complexity", "precision", "seed")
_TIMESTAMP_RE = re.compile(r"^\d{8}T\d{6}$")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one run. Two runs with equal configs are the same run (``--resume``)."""

    backend: str
    model: str
    complexity: str
    precision: str
    seed: int
    epochs: int = 5
    batch_size: int = 32
    dataset: str = "auto"  # digits | mnist | cifar10 | sequence (lstm) | auto: detected in data_dir
    data_dir: str | None = None
    limit: int | None = None  # at most this many training samples (quick checks)
    learning_rate: float = 1e-3
    sample_interval_s: float = 0.1
    power_source: str = "auto"  # auto | nvml | rapl | jetson | estimate
    tdp_w: float | None = None  # for the estimate only
    threads: int | None = None  # CPU threads per library (None: each library's default)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise LayerpowerError(f"unknown backend {self.backend!r}", f"choose from {', '.join(BACKENDS)}")
        if self.model not in MODELS:
            raise LayerpowerError(f"unknown model {self.model!r}", f"choose from {', '.join(MODELS)}")
        if self.complexity not in COMPLEXITIES:
            raise LayerpowerError(
                f"unknown complexity {self.complexity!r}", f"choose from {', '.join(COMPLEXITIES)}"
            )
        object.__setattr__(self, "precision", canonical_precision(self.precision))
        if self.model == "lstm":  # the sequence task is generated: no image data
            object.__setattr__(self, "dataset", "sequence")
            object.__setattr__(self, "data_dir", None)
        elif self.dataset in ("auto", "", None) and not self.data_dir:
            object.__setattr__(self, "dataset", "digits")
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) <= 0:
                raise LayerpowerError(f"{name} must be a positive integer, got {getattr(self, name)}")
        for name in ("limit", "threads"):
            value = getattr(self, name)
            if value is not None and int(value) <= 0:
                raise LayerpowerError(f"{name} must be a positive integer, got {value}")

    def to_dict(self) -> dict[str, Any]:
        """The config as a plain dict (the keys of ``config.json`` that identify the run)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Rebuild a config from :meth:`to_dict` output (extra keys such as ``run_name`` are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        missing = {"backend", "model", "complexity", "precision", "seed"} - set(data)
        if missing:
            raise LayerpowerError(f"run config lacks {', '.join(sorted(missing))}")
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def stem(self) -> str:
        """``<backend>_<model>_<complexity>_<precision>_<seed>``: the run folder name without timestamp."""
        return f"{self.backend}_{self.model}_{self.complexity}_{self.precision}_{self.seed}"

    def run_name(self, when: datetime | None = None) -> str:
        """The run folder name for a run started at ``when`` (default: now)."""
        return f"{(when or datetime.now()).strftime(TIMESTAMP_FORMAT)}_{self.stem}"

    def run_dir(self, out: str | Path, when: datetime | None = None) -> Path:
        """``<out>/<seed>/<run name>``."""
        return Path(out) / str(self.seed) / self.run_name(when)


def parse_run_name(name: str) -> dict[str, Any]:
    """Split a run folder name into its fields (``seed`` as int); raise on a name that is not one."""
    parts = name.split("_")
    if (
        len(parts) != len(RUN_NAME_FIELDS)
        or not _TIMESTAMP_RE.match(parts[0])
        or not parts[-1].lstrip("-").isdigit()
    ):
        raise LayerpowerError(
            f"{name!r} is not a run folder name",
            "expected <timestamp>_<backend>_<model>_<complexity>_<precision>_<seed>",
        )
    fields: dict[str, Any] = dict(zip(RUN_NAME_FIELDS, parts, strict=True))
    fields["seed"] = int(fields["seed"])
    return fields
