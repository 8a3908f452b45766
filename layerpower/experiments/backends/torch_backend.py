"""Plain PyTorch backend.

Precisions: ``fp16``/``bf16`` convert the model and inputs (``model.to(dtype)``); ``mixed_*`` keep float32
parameters and run the forward pass under :func:`torch.autocast`, with :class:`torch.amp.GradScaler` for
``mixed_fp16``. Images enter as NCHW and are put back to channels-last before ``flatten``, so a model
computes the same function as its Keras and Flax twins.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from layerpower.experiments.backends.base import ADAM_EPSILON, Backend, EpochRecord, batches
from layerpower.experiments.tasks import CLASSIFICATION, Layer, layer_shapes

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class _ChannelsLastFlatten(nn.Module):
    """Flatten NCHW feature maps in NHWC order (as Keras and Flax do); other shapes flatten as they are."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.permute(0, 2, 3, 1)
        return x.flatten(1)


class _LSTM(nn.Module):
    """A batch-first LSTM returning every step or only the last; ``bias_hh`` is held at zero."""

    def __init__(self, input_size: int, hidden: int, return_sequences: bool) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden, batch_first=True)
        with torch.no_grad():
            self.lstm.bias_hh_l0.zero_()
        self.lstm.bias_hh_l0.requires_grad_(False)
        self.return_sequences = return_sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return out if self.return_sequences else out[:, -1]


def build_module(layers: tuple[Layer, ...], input_shape: tuple[int, ...]) -> nn.Sequential:
    """A :class:`torch.nn.Sequential` for ``layers`` and channels-last ``input_shape``."""
    modules: list[nn.Module] = []
    for layer, shape in zip(layers, layer_shapes(layers, input_shape), strict=False):
        if layer.kind == "dense":
            modules.append(nn.Linear(shape[-1], layer.units))
        elif layer.kind == "conv2d":
            modules.append(nn.Conv2d(shape[-1], layer.units, layer.kernel, padding="same"))
        elif layer.kind == "maxpool2d":
            modules.append(nn.MaxPool2d(2))
        elif layer.kind == "flatten":
            modules.append(_ChannelsLastFlatten())
        elif layer.kind == "dropout":
            modules.append(nn.Dropout(layer.rate))
        elif layer.kind == "lstm":
            modules.append(_LSTM(shape[-1], layer.units, layer.return_sequences))
        else:
            raise ValueError(f"unknown layer kind {layer.kind!r}")
        if layer.activation == "relu":
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


class TorchBackend(Backend):
    """PyTorch on CUDA when available, else CPU."""

    name = "torch"

    def __init__(self, precision: Any) -> None:
        super().__init__(precision)
        self._device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        threads = os.environ.get("OMP_NUM_THREADS")
        if threads:  # set by the run's thread limit
            torch.set_num_threads(int(threads))
        self._param_dtype = _DTYPES[precision.param_dtype]
        self._compute_dtype = _DTYPES[precision.compute_dtype]
        self.model: nn.Module | None = None
        self.problem = CLASSIFICATION

    def set_seed(self, seed: int) -> None:
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)

    def build(self, layers: tuple[Layer, ...], input_shape: tuple[int, ...], problem: str) -> None:
        self.problem = problem
        self._images = len(input_shape) == 3
        self.model = build_module(layers, input_shape).to(self._device, dtype=self._param_dtype)

    def parameter_count(self) -> int:
        assert self.model is not None
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    # -- helpers ----------------------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision.is_mixed:
            return torch.autocast(device_type=self._device.type, dtype=self._compute_dtype)
        return contextlib.nullcontext()

    def _tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2) if self._images else x))
        xt = xt.to(self._device, dtype=self._param_dtype)
        yt = torch.from_numpy(y).to(self._device)
        yt = yt.long() if self.problem == CLASSIFICATION else yt.float()
        return xt, yt

    def _loss_metric(self, out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean loss (float32) and the batch's metric sum (correct predictions, or absolute error)."""
        out = out.float()
        if self.problem == CLASSIFICATION:
            return F.cross_entropy(out, y), (out.argmax(1) == y).sum()
        return F.mse_loss(out, y), (out - y).abs().sum()

    def _run_epoch(
        self, x: torch.Tensor, y: torch.Tensor, order: np.ndarray, batch_size: int, train: bool
    ) -> tuple[float, float]:
        assert self.model is not None
        self.model.train(train)
        loss_sum = torch.zeros((), device=self._device)
        metric_sum = torch.zeros((), device=self._device)
        grad = contextlib.nullcontext() if train else torch.no_grad()
        with grad:
            for index in batches(len(order), batch_size, order):
                idx = torch.from_numpy(index).to(self._device)
                xb, yb = x[idx], y[idx]
                with self._autocast():
                    out = self.model(xb)
                loss, metric = self._loss_metric(out, yb)
                if train:
                    self.optimizer.zero_grad(set_to_none=True)
                    if self.scaler is not None:
                        self.scaler.scale(loss).backward()
                        self.scaler.step(self.optimizer)
                        self.scaler.update()
                    else:
                        loss.backward()
                        self.optimizer.step()
                loss_sum += loss.detach() * len(index)
                metric_sum += metric.detach()
        n = len(order)
        per_output = n * (y.shape[1] if y.dim() > 1 else 1)
        return float(loss_sum) / n, float(metric_sum) / (n if self.problem == CLASSIFICATION else per_output)

    # -- training and inference -------------------------------------------------------------------------

    def train(self, x, y, x_val, y_val, *, epochs, batch_size, learning_rate, seed) -> list[EpochRecord]:  # type: ignore[override]
        assert self.model is not None
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=learning_rate, eps=ADAM_EPSILON)
        self.scaler = torch.amp.GradScaler(self._device.type) if self.precision.loss_scaling else None
        xt, yt = self._tensors(x, y)
        xv, yv = self._tensors(x_val, y_val)
        rng = np.random.default_rng(seed)
        records = []
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            loss, metric = self._run_epoch(xt, yt, rng.permutation(len(x)), batch_size, train=True)
            val_loss, val_metric = self._run_epoch(xv, yv, np.arange(len(x_val)), batch_size, train=False)
            self._sync()
            records.append(
                EpochRecord(epoch, loss, metric, val_loss, val_metric, time.perf_counter() - start)
            )
        return records

    def evaluate(self, x: np.ndarray, y: np.ndarray, *, batch_size: int) -> tuple[float, float]:
        xt, yt = self._tensors(x, y)
        result = self._run_epoch(xt, yt, np.arange(len(x)), batch_size, train=False)
        self._sync()
        return result

    def _sync(self) -> None:
        if self._device.type == "cuda":
            torch.cuda.synchronize()

    def device(self) -> str:
        return str(self._device)

    def peak_accelerator_memory_bytes(self) -> int | None:
        if self._device.type == "cuda":
            return int(torch.cuda.max_memory_allocated())
        return None

    def versions(self) -> dict[str, str]:
        return {"torch": torch.__version__}
