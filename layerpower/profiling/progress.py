"""The progress bar the profiler and the whole-model measurement show on stderr."""

from __future__ import annotations

import sys
from typing import Any


def progress_bar(enabled: bool, label: str, total: int, unit: str = "step") -> Any:
    """A tqdm bar on stderr counting ``total`` steps (named ``unit``), labelled ``label``; silent unless
    ``enabled``.

    The bar is removed when closed (``leave=False``) so that only the results stay on the terminal.
    """
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=label,
        unit=unit,
        disable=not enabled,
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )
