"""Keras 3 backends: the same Keras code on TensorFlow, JAX or PyTorch.

``KERAS_BACKEND`` is set before Keras is first imported (each run has its own process, so a process never
holds two Keras backends). Precisions map to Keras dtype policies: ``float32``, ``float16``, ``bfloat16``,
``mixed_float16`` (with :class:`keras.optimizers.LossScaleOptimizer`) and ``mixed_bfloat16``. A final
float32 ``linear`` activation makes the loss float32 under every policy (as the Keras mixed-precision
guide advises); it has no parameters. The LSTM's orthogonal recurrent initializer runs in float32 and is
cast (no half-precision QR decomposition exists in TensorFlow or JAX).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, ClassVar

import numpy as np

from layerpower.config.vocab import PrecisionName
from layerpower.experiments.backends.base import (
    ADAM_EPSILON,
    Backend,
    EpochRecord,
    jax_device_name,
    jax_peak_memory_bytes,
)
from layerpower.experiments.tasks import CLASSIFICATION, Layer

#: the Keras dtype policy of each precision (:data:`layerpower.config.vocab.PRECISIONS`)
_POLICIES: dict[PrecisionName, str] = {
    "fp32": "float32",
    "fp16": "float16",
    "bf16": "bfloat16",
    "mixed_fp16": "mixed_float16",
    "mixed_bf16": "mixed_bfloat16",
}


def import_keras(keras_backend: str) -> Any:
    """Import Keras on ``keras_backend``; refuse when this process already runs Keras on another one."""
    if "keras" in sys.modules:
        keras = sys.modules["keras"]
        if keras.backend.backend() != keras_backend:
            raise RuntimeError(
                f"Keras is already imported with backend {keras.backend.backend()!r} in this process; "
                f"a {keras_backend!r} run needs its own process"
            )
        return keras
    os.environ["KERAS_BACKEND"] = keras_backend
    import keras

    return keras


def float32_initializer(keras: Any, inner: Any) -> Any:
    """``inner`` computed in float32 and cast to the variable's dtype.

    Keras's orthogonal initializer (the LSTM's recurrent kernel) needs a QR decomposition, which
    TensorFlow and JAX have for no half type (TensorFlow: none for bfloat16).
    """

    class Float32Initializer(keras.initializers.Initializer):
        def __call__(self, shape: Any, dtype: Any = None) -> Any:
            return keras.ops.cast(inner(shape, dtype="float32"), dtype or "float32")

        def get_config(self) -> dict[str, Any]:
            return {}

    return Float32Initializer()


def build_keras_model(keras: Any, layers: tuple[Layer, ...], input_shape: tuple[int, ...]) -> Any:
    """A ``keras.Sequential`` for ``layers`` (under the current global dtype policy)."""
    model_layers: list[Any] = [keras.Input(shape=input_shape)]
    for layer in layers:
        if layer.kind == "dense":
            model_layers.append(keras.layers.Dense(layer.units, activation=layer.activation))
        elif layer.kind == "conv2d":
            model_layers.append(
                keras.layers.Conv2D(layer.units, layer.kernel, padding="same", activation=layer.activation)
            )
        elif layer.kind == "maxpool2d":
            model_layers.append(keras.layers.MaxPooling2D(2))
        elif layer.kind == "flatten":
            model_layers.append(keras.layers.Flatten())
        elif layer.kind == "dropout":
            model_layers.append(keras.layers.Dropout(layer.rate))
        elif layer.kind == "lstm":
            model_layers.append(
                keras.layers.LSTM(
                    layer.units,
                    return_sequences=layer.return_sequences,
                    recurrent_initializer=float32_initializer(keras, keras.initializers.Orthogonal()),
                )
            )
        else:
            raise ValueError(f"unknown layer kind {layer.kind!r}")
    model_layers.append(keras.layers.Activation("linear", dtype="float32"))
    return keras.Sequential(model_layers)


class KerasBackend(Backend):
    """Keras 3 on :attr:`keras_backend`."""

    keras_backend: ClassVar[str] = ""

    def __init__(self, precision: Any) -> None:
        super().__init__(precision)
        self.keras = import_keras(self.keras_backend)
        self.keras.mixed_precision.set_global_policy(_POLICIES[precision.name])

    def set_seed(self, seed: int) -> None:
        # seeds python random, numpy and the backend's generator (tf.random.set_seed on TensorFlow,
        # torch.manual_seed on PyTorch, Keras's seed generator on JAX)
        self.keras.utils.set_random_seed(seed)

    def build(self, layers: tuple[Layer, ...], input_shape: tuple[int, ...], problem: str) -> None:
        self.problem = problem
        self.model = build_keras_model(self.keras, layers, input_shape)

    def parameter_count(self) -> int:
        return int(sum(int(np.prod(w.shape)) for w in self.model.trainable_weights))

    def _compile(self, learning_rate: float) -> None:
        keras = self.keras
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate, epsilon=ADAM_EPSILON)
        if self.precision.loss_scaling:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        if self.problem == CLASSIFICATION:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            metric = keras.metrics.SparseCategoricalAccuracy(name="metric")
        else:
            loss = keras.losses.MeanSquaredError()
            metric = keras.metrics.MeanAbsoluteError(name="metric")
        self.model.compile(optimizer=optimizer, loss=loss, metrics=[metric], auto_scale_loss=False)

    def train(self, x, y, x_val, y_val, *, epochs, batch_size, learning_rate, seed) -> list[EpochRecord]:  # type: ignore[override]
        self._compile(learning_rate)
        timer = _EpochTimer(self.keras)
        history = self.model.fit(
            x,
            y,
            batch_size=batch_size,
            epochs=epochs,
            validation_data=(x_val, y_val),
            shuffle=True,
            verbose=0,
            callbacks=[timer.callback],
        )
        h = history.history
        return [
            EpochRecord(
                i + 1, h["loss"][i], h["metric"][i], h["val_loss"][i], h["val_metric"][i], timer.times[i]
            )
            for i in range(len(h["loss"]))
        ]

    def evaluate(self, x: np.ndarray, y: np.ndarray, *, batch_size: int) -> tuple[float, float]:
        result = self.model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
        return float(result["loss"]), float(result["metric"])

    def versions(self) -> dict[str, str]:
        return {"keras": self.keras.__version__}


class _EpochTimer:
    """Times every epoch (training and validation pass) with ``time.perf_counter``."""

    def __init__(self, keras: Any) -> None:
        self.times: list[float] = []
        timer = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                timer._start = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                timer.times.append(time.perf_counter() - timer._start)

        self.callback = Callback()


class TensorflowKeras(KerasBackend):
    name = "tf-keras"
    keras_backend = "tensorflow"

    def device(self) -> str:
        import tensorflow as tf

        return "gpu:0" if tf.config.list_physical_devices("GPU") else "cpu"

    def peak_accelerator_memory_bytes(self) -> int | None:
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            return None
        return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])

    def versions(self) -> dict[str, str]:
        import tensorflow as tf

        return {**super().versions(), "tensorflow": tf.__version__}


class JaxKeras(KerasBackend):
    name = "jax-keras"
    keras_backend = "jax"

    def device(self) -> str:
        return jax_device_name()

    def peak_accelerator_memory_bytes(self) -> int | None:
        return jax_peak_memory_bytes()

    def versions(self) -> dict[str, str]:
        import jax

        return {**super().versions(), "jax": jax.__version__}


class TorchKeras(KerasBackend):
    name = "torch-keras"
    keras_backend = "torch"

    def device(self) -> str:
        import torch

        return "cuda:0" if torch.cuda.is_available() else "cpu"

    def peak_accelerator_memory_bytes(self) -> int | None:
        import torch

        return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None

    def versions(self) -> dict[str, str]:
        import torch

        return {**super().versions(), "torch": torch.__version__}
