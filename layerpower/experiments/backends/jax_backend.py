"""JAX backend: Flax (linen) modules, optax Adam, one jitted training step.

Precisions: every Flax layer gets ``dtype`` (computation) and ``param_dtype`` (parameters) from the
precision, and inputs are cast to the computation dtype; so ``fp16``/``bf16`` hold half-precision
parameters and ``mixed_*`` hold float32 parameters. Parameters are initialised in float32 and cast. ``mixed_fp16`` adds a dynamic loss scale (start 2**15,
halved and the step skipped when a gradient is not finite, doubled after 2000 finite steps), as
Keras's ``LossScaleOptimizer`` and torch's ``GradScaler`` do.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from layerpower.experiments.backends.base import (
    ADAM_EPSILON,
    Backend,
    EpochRecord,
    batches,
    jax_device_name,
    jax_peak_memory_bytes,
)
from layerpower.experiments.tasks import CLASSIFICATION, Layer

_DTYPES = {"float32": jnp.float32, "float16": jnp.float16, "bfloat16": jnp.bfloat16}
_INITIAL_SCALE = 2.0**15
_GROWTH_INTERVAL = 2000


class SpecModel(nn.Module):
    """A Flax module built from a task's layer list (channels-last inputs)."""

    layers: tuple[Layer, ...]
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = x.astype(self.dtype)
        for layer in self.layers:
            if layer.kind == "dense":
                x = nn.Dense(layer.units, dtype=self.dtype, param_dtype=self.param_dtype)(x)
            elif layer.kind == "conv2d":
                kernel = (layer.kernel, layer.kernel)
                x = nn.Conv(
                    layer.units, kernel, padding="SAME", dtype=self.dtype, param_dtype=self.param_dtype
                )(x)
            elif layer.kind == "maxpool2d":
                x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")
            elif layer.kind == "flatten":
                x = x.reshape((x.shape[0], -1))
            elif layer.kind == "dropout":
                x = nn.Dropout(layer.rate, deterministic=not train)(x)
            elif layer.kind == "lstm":
                cell = nn.OptimizedLSTMCell(layer.units, dtype=self.dtype, param_dtype=self.param_dtype)
                x = nn.RNN(cell)(x)
                if not layer.return_sequences:
                    x = x[:, -1]
            else:
                raise ValueError(f"unknown layer kind {layer.kind!r}")
            if layer.activation == "relu":
                x = nn.relu(x)
        return x


