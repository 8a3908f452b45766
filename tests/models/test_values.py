"""The value pass (the share of subnormal inputs per layer call, as a feature) and view modules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from layerpower.models.layers import extract_layers
from layerpower.models.spec import feature_row
from layerpower.models.values import model_subnormal_shares, subnormal_share
from layerpower.predictors.features import fit_feature_spec, transform


def test_share_counts_only_subnormal_floats():
    tiny = torch.finfo(torch.float32).tiny
    x = torch.tensor([0.0, 1.0, tiny / 4, -tiny / 8, tiny, 2.0, 3.0, 4.0])
    assert subnormal_share([x]) == pytest.approx(2 / 8)
    assert subnormal_share([x, torch.ones(8)]) == pytest.approx(2 / 16)
    assert subnormal_share([torch.arange(4), "not a tensor"]) == 0.0
    assert subnormal_share([]) == 0.0


class MaskedAttention(nn.Module):
    """Softmax over logits masked with -100 (as swin's shifted windows), then a product with the values."""

    input_shape = (16, 8)

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = x @ x.transpose(-2, -1)
        mask = logits.new_zeros(16, 16)
        mask[:, 8:] = -100.0
        weights = torch.softmax(logits * 0 + mask, dim=-1)  # exp(-100) / 8: subnormal in float32
        return self.proj(weights @ x)


def test_masked_softmax_output_is_seen_by_the_next_product():
    shares = model_subnormal_shares(MaskedAttention())
    assert list(shares) == [("matmul_1", 0)]
    # half the weights are exp(-100)/8, subnormal; the other operand has none: 128 of 256 + 128 elements
    assert shares[("matmul_1", 0)] == pytest.approx(128 / (256 + 128))


def test_extract_layers_sets_the_share_and_the_feature_row():
    specs = {spec.name: spec for spec in extract_layers(MaskedAttention(), batch_size=4)}
    assert specs["matmul_1"].subnormal_share > 0.3
    assert specs["proj"].subnormal_share == 0.0 and specs["matmul_0"].subnormal_share == 0.0
    assert feature_row(specs["matmul_1"])["subnormal_share"] == specs["matmul_1"].subnormal_share
    without = {spec.name: spec for spec in extract_layers(MaskedAttention(), batch_size=4, values=False)}
    assert without["matmul_1"].subnormal_share == 0.0
    assert without["matmul_1"].config_key() == specs["matmul_1"].config_key()


def test_a_model_that_cannot_run_gives_no_shares(caplog: pytest.LogCaptureFixture):
    class Broken(nn.Module):
        input_shape = (3,)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("no values here")

    assert model_subnormal_shares(Broken()) == {}
    assert "not measured" in caplog.text


def test_rows_without_the_column_read_as_zero():
    frame = pd.DataFrame(
        {
            "batch_size": [1, 8],
            "input_size": [64, 64],
            "output_size": [32, 32],
            "rows": [1, 8],
            "flops": [4096, 32768],
            "params": [2080, 2080],
            "bytes_read": [8576, 10368],
            "bytes_written": [128, 1024],
            "arithmetic_intensity": [0.5, 3.0],
        }
    )
    spec = fit_feature_spec(frame, "dense", "xgboost")
    assert "subnormal_share" in spec.columns and "subnormal_share" not in spec.log_columns
    column = spec.columns.index("subnormal_share")
    assert np.all(transform(frame, spec)[:, column] == 0.0)
    with_share = frame.assign(subnormal_share=[0.25, np.nan])
    assert transform(with_share, spec)[:, column].tolist() == [0.25, 0.0]


def test_view_modules_are_pass_through():
    from torchvision.models.maxvit import SwapAxes
    from torchvision.ops.misc import Permute

    from layerpower.models.trace import is_passthrough

    class Views(nn.Module):
        input_shape = (4, 6)

        def __init__(self) -> None:
            super().__init__()
            self.swap = SwapAxes(1, 2)
            self.permute = Permute([0, 2, 1])
            self.proj = nn.Linear(6, 4)  # (4, 6) -> swapped (6, 4) -> permuted back (4, 6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.proj(self.permute(self.swap(x)))

    assert is_passthrough(SwapAxes(1, 2)) and is_passthrough(Permute([0, 1]))
    assert [s.name for s in extract_layers(Views(), values=False)] == ["proj"]
