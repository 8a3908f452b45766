"""Device synchronisation and wall-clock timing of device work, in seconds.

On the CPU a timer is ``time.perf_counter`` (work is synchronous); on CUDA it is a pair of CUDA events
recorded on the current stream, read after a synchronisation, so the time is the device's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def is_cuda(device: str | Any) -> bool:
    """True when ``device`` ("cpu", "cuda", "cuda:1", a ``torch.device``) is a CUDA device."""
    return str(device).strip().lower().startswith("cuda")


def sync_function(device: str | Any) -> Callable[[], None]:
    """A function that waits for all queued work on ``device`` (a no-op on the CPU)."""
    if is_cuda(device):
        import torch

        dev = torch.device(device)

        def sync() -> None:
            torch.cuda.synchronize(dev)

        return sync
    return _noop


def _noop() -> None:
    return None


class Stopwatch:
    """Times one span of device work: ``start()``, the work, ``stop()`` -> seconds.

    CUDA: events on the current stream (``stop`` synchronises on the end event); CPU: ``perf_counter``.
    """

    def __init__(self, device: str | Any = "cpu") -> None:
        self.cuda = is_cuda(device)
        self._t0 = 0.0
        if self.cuda:
            import torch

            self._start = torch.cuda.Event(enable_timing=True)
            self._end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        if self.cuda:
            self._start.record()
        else:
            self._t0 = time.perf_counter()

    def stop(self) -> float:
        """Seconds since :meth:`start`."""
        if self.cuda:
            self._end.record()
            self._end.synchronize()
            return float(self._start.elapsed_time(self._end)) / 1e3
        return time.perf_counter() - self._t0
