"""Feature lists, file schema and settings shared by the profiler, the dataset builder and the predictors."""

from layerpower.config.features import (
    ATTENTION_FEATURES,
    ATTENTION_FEATURES_EXTENDED,
    CONV_FEATURES,
    CONV_FEATURES_EXTENDED,
    DENSE_FEATURES,
    DENSE_FEATURES_EXTENDED,
    FEATURES_BY_KIND,
    FEATURES_EXTENDED_BY_KIND,
    OTHER_FEATURES,
    OTHER_FEATURES_EXTENDED,
    POOLING_FEATURES,
    POOLING_FEATURES_EXTENDED,
)
from layerpower.config.schema import (
    LAYER_COLUMNS,
    MEASUREMENT_COLUMNS,
    MODEL_COLUMNS,
    SCHEMA_VERSION,
    layer_columns,
)
from layerpower.config.vocab import LAYER_KINDS

__all__ = [
    "ATTENTION_FEATURES",
    "ATTENTION_FEATURES_EXTENDED",
    "CONV_FEATURES",
    "CONV_FEATURES_EXTENDED",
    "DENSE_FEATURES",
    "DENSE_FEATURES_EXTENDED",
    "FEATURES_BY_KIND",
    "FEATURES_EXTENDED_BY_KIND",
    "LAYER_COLUMNS",
    "LAYER_KINDS",
    "MEASUREMENT_COLUMNS",
    "MODEL_COLUMNS",
    "OTHER_FEATURES",
    "OTHER_FEATURES_EXTENDED",
    "POOLING_FEATURES",
    "POOLING_FEATURES_EXTENDED",
    "SCHEMA_VERSION",
    "layer_columns",
]
