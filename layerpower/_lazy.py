"""Lazy package exports: a name is imported from its submodule on first access (PEP 562)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for ``package`` exporting ``name -> module`` lazily.

    A module path that does not start with ``package`` is taken relative to it (``"pareto"`` means
    ``"<package>.pareto"``).
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if not module.startswith(package):
            module = f"{package}.{module}"
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted({*exports, *importlib.import_module(package).__dict__})

    return __getattr__, __dir__
