"""The small base class every experiment backend implements.

A backend builds the task model from :mod:`layerpower.experiments.tasks` layers, trains it with Adam
(the same learning rate and epsilon everywhere), and evaluates it. Losses: softmax cross-entropy on logits
for classification (metric ``accuracy``), mean squared error for regression (metric ``mae``), always
computed in float32. One epoch's time covers its training pass and its validation pass.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerpower.experiments.precision import Precision
from layerpower.experiments.tasks import CLASSIFICATION, Layer

#: Adam's epsilon in every backend (Keras's default; optax and torch default to 1e-8)
ADAM_EPSILON = 1e-7


def jax_device_name() -> str:
    """JAX's first device (imports jax: call it only inside a run's process)."""
    import jax

    return str(jax.devices()[0])


def jax_peak_memory_bytes() -> int | None:
    """Peak memory in use on JAX's first device; ``None`` on the CPU or where JAX does not say."""
    import jax

    device = jax.devices()[0]
    if device.platform == "cpu":
        return None
    peak = (device.memory_stats() or {}).get("peak_bytes_in_use")
    return int(peak) if peak is not None else None


def metric_name(problem: str) -> str:
    """``accuracy`` for classification, ``mae`` for regression."""
    return "accuracy" if problem == CLASSIFICATION else "mae"


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: mean training loss and metric over its batches, validation loss and metric, seconds."""

    epoch: int
    loss: float
    metric: float
    val_loss: float
    val_metric: float
    epoch_time: float


class Backend(abc.ABC):
    """One deep-learning stack. Instances live in a run's subprocess only."""

    name: ClassVar[str] = ""

    def __init__(self, precision: Precision) -> None:
        self.precision = precision

    @abc.abstractmethod
    def set_seed(self, seed: int) -> None:
        """Seed every random generator the stack uses (python ``random`` and numpy are seeded by the run)."""

    @abc.abstractmethod
    def build(self, layers: tuple[Layer, ...], input_shape: tuple[int, ...], problem: str) -> None:
        """Build the model for channels-last inputs of ``input_shape`` (without batch)."""

    @abc.abstractmethod
    def parameter_count(self) -> int:
        """Trainable parameters of the built model."""

    def count_parameters(self, layers: tuple[Layer, ...], input_shape: tuple[int, ...], problem: str) -> int:
        """Trainable parameters the model for ``layers`` would have (default: build it and count)."""
        self.build(layers, input_shape, problem)
        return self.parameter_count()

    @abc.abstractmethod
    def train(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_val: np.ndarray,
        y_val: np.ndarray,
        *,
        epochs: int,
        batch_size: int,
        learning_rate: float,
        seed: int,
    ) -> list[EpochRecord]:
        """Train for ``epochs`` epochs (shuffled each epoch) and return one record per epoch."""

    @abc.abstractmethod
    def evaluate(self, x: np.ndarray, y: np.ndarray, *, batch_size: int) -> tuple[float, float]:
        """Mean loss and metric over ``x``/``y`` (inference only)."""

    def device(self) -> str:
        """Where the model runs, e.g. ``cpu`` or ``cuda:0``."""
        return "cpu"

    def peak_accelerator_memory_bytes(self) -> int | None:
        """Peak accelerator memory the stack allocated, in bytes (``None`` on CPU or where unknown)."""
        return None

    def versions(self) -> dict[str, str]:
        """Versions of the libraries this backend uses."""
        return {}


def batches(n: int, batch_size: int, order: np.ndarray | None = None) -> list[np.ndarray]:
    """Index arrays of consecutive batches over ``n`` samples (in ``order`` when given); the last may be short."""
    index = np.arange(n) if order is None else order
    return [index[i : i + batch_size] for i in range(0, n, batch_size)]