class JaxBackend(Backend):
    """Flax + optax on JAX's default device."""

    name = "jax"

    def __init__(self, precision: Any) -> None:
        super().__init__(precision)
        self._dtype = _DTYPES[precision.compute_dtype]
        self._param_dtype = _DTYPES[precision.param_dtype]
        self.key = jax.random.PRNGKey(0)

    def set_seed(self, seed: int) -> None:
        self.key = jax.random.PRNGKey(seed)

    def build(self, layers: tuple[Layer, ...], input_shape: tuple[int, ...], problem: str) -> None:
        self.problem = problem
        self.module = SpecModel(layers, dtype=self._dtype, param_dtype=self._param_dtype)
        # initialised in float32 (the same weights for every precision, and the orthogonal LSTM initializer
        # needs a QR decomposition, which LAPACK has for no half type), then cast to the parameter dtype
        init_module = SpecModel(layers, dtype=jnp.float32, param_dtype=jnp.float32)
        self.key, init_key = jax.random.split(self.key)
        dummy = jnp.zeros((1, *input_shape), jnp.float32)
        params = jax.jit(partial(init_module.init, train=False))({"params": init_key}, dummy)["params"]
        self.params = jax.tree_util.tree_map(lambda p: p.astype(self._param_dtype), params)

    def parameter_count(self) -> int:
        return int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(self.params)))

    def count_parameters(self, layers: tuple[Layer, ...], input_shape: tuple[int, ...], problem: str) -> int:
        # the parameter shapes by abstract evaluation of the same init: no compilation, no weights
        module = SpecModel(layers, dtype=self._dtype, param_dtype=self._param_dtype)
        dummy = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
        shapes = jax.eval_shape(partial(module.init, train=False), {"params": jax.random.PRNGKey(0)}, dummy)
        return int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(shapes["params"])))

    # -- loss and steps ----------------------------------------------------------------------------------

    def _loss_metric(
        self, params: Any, x: jax.Array, y: jax.Array, train: bool, key: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """Mean loss (float32) and the batch's metric sum."""
        out = self.module.apply({"params": params}, x, train=train, rngs={"dropout": key}).astype(jnp.float32)
        if self.problem == CLASSIFICATION:
            loss = optax.softmax_cross_entropy_with_integer_labels(out, y).mean()
            return loss, (out.argmax(-1) == y).sum()
        return jnp.mean((out - y) ** 2), jnp.abs(out - y).sum()

    @partial(jax.jit, static_argnums=0)
    def _train_step(
        self, state: dict[str, Any], x: jax.Array, y: jax.Array, key: jax.Array
    ) -> tuple[dict[str, Any], jax.Array, jax.Array]:
        scale = state["scale"]

        def scaled_loss(params: Any) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
            loss, metric = self._loss_metric(params, x, y, True, key)
            return loss * scale.astype(jnp.float32), (loss, metric)

        grads, (loss, metric) = jax.grad(scaled_loss, has_aux=True)(state["params"])
        grads = jax.tree_util.tree_map(lambda g: (g.astype(jnp.float32) / scale).astype(g.dtype), grads)
        updates, opt_state = self.optimizer.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        if self.precision.loss_scaling:
            finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)]))
            keep = partial(jax.tree_util.tree_map, lambda new, old: jnp.where(finite, new, old))
            params, opt_state = keep(params, state["params"]), keep(opt_state, state["opt_state"])
            good = jnp.where(finite, state["good_steps"] + 1, 0)
            grow = good >= _GROWTH_INTERVAL
            scale = jnp.where(finite, jnp.where(grow, scale * 2, scale), jnp.maximum(scale / 2, 1.0))
            good = jnp.where(grow, 0, good)
        else:
            good = state["good_steps"]
        return {"params": params, "opt_state": opt_state, "scale": scale, "good_steps": good}, loss, metric

    @partial(jax.jit, static_argnums=0)
    def _eval_step(self, params: Any, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self._loss_metric(params, x, y, False, jax.random.PRNGKey(0))

    def _mean(self, loss_sum: float, metric_sum: float, y: np.ndarray) -> tuple[float, float]:
        n = len(y)
        per_output = n if self.problem == CLASSIFICATION else y.size
        return loss_sum / n, metric_sum / per_output

    def _pass(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[float, float]:
        loss_sum = metric_sum = 0.0
        for index in batches(len(x), batch_size):
            loss, metric = self._eval_step(self.params, x[index], y[index])
            loss_sum += float(loss) * len(index)
            metric_sum += float(metric)
        return self._mean(loss_sum, metric_sum, y)

    # -- training and inference -------------------------------------------------------------------------

    def train(self, x, y, x_val, y_val, *, epochs, batch_size, learning_rate, seed) -> list[EpochRecord]:  # type: ignore[override]
        self.optimizer = optax.adam(learning_rate, eps=ADAM_EPSILON)
        scale = _INITIAL_SCALE if self.precision.loss_scaling else 1.0
        state = {
            "params": self.params,
            "opt_state": self.optimizer.init(self.params),
            "scale": jnp.asarray(scale, jnp.float32),
            "good_steps": jnp.asarray(0, jnp.int32),
        }
        rng = np.random.default_rng(seed)
        records = []
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            losses, metrics = [], []
            for index in batches(len(x), batch_size, rng.permutation(len(x))):
                self.key, step_key = jax.random.split(self.key)
                state, loss, metric = self._train_step(state, x[index], y[index], step_key)
                losses.append(loss * len(index))
                metrics.append(metric)
            loss_sum = float(jnp.sum(jnp.stack(losses)))
            metric_sum = float(jnp.sum(jnp.stack(metrics)))
            self.params = state["params"]
            loss_mean, metric_mean = self._mean(loss_sum, metric_sum, y)
            val_loss, val_metric = self._pass(x_val, y_val, batch_size)
            records.append(
                EpochRecord(epoch, loss_mean, metric_mean, val_loss, val_metric, time.perf_counter() - start)
            )
        return records

    def evaluate(self, x: np.ndarray, y: np.ndarray, *, batch_size: int) -> tuple[float, float]:
        return self._pass(x, y, batch_size)

    def device(self) -> str:
        return jax_device_name()

    def peak_accelerator_memory_bytes(self) -> int | None:
        return jax_peak_memory_bytes()

    def versions(self) -> dict[str, str]:
        return {"jax": jax.__version__, "flax": flax.__version__, "optax": optax.__version__}
