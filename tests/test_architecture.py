"""Import directions between the package's areas (the picture in the README's "Architecture" section).

Every ``layerpower.*`` import in every module, at any depth of the file (lazy imports inside functions
included), must point at the module's own area or at an area it may depend on.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "layerpower"

#: the areas at the bottom: no layerpower imports beyond each other
BASE = {"layerpower", "errors", "io", "_lazy", "config"}

#: area -> the areas it may import, besides itself and BASE
ALLOWED: dict[str, set[str]] = {
    "layerpower": set(),
    "errors": set(),
    "io": set(),
    "_lazy": set(),
    "config": set(),
    "hardware": set(),
    "models": set(),
    "dataset": set(),
    "profiling": {"hardware", "models"},
    "predictors": {"hardware", "models", "dataset"},
    "calibrate": {"hardware", "models", "profiling", "dataset", "predictors"},
    "experiments:spec": set(),
    "stats": {
        "hardware",
        "models",
        "profiling",
        "dataset",
        "predictors",
        "experiments:spec",
        "cluster:engine",
    },
    "experiments": {"hardware", "models", "profiling", "stats", "experiments:spec"},
    "cluster:engine": set(),
    "cluster": {
        "hardware",
        "models",
        "profiling",
        "stats",
        "experiments",
        "experiments:spec",
        "dataset",
        "cluster:engine",
    },
    "cli": {
        "cluster",
        "cluster:engine",
        "hardware",
        "models",
        "profiling",
        "dataset",
        "predictors",
        "calibrate",
        "stats",
        "experiments",
        "experiments:spec",
    },
}

#: the modules that declare an experiment run (names, tasks, precisions, the backend registry): the only
#: part of ``layerpower.experiments`` that ``layerpower.stats`` reads, so they import nothing above BASE
EXPERIMENT_SPEC = {
    "layerpower.experiments.config",
    "layerpower.experiments.tasks",
    "layerpower.experiments.precision",
    "layerpower.experiments.backends",
    "layerpower.experiments.backends.base",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


#: the Ray task engine (connect, run_tasks, ray_map): imports nothing above BASE, so the results reader can
#: read a large tree on Ray while the cluster sweeps above it drive profiling and experiments
CLUSTER_ENGINE = {"layerpower.cluster.engine"}


def area_of(module: str) -> str:
    """The area of a dotted ``layerpower`` module name."""
    if module in EXPERIMENT_SPEC:
        return "experiments:spec"
    if module in CLUSTER_ENGINE:
        return "cluster:engine"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "layerpower"


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "layerpower":
                found += [(node.lineno, f"layerpower.{alias.name}") for alias in node.names]
            elif node.module.startswith("layerpower."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("layerpower.")]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_area_is_declared() -> None:
    areas = {area_of(_module_name(path)) for path in MODULES}
    assert areas <= set(ALLOWED), f"areas without a rule: {sorted(areas - set(ALLOWED))}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_point_down(path: Path) -> None:
    source = area_of(_module_name(path))
    allowed = ALLOWED[source] | BASE | {source}
    wrong = [
        f"line {line}: {target} ({area_of(target)})"
        for line, target in _imports(path)
        if area_of(target) not in allowed and target != "layerpower.__version__"
    ]
    assert not wrong, f"{source} may import only {sorted(allowed)}: " + "; ".join(wrong)


#: the longest a module may grow before it is split by job (the house style)
MAX_MODULE_LINES = 450


def test_no_module_is_over_the_line_limit() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in MODULES
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"split these modules by job (over {MAX_MODULE_LINES} lines): {long}"
