"""Context factors of sampled rows: in-context / isolated runtime per kind, operation and variant."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerpower.predictors.sampled import context_factors, fit_context_factor, variant_of


def _convs(n: int, groups: int, channels: int, batch: int, ratio: float) -> pd.DataFrame:
    isolated = np.linspace(1e-4, 1e-3, n)
    return pd.DataFrame(
        {
            "kind": "convolutional",
            "layer_type": "Conv2d",
            "batch_size": batch,
            "groups": groups,
            "input_size_0": channels,
            "runtime_isolated_s": isolated,
            "runtime_s": isolated * ratio,
        }
    )


def test_variants_name_batch_and_grouping():
    frame = pd.concat(
        [_convs(1, 1, 64, 1, 1.0), _convs(1, 64, 64, 8, 1.0), _convs(1, 4, 64, 1, 1.0)], ignore_index=True
    )
    frame = pd.concat([frame, pd.DataFrame({"kind": ["other"], "layer_type": ["add"], "batch_size": [8]})])
    assert variant_of(frame.reset_index(drop=True)).tolist() == [
        "dense-b1",
        "depthwise-bN",
        "grouped-b1",
        "bN",
    ]


def test_depthwise_convolutions_get_their_own_factor():
    layers = pd.concat(
        [_convs(400, 1, 64, 1, 1.1), _convs(400, 64, 64, 1, 1.4), _convs(400, 1, 64, 8, 1.05)],
        ignore_index=True,
    )
    context = fit_context_factor(layers)
    variant = context["variant"]
    assert variant["convolutional/Conv2d/depthwise-b1"] == pytest.approx(1.4, rel=0.02)
    assert variant["convolutional/Conv2d/dense-b1"] == pytest.approx(1.1, rel=0.02)
    assert variant["convolutional/Conv2d/dense-bN"] == pytest.approx(1.05, rel=0.02)
    # a sampled grouped convolution at batch 8: no zoo rows of its variant, so the operation's factor
    sampled = pd.concat([_convs(1, 64, 64, 1, np.nan), _convs(1, 8, 64, 8, np.nan)], ignore_index=True)
    factors = context_factors(sampled, context)
    assert factors[0] == pytest.approx(1.4, rel=0.02)
    assert factors[1] == pytest.approx(context["op"]["convolutional/Conv2d"])
    # a manifest written before variants existed: the operation's factor
    old = {"kind": context["kind"], "op": context["op"]}
    assert context_factors(sampled, old).tolist() == [context["op"]["convolutional/Conv2d"]] * 2
