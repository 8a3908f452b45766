"""Sampled layers: configurations drawn from a declared space per kind and operation, profiled alone.

``load_space`` reads the space (the packaged ``layer_space.json`` or a user's file), ``sample_specs`` draws
``LayerSpec`` records from it (deterministic for a seed), ``measure_specs`` measures specs alone in this
process (a quick probe run), ``profile_chunk`` measures one chunk (the unit a remote task runs) and
``profile_layers`` does it all, writing ``training_data/<device-id>/_sampled/<kind>.csv`` and ``meta.json``.
Names are imported lazily, so importing this package imports no torch.
"""

from __future__ import annotations

from layerpower._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "LayerSpace": "layerpower.profiling.sampled.space",
    "OpSpace": "layerpower.profiling.sampled.space",
    "load_space": "layerpower.profiling.sampled.space",
    "Sample": "layerpower.profiling.sampled.draw",
    "sample_space": "layerpower.profiling.sampled.draw",
    "sample_specs": "layerpower.profiling.sampled.draw",
    "SampledSession": "layerpower.profiling.sampled.measure",
    "measure_specs": "layerpower.profiling.sampled.measure",
    "profile_chunk": "layerpower.profiling.sampled.measure",
    "SampledReport": "layerpower.profiling.sampled.run",
    "profile_layers": "layerpower.profiling.sampled.run",
    "BUILDERS": "layerpower.profiling.sampled.builders",
    "register_builder": "layerpower.profiling.sampled.builders",
    "SAMPLED_MODEL": "layerpower.profiling.sampled.builders",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
