"""Tables for people: ``mean ± std`` displays of summaries, as Markdown, LaTeX and HTML.

The numbers stay in the CSV files (means, stds, CIs, n); these functions only format them. LaTeX goes
through :meth:`pandas.io.formats.style.Styler.to_latex` (needs jinja2); Markdown is written here so that
no extra package (``tabulate``) is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from layerpower.stats.summary import format_mean_std

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "×": r"$\times$",
    "ρ": r"$\rho$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in ``text`` (and write ±, ×, ρ, ≥, ≤ in math mode)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def mean_std_table(
    wide: pd.DataFrame,
    keys: Sequence[str],
    metrics: Sequence[str],
    *,
    headers: dict[str, str] | None = None,
    digits: int = 3,
    latex: bool = False,
) -> pd.DataFrame:
    """A display table: the ``keys`` columns, ``n`` (smallest count over metrics), one ``mean ± std`` column
    per metric (named by ``headers``), from a wide :func:`~layerpower.stats.summary.summarize_frame` table.
    With ``latex=True`` the cells use ``$\\pm$`` and are LaTeX-escaped."""
    headers = dict(headers or {})
    out = pd.DataFrame({key: wide[key].astype(str) for key in keys})
    counts = [wide[f"{m}_n"] for m in metrics if f"{m}_n" in wide]
    if counts:
        out["n"] = np.min(np.column_stack(counts), axis=1).astype(int)
    for metric in metrics:
        cells = [
            format_mean_std(mean, std, digits)
            for mean, std in zip(wide[f"{metric}_mean"], wide[f"{metric}_std"], strict=True)
        ]
        if latex:
            cells = [latex_escape(c) for c in cells]
        out[headers.get(metric, metric)] = cells
    if latex:
        out[list(keys)] = out[list(keys)].map(latex_escape)
    return out


def to_markdown(frame: pd.DataFrame, *, float_digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (no index)."""

    def cell(value: object) -> str:
        if isinstance(value, (float, np.floating)):
            text = "" if np.isnan(value) else f"{value:.{float_digits}g}"
        elif value is None or value is pd.NA:
            text = ""
        else:
            text = str(value)
        return text.replace("|", r"\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = (
        "|"
        + "|".join(" ---: " if pd.api.types.is_numeric_dtype(frame[c]) else " --- " for c in frame.columns)
        + "|"
    )
    rows = [
        "| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False, name=None)
    ]
    return "\n".join([header, rule, *rows]) + "\n"


def to_latex(frame: pd.DataFrame, *, caption: str | None = None, label: str | None = None) -> str:
    """A booktabs LaTeX table of an already escaped display ``frame`` (headers are escaped here)."""
    styler = frame.style.hide(axis="index")
    styler = styler.format_index(escape="latex", axis=1)
    align = "".join("r" if pd.api.types.is_numeric_dtype(frame[c]) else "l" for c in frame.columns)
    return styler.to_latex(
        column_format=align,
        hrules=True,
        caption=latex_escape(caption) if caption else None,
        label=label,
        position_float="centering" if caption else None,
        environment="table" if caption else None,
    )


def to_html(frame: pd.DataFrame, *, float_digits: int = 4, max_rows: int | None = 400) -> str:
    """An HTML table of ``frame`` (no index) for the report page."""
    shown = frame if max_rows is None or len(frame) <= max_rows else frame.head(max_rows)
    html = shown.to_html(
        index=False,
        na_rep="",
        border=0,
        classes="data",
        float_format=lambda v: f"{v:.{float_digits}g}",
        escape=True,
    )
    if shown is not frame:
        html += f"<p class='note'>first {max_rows} of {len(frame)} rows; all rows in the CSV file.</p>"
    return html
