"""Display names, optimisation directions and the order of configuration values in the report.

* :func:`default_direction` -- ``"max"`` for accuracy-like metrics (accuracy, f1, auc, r2, score,
  precision/recall), ``"min"`` for everything else (times, energy, power, memory, loss, MAE, ...).
* :func:`resolve_directions` -- the defaults overridden by a user's ``{metric: "min" | "max"}``.
* :func:`sort_configurations` -- rows sorted with backends and precisions in the package's own order
  (:data:`layerpower.config.vocab.BACKENDS`, :data:`~layerpower.config.vocab.PRECISIONS`), other values
  alphabetically after them.
* :func:`configuration_label` -- ``"torch / bf16 / batch_size=32"``: categorical values bare, numbers named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from layerpower.config.vocab import BACKENDS, COMPLEXITIES, PRECISIONS, TASKS
from layerpower.errors import LayerpowerError

DIRECTIONS: tuple[str, ...] = ("min", "max")

#: metric-name words that mean "higher is better" (matched as whole ``_``-separated words)
_MAXIMISED = re.compile(r"(^|_)(acc|accuracy|f1|auc|r2|score|precision|recall|iou|bleu|map)(_|$)")

#: the package's own order of the values of well-known attributes
VOCABULARY_ORDER: dict[str, tuple[str, ...]] = {
    "backend": tuple(BACKENDS),
    "precision": tuple(PRECISIONS),
    "model": tuple(TASKS),
    "complexity": tuple(COMPLEXITIES),
}


def default_direction(metric: str) -> str:
    """``"max"`` when a higher value of ``metric`` is better (accuracy, f1, ...), else ``"min"``."""
    return "max" if _MAXIMISED.search(str(metric).lower()) else "min"


def resolve_directions(metrics: Iterable[str], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{metric: "min" | "max"}`` for ``metrics``: :func:`default_direction`, overridden by ``overrides``.

    Overrides for metrics not in ``metrics`` are kept too (they may name a column used elsewhere).
    """
    overrides = dict(overrides or {})
    bad = {k: v for k, v in overrides.items() if v not in DIRECTIONS}
    if bad:
        raise LayerpowerError(
            f"unknown direction(s): {', '.join(f'{k}={v}' for k, v in bad.items())}", "use min or max"
        )
    out = {m: default_direction(m) for m in metrics}
    out.update(overrides)
    return out


def display(column: str, names: Mapping[str, str] | None, fallback: str | None = None) -> str:
    """The name of ``column`` shown to a reader: ``names[column]``, else ``fallback``, else the column."""
    if names and column in names:
        return str(names[column])
    return fallback if fallback is not None else str(column)


def value_order(column: str, values: Iterable[object]) -> list[object]:
    """The distinct ``values`` of ``column`` in the vocabulary order, unknown ones sorted after them."""
    distinct = list(dict.fromkeys(v for v in values if not _missing(v)))
    known = VOCABULARY_ORDER.get(column, ())
    rank = {name: i for i, name in enumerate(known)}
    return sorted(distinct, key=lambda v: (rank.get(str(v), len(rank)), _sortable(v)))


def sort_configurations(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` sorted by ``columns``, backends and precisions in the package's order."""
    columns = [c for c in columns if c in frame.columns]
    if not columns or frame.empty:
        return frame.reset_index(drop=True)
    ranks = pd.DataFrame(index=frame.index)
    for column in columns:
        order = {v: i for i, v in enumerate(value_order(column, frame[column]))}
        ranks[column] = frame[column].map(lambda v, order=order: order.get(v, len(order)))
    index = ranks.sort_values(columns, kind="stable").index
    return frame.loc[index].reset_index(drop=True)


def configuration_label(
    row: Mapping[str, object], columns: Sequence[str], names: Mapping[str, str] | None = None
) -> str:
    """``"torch / bf16 / batch_size=32"``: the values of ``columns`` in ``row``; numbers carry their name."""
    parts = []
    for column in columns:
        value = row[column]
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_)
        ):
            text = f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)
            parts.append(f"{display(column, names)}={text}")
        else:
            parts.append(str(value))
    return " / ".join(parts) if parts else "all runs"


def _missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _sortable(value: object) -> tuple[int, float, str]:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return (0, float(value), "")
    return (1, 0.0, str(value))
