"""The experiment tasks (``mlp``, ``cnn``, ``lstm`` in a ``simple`` and a ``complex`` size), declared once.

Every backend builds its model from the same :class:`Layer` list, so the layers and their parameter counts
are identical across torch, JAX and Keras. Shapes are written channels-last (``(height, width, channels)``
for images, ``(time, features)`` for sequences); the torch backend transposes images at its input.

Two conventions keep the parameter counts equal everywhere:

* convolutions use ``same`` padding and stride 1; max pooling is 2x2 with stride 2 (``valid``);
* an LSTM cell has one bias vector per gate (Keras and Flax do; torch's second bias, ``bias_hh``, is held
  at zero and not trained).

:func:`parameter_count` computes the count from the spec alone; tests check each backend against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from layerpower.config.vocab import COMPLEXITIES
from layerpower.config.vocab import TASKS as MODELS
from layerpower.errors import LayerpowerError

CLASSIFICATION = "classification"
REGRESSION = "regression"


@dataclass(frozen=True)
class Layer:
    """One layer of a task model.

    ``kind`` is one of ``dense``, ``conv2d``, ``maxpool2d``, ``flatten``, ``dropout``, ``lstm``.
    ``units`` is the width (dense units, conv filters, LSTM hidden size); ``kernel`` the square conv kernel;
    ``rate`` the dropout probability; ``return_sequences`` whether an LSTM returns every step or the last.
    """

    kind: str
    units: int = 0
    kernel: int = 0
    activation: str | None = None  # "relu" or None (linear)
    rate: float = 0.0
    return_sequences: bool = False


@dataclass(frozen=True)
class TaskSpec:
    """A model and its size: the hidden layers (the output layer is added by :func:`model_layers`)."""

    model: str
    complexity: str
    problem: str  # classification | regression
    hidden: tuple[Layer, ...]


def _dense(units: int) -> Layer:
    return Layer("dense", units=units, activation="relu")


def _conv(filters: int) -> Layer:
    return Layer("conv2d", units=filters, kernel=3, activation="relu")


_POOL = Layer("maxpool2d")
_FLAT = Layer("flatten")

TASKS: dict[tuple[str, str], TaskSpec] = {
    ("mlp", "simple"): TaskSpec("mlp", "simple", CLASSIFICATION, (_FLAT, _dense(64))),
    ("mlp", "complex"): TaskSpec(
        "mlp",
        "complex",
        CLASSIFICATION,
        (_FLAT, _dense(256), Layer("dropout", rate=0.2), _dense(128), Layer("dropout", rate=0.2), _dense(64)),
    ),
    ("cnn", "simple"): TaskSpec("cnn", "simple", CLASSIFICATION, (_conv(16), _POOL, _FLAT, _dense(32))),
    ("cnn", "complex"): TaskSpec(
        "cnn",
        "complex",
        CLASSIFICATION,
        (
            _conv(32),
            _conv(32),
            _POOL,
            _conv(64),
            _conv(64),
            _POOL,
            _FLAT,
            _dense(128),
            Layer("dropout", rate=0.3),
        ),
    ),
    ("lstm", "simple"): TaskSpec("lstm", "simple", REGRESSION, (Layer("lstm", units=32),)),
    ("lstm", "complex"): TaskSpec(
        "lstm",
        "complex",
        REGRESSION,
        (Layer("lstm", units=64, return_sequences=True), Layer("lstm", units=64), _dense(32)),
    ),
}


def get_task(model: str, complexity: str) -> TaskSpec:
    """The task for ``model`` (mlp, cnn, lstm) and ``complexity`` (simple, complex)."""
    try:
        return TASKS[(model, complexity)]
    except KeyError:
        raise LayerpowerError(
            f"unknown task {model!r}/{complexity!r}",
            f"models are {', '.join(MODELS)}; complexities are {', '.join(COMPLEXITIES)}",
        ) from None


def model_layers(task: TaskSpec, n_outputs: int) -> tuple[Layer, ...]:
    """The full layer list: the hidden layers and a linear output layer of ``n_outputs`` units.

    The output is logits for classification and the prediction itself for regression.
    """
    return (*task.hidden, Layer("dense", units=n_outputs))


def output_shape(layer: Layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape (without batch) that ``layer`` produces from an input of ``shape`` (channels-last)."""
    kind = layer.kind
    if kind == "dense":
        return (*shape[:-1], layer.units)
    if kind == "conv2d":
        return (shape[0], shape[1], layer.units)
    if kind == "maxpool2d":
        return (shape[0] // 2, shape[1] // 2, shape[2])
    if kind == "flatten":
        return (math.prod(shape),)
    if kind == "dropout":
        return shape
    if kind == "lstm":
        return (shape[0], layer.units) if layer.return_sequences else (layer.units,)
    raise LayerpowerError(f"unknown layer kind {kind!r}")


def layer_parameters(layer: Layer, shape: tuple[int, ...]) -> int:
    """Trainable parameters of ``layer`` for an input of ``shape`` (without batch)."""
    if layer.kind == "dense":
        return shape[-1] * layer.units + layer.units
    if layer.kind == "conv2d":
        return layer.kernel * layer.kernel * shape[-1] * layer.units + layer.units
    if layer.kind == "lstm":
        hidden = layer.units
        return 4 * hidden * (shape[-1] + hidden) + 4 * hidden
    return 0


def layer_shapes(layers: tuple[Layer, ...], input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The input shape of every layer (without batch), in order, followed by the final output shape."""
    shapes = [tuple(input_shape)]
    for layer in layers:
        shapes.append(output_shape(layer, shapes[-1]))
    return shapes


def parameter_count(task: TaskSpec, input_shape: tuple[int, ...], n_outputs: int) -> int:
    """Trainable parameters of the task model for inputs of ``input_shape`` and ``n_outputs`` outputs."""
    layers = model_layers(task, n_outputs)
    shapes = layer_shapes(layers, input_shape)
    return sum(layer_parameters(layer, shape) for layer, shape in zip(layers, shapes, strict=False))
