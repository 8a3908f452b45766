"""Sweeps that outgrow one machine, fanned out on a Ray cluster (the ``cluster`` extra).

=============================  ==================================================================
module                         what it offers
=============================  ==================================================================
:mod:`.engine`                 :func:`connect`, :func:`run_tasks` (one task per item, bounded
                               retries, one bar, Ctrl-C cancels), :func:`ray_map`
:mod:`.profile`                :func:`profile_models_ray`: a task per model x configuration
:mod:`.experiments`            :func:`run_sweep_ray`: a task per experiment run
:mod:`.sampled`                :func:`profile_layers_ray`: a task per chunk of sampled layers
=============================  ==================================================================

Importing this package never imports Ray; the first function that needs it does, and without Ray it
says ``pip install 'layerpower[cluster]'``. Tasks return rows and file contents; the driver writes them
with the package's atomic writers, so a tree made on a cluster has the layout of a local one.
"""

from __future__ import annotations

from layerpower._lazy import lazy_exports

_EXPORTS = {
    "INSTALL_HINT": "engine",
    "TaskResult": "engine",
    "connect": "engine",
    "node_facts": "engine",
    "ray_map": "engine",
    "require_ray": "engine",
    "run_tasks": "engine",
    "profile_models_ray": "profile",
    "run_sweep_ray": "experiments",
    "profile_layers_ray": "sampled",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
