"""Where the runs of a results tree are: ``<root>`` itself, ``<root>/<run>`` or ``<root>/<seed>/<run>``."""

from __future__ import annotations

from pathlib import Path

from layerpower.experiments.config import RUN_NAME_RE
from layerpower.stats.study_layout import STUDY_CSV_FILES

#: files that mark a folder as a run
RUN_FILES: tuple[str, ...] = ("config.json", *STUDY_CSV_FILES, "error.txt")


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` is a run folder: a run-folder name, or any of :data:`RUN_FILES` inside."""
    return RUN_NAME_RE.match(path.name) is not None or any((path / name).is_file() for name in RUN_FILES)


def find_run_dirs(root: Path) -> tuple[list[Path], list[dict[str, str]]]:
    """Run folders under ``root``, and the folders at run depth that are none (``path``, ``reason``)."""
    if is_run_dir(root):
        return [root], []
    found: list[Path] = []
    skipped: list[dict[str, str]] = []
    for entry in sorted(_subdirs(root)):
        if is_run_dir(entry):
            found.append(entry)
            continue
        for child in sorted(_subdirs(entry)):
            if is_run_dir(child):
                found.append(child)
            else:
                skipped.append(
                    {"path": relative(root, child), "reason": "no run files and not a run folder name"}
                )
    return found, skipped


def _subdirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []


def relative(root: Path, path: Path) -> str:
    """``path`` relative to ``root`` as text (``path`` itself when it lies elsewhere)."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
