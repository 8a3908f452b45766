"""Settings of the layer profiler, and the defaults that depend on the power source.

The measurement window must span several sensor update periods, so its default depends on the source:

===========  ==========  ========================================================================
source       window (s)  why
===========  ==========  ========================================================================
nvml         1.0         the energy counter refreshes about every 100 ms (power: 25 ms of every 100)
jetson       1.0         INA3221 rails are polled and integrated (tens of ms per reading)
rapl         0.25        the counter refreshes every ~1 ms; a quarter second smooths the jitter
estimate     0.05        a load model on kernel CPU-time counters (10 ms ticks): five ticks suffice
===========  ==========  ========================================================================

A window is never shorter than three update periods of the source in use. Idle power is measured over
:data:`DEFAULT_IDLE_S` seconds (0.5 s for the estimate).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from layerpower.config.vocab import LAYER_KINDS, POWER_SOURCES, PowerSourceName


def _per_source(seconds: dict[PowerSourceName, float]) -> dict[str, float]:
    """``seconds`` in :data:`POWER_SOURCES` order, refusing a table that misses or adds a source."""
    if set(seconds) != set(POWER_SOURCES):
        raise ValueError(f"per-source defaults name {sorted(seconds)}, not the sources {list(POWER_SOURCES)}")
    return {name: float(seconds[name]) for name in POWER_SOURCES}


#: default measurement window per power source, seconds
DEFAULT_WINDOW_S: dict[str, float] = _per_source({"nvml": 1.0, "jetson": 1.0, "rapl": 0.25, "estimate": 0.05})
#: default idle-power window per power source, seconds
DEFAULT_IDLE_S: dict[str, float] = _per_source({"nvml": 2.0, "jetson": 2.0, "rapl": 1.0, "estimate": 0.5})
#: a window spans at least this many sensor update periods
MIN_WINDOW_PERIODS = 3

#: whole model: fresh processes measured, by default
WHOLE_PROCESSES = 3
#: whole model: forwards per process fill about this many seconds (clamped to WHOLE_REPEATS_RANGE)
WHOLE_BUDGET_S = 2.0
#: whole model: the fewest and most forwards per process chosen from the budget
WHOLE_REPEATS_RANGE: tuple[int, int] = (5, 30)


@dataclass(frozen=True)
class ProfileSettings:
    """How layers and whole models are measured. ``None`` means "choose from the power source / model".

    Times are seconds. Isolated layers: ``warmup_calls`` calls and at least ``warmup_fraction`` x window of
    warm-up, then ``iterations = ceil(window / time per call)``; ``trials`` windows per layer in a shuffled
    (layer, trial) schedule; on the CPU a window that runs past ``max_window_factor`` x window ends early (the
    trial keeps the calls it made). In context: ``context_forwards`` whole-model forwards (default: enough to fill
    ``context_budget_s``, clamped to ``context_forwards_range``). Whole model: ``whole_processes`` fresh
    processes of ``whole_repeats`` forwards each (default: enough to fill ``whole_budget_s``, clamped to
    ``whole_repeats_range``).
    """

    window_s: float | None = None
    trials: int = 3
    warmup_calls: int = 2
    warmup_fraction: float = 0.5
    max_window_factor: float = 4.0
    idle_s: float | None = None
    context_forwards: int | None = None
    context_budget_s: float = 1.0
    context_forwards_range: tuple[int, int] = (3, 20)
    whole_processes: int = WHOLE_PROCESSES
    whole_repeats: int | None = None
    whole_budget_s: float = WHOLE_BUDGET_S
    whole_repeats_range: tuple[int, int] = WHOLE_REPEATS_RANGE
    kinds: tuple[str, ...] = LAYER_KINDS
    dedup: bool = True
    throwaway: bool = True
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        from layerpower.errors import LayerpowerError

        if self.window_s is not None and not self.window_s > 0:
            raise LayerpowerError(f"window must be a positive number of seconds, got {self.window_s}")
        if self.trials < 1:
            raise LayerpowerError(f"trials must be at least 1, got {self.trials}")
        if self.whole_processes < 0:
            raise LayerpowerError(f"whole-model processes must be 0 or more, got {self.whole_processes}")
        for number, what in ((self.context_forwards, "forwards"), (self.whole_repeats, "repeats")):
            if number is not None and number < 1:
                raise LayerpowerError(f"{what} must be at least 1, got {number}")
        unknown = [k for k in self.kinds if k not in LAYER_KINDS]
        if unknown or not self.kinds:
            raise LayerpowerError(
                f"unknown layer kind(s) {', '.join(unknown) or '(none given)'}",
                hint=f"choose from {', '.join(LAYER_KINDS)}",
            )

    def window_for(self, source_name: str, update_period_s: float) -> float:
        """The window in seconds for a source: the setting, else the source's default; >= 3 periods."""
        window = self.window_s if self.window_s is not None else DEFAULT_WINDOW_S.get(source_name, 1.0)
        if self.window_s is None and update_period_s == update_period_s:  # not NaN
            window = max(window, MIN_WINDOW_PERIODS * update_period_s)
        return float(window)

    def idle_for(self, source_name: str) -> float:
        """Seconds of idle measurement for a source."""
        return float(self.idle_s if self.idle_s is not None else DEFAULT_IDLE_S.get(source_name, 2.0))

    def forwards_for(self, forward_s: float) -> int:
        """In-context forwards for a model whose forward takes ``forward_s`` seconds."""
        if self.context_forwards is not None:
            return self.context_forwards
        return clamp_count(self.context_budget_s, forward_s, self.context_forwards_range)

    def repeats_for(self, forward_s: float) -> int:
        """Whole-model forwards per process for a forward of ``forward_s`` seconds."""
        if self.whole_repeats is not None:
            return self.whole_repeats
        return clamp_count(self.whole_budget_s, forward_s, self.whole_repeats_range)

    def with_(self, **changes: Any) -> ProfileSettings:
        """A copy with some fields changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """Plain values for meta.json."""
        out = asdict(self)
        out["kinds"] = list(self.kinds)
        out["context_forwards_range"] = list(self.context_forwards_range)
        out["whole_repeats_range"] = list(self.whole_repeats_range)
        return out


def clamp_count(budget_s: float, each_s: float, bounds: tuple[int, int]) -> int:
    """How many runs of ``each_s`` seconds fill ``budget_s`` seconds, clamped to ``bounds`` (low, high)."""
    low, high = bounds
    if not each_s > 0:
        return high
    return int(min(max(round(budget_s / each_s), low), high))
