"""The experiment backends: one module per deep-learning stack, loaded only inside a run's subprocess.

======================  ==========================================================================
name                    stack
======================  ==========================================================================
``torch``               plain PyTorch (:mod:`.torch_backend`)
``jax``                 JAX with Flax (linen) and optax (:mod:`.jax_backend`)
``tf-keras``            Keras 3 on TensorFlow (:mod:`.keras_backend`, ``KERAS_BACKEND=tensorflow``)
``jax-keras``           Keras 3 on JAX (``KERAS_BACKEND=jax``)
``torch-keras``         Keras 3 on PyTorch (``KERAS_BACKEND=torch``)
======================  ==========================================================================

Importing this package imports none of them; :func:`load_backend` does, in the run's own process.
"""

from __future__ import annotations

import importlib

from layerpower.config import vocab
from layerpower.config.vocab import BackendName
from layerpower.errors import LayerpowerError
from layerpower.experiments.backends.base import Backend

#: backend name -> "module:class"
BACKENDS: dict[BackendName, str] = {
    "torch": "layerpower.experiments.backends.torch_backend:TorchBackend",
    "jax": "layerpower.experiments.backends.jax_backend:JaxBackend",
    "tf-keras": "layerpower.experiments.backends.keras_backend:TensorflowKeras",
    "jax-keras": "layerpower.experiments.backends.keras_backend:JaxKeras",
    "torch-keras": "layerpower.experiments.backends.keras_backend:TorchKeras",
}
if tuple(BACKENDS) != vocab.BACKENDS:  # pragma: no cover - a new backend is declared in both places
    raise RuntimeError(f"experiment backends {tuple(BACKENDS)} differ from {vocab.BACKENDS}")

#: the package each backend needs, for the error message when it is missing
_EXTRA: dict[BackendName, str] = {
    "torch": "torch",
    "jax": "jax, flax, optax",
    "tf-keras": "keras, tensorflow-cpu",
    "jax-keras": "keras, jax",
    "torch-keras": "keras, torch",
}


def backend_class(name: str) -> type[Backend]:
    """The :class:`Backend` subclass called ``name`` (imports its module, not yet its libraries)."""
    if name not in BACKENDS:
        raise LayerpowerError(f"unknown backend {name!r}", f"choose from {', '.join(BACKENDS)}")
    module_name, attr = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module_name), attr)


def missing_extra_hint(name: str) -> str:
    """What to install for backend ``name``."""
    return f"install {_EXTRA.get(name, name)} (pip install 'layerpower[experiments]')"


__all__ = ["BACKENDS", "Backend", "backend_class", "missing_extra_hint"]
