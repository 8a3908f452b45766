"""One experiment run's configuration, a sweep of runs, and the names of a run's result folder.

A run lives in ``<out>/<seed>/<timestamp>_<backend>_<model>_<complexity>_<precision>_<seed>/``, the backend
x precision study's own layout: the timestamp is ``YYYYmmdd-HHMMSS``, the first four fields never contain
``_`` (backends are ``tf-keras``) and the precision is the rest up to the last ``_`` (``mixed_fp16``), as
the study splits it (``split("_", 4)`` then ``rsplit("_", 1)``). :func:`match_run_name` also reads this
package's older names (``YYYYmmddTHHMMSS``, ``mixed-fp16``) and the study's older
``<timestamp>_<backend>_<model>_<complexity>`` (precision fp32, seed from the parent ``<seed>/`` folder).

Each field is declared once: :class:`RunSettings` holds how runs train and measure, :class:`RunConfig` adds
the five fields that name a run, and :class:`SweepSpec` the axes of a sweep with the settings of all its
runs. This module imports only :mod:`layerpower.config`, :mod:`layerpower.errors` and the experiment spec
modules, so :mod:`layerpower.stats` may read run folders through it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from layerpower.config.vocab import LEGACY_TIMESTAMP_FORMAT, TIMESTAMP_FORMAT
from layerpower.errors import LayerpowerError
from layerpower.experiments.backends import BACKENDS
from layerpower.experiments.precision import canonical_precision, normalise_precision
from layerpower.experiments.tasks import COMPLEXITIES, MODELS

CONFIG_SCHEMA_VERSION = 1
RUN_NAME_FIELDS: tuple[str, ...] = ("timestamp", "backend", "model", "complexity", "precision", "seed")
#: the fields of a run folder name that identify the run (all but the timestamp)
RUN_KEY_FIELDS: tuple[str, ...] = RUN_NAME_FIELDS[1:]

_FIELD = r"[A-Za-z0-9.+-]+"
#: a run folder name: ``YYYYmmdd-HHMMSS`` (or the older ``YYYYmmddTHHMMSS``), three ``_``-free fields, then
#: either ``<precision>_<seed>`` (the precision may hold ``_``) or nothing (the study's older 4-field names)
RUN_NAME_RE = re.compile(
    rf"^(?P<timestamp>\d{{8}}[-T]\d{{6}})_(?P<backend>{_FIELD})_(?P<model>{_FIELD})_(?P<complexity>{_FIELD})"
    rf"(?:_(?P<precision>{_FIELD}(?:_{_FIELD})*?)_(?P<seed>-?\d+))?$"
)
#: the precision of a 4-field run name (the study's runs before it varied precision)
DEFAULT_PRECISION = "fp32"


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """How a run trains and measures: every field of :class:`RunConfig` but the five that name the run."""

    epochs: int = 5
    batch_size: int = 32
    dataset: str = "auto"  # digits | mnist | cifar10 | sequence (lstm) | auto: detected in data_dir
    data_dir: str | None = None
    limit: int | None = None  # at most this many training samples (quick checks)
    learning_rate: float = 1e-3
    sample_interval_s: float = 0.1
    power_source: str | None = "auto"  # auto (or None) | nvml | rapl | jetson | estimate
    tdp_w: float | None = None  # for the estimate only
    threads: int | None = None  # CPU threads per library (None: each library's default)

    def _check_settings(self) -> None:
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) <= 0:
                raise LayerpowerError(f"{name} must be a positive integer, got {getattr(self, name)}")
        for name in ("limit", "threads"):
            value = getattr(self, name)
            if value is not None and int(value) <= 0:
                raise LayerpowerError(f"{name} must be a positive integer, got {value}")


@dataclass(frozen=True)
class RunConfig(RunSettings):
    """Everything that defines one run. Two runs with equal configs are the same run (``--resume``).

    ``RunConfig(backend, model, complexity, precision, seed, *, <RunSettings fields>)``.
    """

    backend: str
    model: str
    complexity: str
    precision: str
    seed: int

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
        if self.power_source is None:
            object.__setattr__(self, "power_source", "auto")
        if self.model == "lstm":  # the sequence task is generated: no image data
            object.__setattr__(self, "dataset", "sequence")
            object.__setattr__(self, "data_dir", None)
        elif self.dataset in ("auto", "", None) and not self.data_dir:
            object.__setattr__(self, "dataset", "digits")
        self._check_settings()

    @classmethod
    def from_settings(cls, settings: RunSettings, **names: Any) -> RunConfig:
        """The run named by ``names`` (backend, model, complexity, precision, seed) with ``settings``."""
        return cls(**names, **_settings_dict(settings))

    def to_dict(self) -> dict[str, Any]:
        """The config as a plain dict (the keys of ``config.json`` that identify the run)."""
        return {**{name: getattr(self, name) for name in RUN_KEY_FIELDS}, **_settings_dict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Rebuild a config from :meth:`to_dict` output (extra keys such as ``run_name`` are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        missing = set(RUN_KEY_FIELDS) - set(data)
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


def _settings_dict(settings: RunSettings) -> dict[str, Any]:
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(RunSettings)}


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: every backend x model x complexity x precision x seed, all runs with the same ``settings``."""

    backends: Sequence[str] = tuple(BACKENDS)
    models: Sequence[str] = MODELS
    complexities: Sequence[str] = ("simple",)
    precisions: Sequence[str] = ("fp32",)
    seeds: Sequence[int] = (42,)
    settings: RunSettings = field(default_factory=RunSettings)

    @classmethod
    def build(cls, *axes: Sequence[Any], **fields: Any) -> SweepSpec:
        """A spec from the axes (positionally or by name) and the :class:`RunSettings` fields by name."""
        named_axes = {name: fields.pop(name) for name in SWEEP_AXES if name in fields}
        return cls(*axes, **named_axes, settings=RunSettings(**fields))


#: the axes of a sweep, in the order :class:`SweepSpec` takes them
SWEEP_AXES: tuple[str, ...] = ("backends", "models", "complexities", "precisions", "seeds")


def match_run_name(name: str) -> dict[str, Any] | None:
    """The fields of a run folder name, or ``None`` if ``name`` is not one.

    ``timestamp`` is the text (see :func:`timestamp_format`), ``precision`` normalised (``mixed-fp16`` -> ``mixed_fp16``; ``fp32`` for a 4-field name), ``seed`` an int
    (``None`` for a 4-field name: the caller takes it from the parent folder).
    """
    match = RUN_NAME_RE.match(name)
    if match is None:
        return None
    fields: dict[str, Any] = match.groupdict()
    fields["precision"] = normalise_precision(fields["precision"] or DEFAULT_PRECISION)
    fields["seed"] = None if fields["seed"] is None else int(fields["seed"])
    return fields


def timestamp_format(text: str) -> str:
    """The :func:`~datetime.datetime.strptime` format of a run-name timestamp (current or older)."""
    return LEGACY_TIMESTAMP_FORMAT if "T" in text else TIMESTAMP_FORMAT


def parse_run_name(name: str) -> dict[str, Any]:
    """Split a run folder name into its fields (as :func:`match_run_name`); raise on a name that is not one."""
    fields = match_run_name(name)
    if fields is None:
        raise LayerpowerError(
            f"{name!r} is not a run folder name",
            "expected <YYYYmmdd-HHMMSS>_<backend>_<model>_<complexity>_<precision>_<seed>",
        )
    return fields
