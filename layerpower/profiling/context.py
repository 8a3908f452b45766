"""Layer runtimes in context: every layer call timed inside real forward passes of the whole model.

Each call is timed between the tracer's enter and exit callbacks, with the device synchronised at both
(``torch.cuda.synchronize`` on CUDA), over several forwards; a call's runtime is the median over forwards.
:class:`ContextTimer` records forwards one at a time.
Calls are keyed by ``(layer name, call index)``, the same keys :func:`layerpower.models.layers.extract_layers`
gives its specs. Units: seconds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from layerpower.errors import LayerpowerError
from layerpower.profiling.timing import sync_function

CallKey = tuple[str, int]


@dataclass(frozen=True)
class ContextTiming:
    """Median in-context runtime per layer call, and the traced forward time."""

    runtimes_s: dict[CallKey, float]
    order: list[CallKey]  # call keys in forward order
    forwards: int  # timed forwards (after the warm-up)
    forward_s: float  # median wall time of one traced forward


def traced_forward(
    model: Any,
    inputs: Any,
    sync: Callable[[], None],
    *,
    label: str = "",
) -> tuple[list[tuple[CallKey, float]], float]:
    """One traced forward: ``([(call key, seconds), ...], forward seconds)``.

    A failing forward raises :class:`LayerpowerError` naming the layer call that failed (``label`` names the
    model and configuration in the message).
    """
    from layerpower.models.trace import trace_layer_calls

    times: list[tuple[CallKey, float]] = []
    started: dict[int, float] = {}
    inflight: list[Any] = []

    def on_enter(call: Any) -> None:
        inflight.append(call.name)
        sync()
        started[call.index] = time.perf_counter()

    def on_exit(call: Any, output: Any) -> None:
        sync()
        times.append(((call.name, call.call_index), time.perf_counter() - started.pop(call.index)))
        inflight.pop()

    sync()
    t0 = time.perf_counter()
    try:
        trace_layer_calls(model, inputs, on_enter, on_exit)
    except LayerpowerError:
        raise
    except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:
        where = f"layer {inflight[-1]!r}" if inflight else "outside any layer"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LayerpowerError(f"{label}: the forward pass failed in {where}: {first}") from exc
    sync()
    return times, time.perf_counter() - t0


class ContextTimer:
    """Collects in-context timings one traced forward at a time, so that forwards can be spread in time.

    ``warm_up()`` runs untimed forwards and returns the last one's seconds; each ``record()`` runs one timed
    forward; ``result()`` takes the median per call.
    """

    def __init__(self, model: Any, inputs: Any, device: str = "cpu", *, label: str = "") -> None:
        self.model = model
        self.inputs = inputs
        self.label = label
        self.sync = sync_function(device)
        self._per_call: dict[CallKey, list[float]] = {}
        self._order: list[CallKey] = []
        self._totals: list[float] = []
        self._warm_s = 0.0

    def warm_up(self, forwards: int = 1) -> float:
        """Run ``forwards`` untimed forwards; the seconds of the last one."""
        for _ in range(max(forwards, 1)):
            _, self._warm_s = traced_forward(self.model, self.inputs, self.sync, label=self.label)
        return self._warm_s

    def record(self) -> None:
        """One timed forward."""
        times, total = traced_forward(self.model, self.inputs, self.sync, label=self.label)
        self._totals.append(total)
        first = not self._order
        for key, seconds in times:
            if first:
                self._order.append(key)
            self._per_call.setdefault(key, []).append(seconds)

    @property
    def recorded(self) -> int:
        return len(self._totals)

    def result(self) -> ContextTiming:
        """Median per call over the recorded forwards."""
        return ContextTiming(
            runtimes_s={key: statistics.median(values) for key, values in self._per_call.items()},
            order=list(self._order),
            forwards=len(self._totals),
            forward_s=statistics.median(self._totals) if self._totals else self._warm_s,
        )


def time_in_context(
    model: Any,
    inputs: Any,
    device: str = "cpu",
    *,
    forwards: int | Callable[[float], int] = 5,
    warmup: int = 1,
    label: str = "",
) -> ContextTiming:
    """Time every layer call over ``forwards`` back-to-back traced forwards (after ``warmup`` untimed ones).

    ``forwards`` may be a function of the warm-up forward's time in seconds (choosing the count by budget).
    """
    timer = ContextTimer(model, inputs, device, label=label)
    forward_s = timer.warm_up(warmup)
    count = forwards(forward_s) if callable(forwards) else int(forwards)
    for _ in range(count):
        timer.record()
    return timer.result()
