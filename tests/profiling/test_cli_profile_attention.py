"""``profile-model`` on a tiny transformer writes ``attention.csv``, and ``build_dataset`` reads it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from test_cli_profile import QUICK

from layerpower.cli.profile import profile_model
from layerpower.config.schema import LAYER_COLUMNS
from layerpower.dataset import build_dataset
from layerpower.hardware import device_id

TINY_TRANSFORMER = textwrap.dedent(
    """
    from layerpower.models.transformers import Gpt2SmallLike


    def build():
        return Gpt2SmallLike(16, layers=2, width=32, heads=4, ffn=64, vocab_size=100)
    """
)


@pytest.fixture
def tiny_transformer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "lp_tiny_transformer.py").write_text(TINY_TRANSFORMER)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "lp_tiny_transformer"


def test_attention_csv_is_written_and_merged(tmp_path: Path, tiny_transformer: str) -> None:
    out = tmp_path / "data"
    result = CliRunner().invoke(
        profile_model, [f"{tiny_transformer}:build", "--out", str(out), *QUICK], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    folder = out / device_id("cpu") / f"{tiny_transformer}_build"
    attention = pd.read_csv(folder / "attention.csv", keep_default_na=False)
    assert list(attention.columns) == LAYER_COLUMNS["attention"]
    assert list(attention["layer_name"]) == ["blocks.0.attn", "blocks.1.attn"]
    assert set(attention["layer_type"]) == {"MultiheadAttention"}
    assert list(attention.loc[0, ["seq_q", "seq_k", "heads", "head_dim", "embed_dim"]]) == [16, 16, 4, 8, 32]
    assert list(attention.loc[0, ["causal", "masked", "fused"]]) == [1, 1, 1]
    assert attention.loc[1, "measured_as"] == "blocks.0.attn"  # identical calls: measured once
    assert (attention["runtime_isolated_s"] > 0).all() and (attention["energy_j"] > 0).all()
    other = pd.read_csv(folder / "other.csv", keep_default_na=False)
    assert {"Embedding", "LayerNorm", "GELU"} <= set(other["layer_type"])

    merged = build_dataset(out, out=tmp_path / "datasets", progress=False)
    frame = pd.read_parquet(merged.out / "attention.parquet")
    assert list(frame.columns) == [*LAYER_COLUMNS["attention"], "source"]
    assert len(frame) == 2 and set(frame["causal"]) == {1}
    assert merged.summary["rows"]["attention"] == 2
