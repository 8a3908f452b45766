"""layerpower: measure and predict the energy, power and runtime of deep neural networks, layer by layer.

Heavy dependencies (torch, xgboost, pynvml, jax, tensorflow) are imported lazily by the submodules
that need them, so importing this package and running ``--help`` stay instant.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
