"""One measured run of the repeated MLP benchmark (:mod:`layerpower.experiments.repeated`): build the torch
MLP, train it under the precision mode's autocast while the meter measures, then time its inference.
"""

from __future__ import annotations

import threading
import time
import warnings
from typing import Any

import numpy as np

ACTIVATIONS: tuple[str, ...] = ("relu", "tanh", "sigmoid", "gelu", "silu", "elu", "leaky_relu", "linear")
MEMORY_METHOD = "peak RSS increase during the run (psutil, sampled every 5 ms), MB"
PRECISION_NOTES: dict[str, str] = {
    "float32": "float32 training and inference",
    "float16": "autocast(cpu, float16) with float32 parameters and a gradient scaler; inference under autocast",
    "bfloat16": "autocast(cpu, bfloat16) with float32 parameters; inference under autocast",
    "int8": "float32 training; inference with dynamic int8 quantisation of Linear layers "
    "(torch.ao.quantization.quantize_dynamic)",
}


# -- one run --------------------------------------------------------------------------------------------


def one_run(
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int],
    layers: list[int],
    activations: list[str],
    precision: str,
    batch_size: int,
    epochs: int,
    seed: int,
    learning_rate: float,
    meter: Any,
    min_inference_s: float = 0.1,
) -> dict[str, Any]:
    import torch

    x_train, y_train, x_test, y_test, n_classes = data
    torch.manual_seed(seed)
    np.random.seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = _mlp(x_train.shape[1], layers, activations, n_classes)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    xs, ys = torch.from_numpy(x_test), torch.from_numpy(y_test)
    autocast_dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(precision)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    scaler = torch.amp.GradScaler("cpu") if precision == "float16" else None
    loss_fn = torch.nn.CrossEntropyLoss()

    memory = _PeakRss()
    with memory:
        with meter.window() as window:
            model.train()
            for _ in range(epochs):
                order = torch.randperm(len(xt), generator=generator)
                for start in range(0, len(xt), batch_size):
                    index = order[start : start + batch_size]
                    optimizer.zero_grad(set_to_none=True)
                    with torch.autocast("cpu", dtype=autocast_dtype, enabled=autocast_dtype is not None):
                        logits = model(xt[index])
                    loss = loss_fn(logits.float(), yt[index])
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"training loss became {loss.item()} in {precision}")
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        loss.backward()
                        optimizer.step()
        measurement = window.result
        model.eval()
        infer = _quantized(model) if precision == "int8" else model
        latency, predictions = _time_inference(infer, xs, batch_size, autocast_dtype, min_inference_s)
    accuracy = float((predictions == ys).float().mean().item())
    return {
        "train_time": measurement.duration_s / epochs,
        "latency": latency,
        "memory": memory.peak_increase_mb,
        "accuracy": accuracy,
        "energy": measurement.energy_j / epochs,
        "energy_source": measurement.source,
        "energy_is_estimate": bool(measurement.is_estimate),
        "energy_short_window": bool(measurement.short_window),
        "memory_method": MEMORY_METHOD,
        "precision_note": PRECISION_NOTES[precision],
    }


def _time_inference(
    model: Any, x: Any, batch_size: int, dtype: Any, min_seconds: float = 0.1
) -> tuple[float, Any]:
    """Seconds per sample of batched inference over ``x`` (one warm-up pass) and the predicted classes."""
    import torch

    def one_pass() -> Any:
        outputs = []
        with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            for start in range(0, len(x), batch_size):
                outputs.append(model(x[start : start + batch_size]).float().argmax(dim=1))
        return torch.cat(outputs)

    predictions = one_pass()
    passes, start = 0, time.perf_counter()
    while True:
        one_pass()
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            break
    return elapsed / (passes * len(x)), predictions


def _quantized(model: Any) -> Any:
    import torch

    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError as exc:  # pragma: no cover - depends on the torch build
        raise RuntimeError(
            f"int8 dynamic quantisation is not available in torch {torch.__version__}: {exc}"
        ) from None
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", DeprecationWarning
        )  # torch.ao.quantization is deprecated in torch 2.10+
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def _mlp(n_in: int, layers: list[int], activations: list[str], n_out: int) -> Any:
    import torch
    from torch import nn

    makers = {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "gelu": nn.GELU,
        "silu": nn.SiLU,
        "elu": nn.ELU,
        "leaky_relu": nn.LeakyReLU,
        "linear": nn.Identity,
    }
    modules: list[torch.nn.Module] = []
    width = n_in
    for units, activation in zip(layers, activations, strict=True):
        modules += [nn.Linear(width, units), makers[activation]()]
        width = units
    modules.append(nn.Linear(width, n_out))
    return nn.Sequential(*modules)


class _PeakRss:
    """Samples this process's RSS every 5 ms in a thread; ``peak_increase_mb`` = peak minus the start."""

    def __init__(self, interval_s: float = 0.005) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval_s
        self._stop = threading.Event()
        self._peak = 0
        self._base = 0
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __enter__(self) -> _PeakRss:
        self._base = self._process.memory_info().rss
        self._peak = self._base
        self._thread = threading.Thread(target=self._run, name="layerpower-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)

    @property
    def peak_increase_mb(self) -> float:
        return (self._peak - self._base) / 1e6
