"""The warning category of the statistics module, and a helper that emits one warning per call site."""

from __future__ import annotations

import warnings


class StatsWarning(UserWarning):
    """A statistic computed from too little or unusable data (one repeat, NaN values, constant input)."""


def warn(message: str, stacklevel: int = 3) -> None:
    """Emit ``message`` once as a :class:`StatsWarning` (callers gather cases first, then warn once)."""
    warnings.warn(message, StatsWarning, stacklevel=stacklevel)
