"""Model zoo (name -> nn.Module) and weight-free layer extraction.

The names below are imported lazily (PEP 562), so ``import layerpower.models`` (or its light ``spec`` and
``dtypes`` modules) never imports torch.
"""

from __future__ import annotations

from layerpower._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "LayerSpec": "layerpower.models.spec",
    "feature_row": "layerpower.models.spec",
    "normalize_dtype": "layerpower.models.dtypes",
    "torch_dtype": "layerpower.models.dtypes",
    "DTYPE_ALIASES": "layerpower.models.dtypes",
    "ModelEntry": "layerpower.models.zoo",
    "available_models": "layerpower.models.zoo",
    "resolve_model": "layerpower.models.zoo",
    "build_model": "layerpower.models.zoo",
    "extract_layers": "layerpower.models.layers",
    "layers_frame": "layerpower.models.layers",
    "summarize_layers": "layerpower.models.layers",
    "LayerCall": "layerpower.models.trace",
    "Trace": "layerpower.models.trace",
    "trace_layer_calls": "layerpower.models.trace",
    "IsolatedLayer": "layerpower.models.isolate",
    "isolated_layer": "layerpower.models.isolate",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
