"""Size extrapolation per family, and training on zoo + sampled rows (context factor, always training side)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic_layers import FAST_PARAMS, _conv, synthetic_model

from layerpower.predictors.data import load_training_set
from layerpower.predictors.energy import spec_frame
from layerpower.predictors.evaluation import fit_routers, lomo_predictions
from layerpower.predictors.sampled import SAMPLED_MODEL, fit_context_factor, with_context_runtime
from layerpower.predictors.training import EXTRAPOLATING, SATURATING, train_predictors


def _scaled_convs(layers: pd.DataFrame) -> pd.DataFrame:
    """The largest-FLOPs conv layer seen, and the same layer with 2x and 4x the output channels (FLOPs)."""
    conv = layers[layers["kind"] == "convolutional"]
    r = conv.loc[conv["flops"].astype(float).idxmax()]
    b, cin, h = int(r.batch_size), int(r.input_size_0), int(r.input_size_1)
    cout, k, s = int(r.output_size_0), int(r.kernel_0), int(r.stride_0)
    return spec_frame([_conv("c", b, cin, h, cout * m, k, s)[0] for m in (1, 2, 4)])


@pytest.mark.parametrize("family", ["xgboost", "random-forest", "polynomial"])
def test_runtime_beyond_the_largest_layer(synthetic_dataset, family):
    data = load_training_set(synthetic_dataset)
    routers = fit_routers(data.layers, family, FAST_PARAMS[family])
    pred = routers["runtime_s"].predict(_scaled_convs(data.layers))
    ratio = pred / pred[0]
    if family in EXTRAPOLATING:  # about 2x and 4x the work: about 2x and 4x the time
        assert 1.6 < ratio[1] < 2.5 and 3.0 < ratio[2] < 5.0, ratio
    else:  # the forest saturates at the largest runtime it saw: why "best" never picks it
        assert family in SATURATING and ratio[2] < 1.2, ratio


def _sampled_rows(data, n: int = 40) -> pd.DataFrame:
    specs = [s for i in range(20, 26) for s in synthetic_model(i, 2)][:n]
    frame = spec_frame(specs)
    rng = np.random.default_rng(0)
    frame["runtime_isolated_s"] = [2e-5 * (1 + f / 1e7) * rng.lognormal(0, 0.03) for f in frame["flops"]]
    frame["runtime_s"] = np.nan
    frame["power_w"] = 30.0
    frame["model"] = SAMPLED_MODEL
    frame["device_id"] = data.device_id
    frame["power_source"] = data.power_source
    frame["dtype"] = "float32"
    return frame


def test_context_factor_from_zoo_rows(synthetic_dataset):
    data = load_training_set(synthetic_dataset)
    context = fit_context_factor(data.layers)
    for kind, factor in context["kind"].items():  # synthetic: isolated = 0.9 x in context
        assert factor == pytest.approx(1 / 0.9, rel=1e-6), kind
    rows = with_context_runtime(_sampled_rows(data), context)
    np.testing.assert_allclose(rows["runtime_s"], rows["runtime_isolated_s"] / 0.9, rtol=1e-6)


def test_sampled_rows_train_but_are_never_held_out(synthetic_dataset, tmp_path):
    data = load_training_set(synthetic_dataset)
    data.sampled = _sampled_rows(data)
    held = lomo_predictions(data, "xgboost", FAST_PARAMS["xgboost"])
    assert SAMPLED_MODEL not in set(held["model"]) and len(held) == len(data.layers)
    result = train_predictors(data, family="best", out=tmp_path / "b", params=FAST_PARAMS)
    training = result.bundle.training
    assert training["context"]["kind"] and training["sampled_rows"]
    choice = training["family_choice"]
    assert choice["chosen"] in EXTRAPOLATING and set(choice["held_out_median_ape"]) == {
        "xgboost",
        "random-forest",
        "polynomial",
    }
    assert "random-forest" in choice["excluded_from_best"]
    assert (
        result.bundle.routers["runtime_s"].rows_["convolutional"]
        > (data.layers["kind"] == "convolutional").sum()
    )


def test_a_sampled_folder_the_dataset_already_holds_counts_each_layer_once(synthetic_dataset, tmp_path):
    """build-dataset merges _sampled/ into the dataset; passing that folder as well adds no second copy, and
    the folder's measurement of a layer wins over the dataset's."""
    import shutil

    data = load_training_set(synthetic_dataset)
    rows = _sampled_rows(data).assign(layer_name=lambda f: [f"s{i}" for i in range(len(f))])
    conv = rows[rows["kind"] == "convolutional"].drop(columns="kind")
    dataset = tmp_path / "dataset"
    shutil.copytree(synthetic_dataset, dataset)
    merged = pd.concat([pd.read_parquet(dataset / "convolutional.parquet"), conv], ignore_index=True)
    merged.to_parquet(dataset / "convolutional.parquet")
    folder = tmp_path / "_sampled"
    folder.mkdir()
    newer = conv.assign(runtime_isolated_s=conv["runtime_isolated_s"] * 2)
    newer.to_csv(folder / "convolutional.csv", index=False)

    alone = load_training_set(dataset)
    both = load_training_set(dataset, sampled=folder)
    assert len(alone.sampled) == len(conv) and len(both.sampled) == len(conv)
    by_name = both.sampled.set_index("layer_name")["runtime_isolated_s"]
    np.testing.assert_allclose(by_name[conv["layer_name"]], newer["runtime_isolated_s"])
    assert len(both.layers) == len(data.layers)
