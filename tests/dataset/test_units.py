"""Other tools' files: units from column names, arguments or units.json; the real peer files (µW, ms)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from profiled_files import PEER_DIR, copy_peer

from layerpower.config import CONV_FEATURES, POOLING_FEATURES
from layerpower.dataset import DatasetBuilder
from layerpower.errors import SchemaError

PEER_CONV = PEER_DIR / "convolutional.csv"
PEER_POOL = PEER_DIR / "pooling.csv"


def test_peer_files_are_refused_without_units() -> None:
    with pytest.raises(SchemaError) as info:
        DatasetBuilder().read_csv_and_convert_power(PEER_CONV)
    message = str(info.value)
    assert message.startswith(f"{PEER_CONV}: column 'power' does not say its unit")
    assert "power_unit=" in message and "--power-unit" in message and "units.json" in message


def test_runtime_unit_is_needed_too() -> None:
    with pytest.raises(SchemaError, match=r"column 'runtime' does not say its unit.*--runtime-unit"):
        DatasetBuilder(power_unit="uW").read_csv_and_convert_power(PEER_CONV)


def test_peer_microwatts_and_milliseconds_convert_to_si() -> None:
    raw = pd.read_csv(PEER_CONV)
    data = DatasetBuilder(CONV_FEATURES, power_unit="uW", runtime_unit="ms").merge_feature_data([PEER_CONV])
    assert len(data) == 53
    np.testing.assert_allclose(data.power, raw["power"] / 1e6)
    np.testing.assert_allclose(data.runtime, raw["runtime"] / 1e3)
    assert data.power.between(2.0, 3.0).all()  # ~2.37 W of dynamic power on the Orin
    assert data.runtime.lt(1e-3).all()
    assert set(data.model) == {"mobilenet_v2"}  # from the folder name
    assert set(data.source) == {"measured"}
    assert data.frame["layer_name"].tolist() == raw["layer_name"].tolist()
    np.testing.assert_array_equal(data.input_features.to_numpy(), raw[CONV_FEATURES].to_numpy(dtype=float))


def test_peer_pooling_file() -> None:
    data = DatasetBuilder(POOLING_FEATURES, power_unit="uW", runtime_unit="ms").merge_feature_data(
        [PEER_POOL]
    )
    assert len(data) == 1
    assert data.power.iloc[0] == pytest.approx(2375132.3347200486e-6)
    assert data.runtime.iloc[0] == pytest.approx(0.013387992538387497e-3)
    assert pd.isna(data.frame["padding_0"].iloc[0])  # not in the file: left empty, never invented


def test_milliwatt_column_name(tmp_path: Path) -> None:
    raw = pd.read_csv(PEER_CONV)
    path = tmp_path / "mobilenet_v2" / "convolutional.csv"
    path.parent.mkdir()
    converted = raw.assign(power_mw=raw["power"] / 1e3, runtime_us=raw["runtime"] * 1e3)
    converted.drop(columns=["power", "runtime"]).to_csv(path, index=False)
    frame = DatasetBuilder().read_csv_and_convert_power(path)  # units from the column names alone
    np.testing.assert_allclose(frame["power_w"], raw["power"] / 1e6)
    np.testing.assert_allclose(frame["runtime_s"], raw["runtime"] / 1e3)


def test_units_sidecar(tmp_path: Path) -> None:
    folder = copy_peer(tmp_path / "mobilenet_v2")
    sidecar = {
        "power": "uW",
        "runtime": "ms",
        "power_source": "jetson",
        "idle_subtracted": True,
        "device_id": "jetson-agx-orin",
        "dtype": "float16",
    }
    (folder / "units.json").write_text(json.dumps(sidecar))
    data = DatasetBuilder().merge_feature_data([folder / "convolutional.csv"])
    assert data.power_column == "dynamic_power_w"  # idle subtracted: dynamic power, not total
    assert data.frame["power_w"].isna().all()
    np.testing.assert_allclose(data.power, pd.read_csv(PEER_CONV)["power"] / 1e6)
    assert data.device_id == "jetson-agx-orin"
    assert set(data.frame["dtype"]) == {"float16"}
    assert set(data.frame["power_source"]) == {"jetson"}
    assert set(data.source) == {"measured"}


def test_sidecar_with_idle_power_gives_total_power(tmp_path: Path) -> None:
    folder = copy_peer(tmp_path / "mobilenet_v2")
    (folder / "units.json").write_text(
        json.dumps({"power": "uW", "runtime": "ms", "idle_subtracted": True, "idle_power_w": 4.66})
    )
    data = DatasetBuilder().merge_feature_data([folder / "convolutional.csv"])
    assert data.power_column == "power_w"
    np.testing.assert_allclose(data.power, pd.read_csv(PEER_CONV)["power"] / 1e6 + 4.66)


def test_sidecar_and_argument_must_agree(tmp_path: Path) -> None:
    folder = copy_peer(tmp_path / "mobilenet_v2")
    (folder / "units.json").write_text(json.dumps({"power": "uW", "runtime": "ms"}))
    with pytest.raises(SchemaError, match=r"'uW' in its units.json but 'mW' was passed"):
        DatasetBuilder(power_unit="mW").read_csv_and_convert_power(folder / "convolutional.csv")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ({"power": "kW"}, "unknown power unit 'kW'"),
        ({"runtime": "min"}, "unknown runtime unit 'min'"),
        ({"watts": "uW"}, "unknown key"),
        ({"power_source": "guess"}, "key 'power_source'"),
        ({"idle_subtracted": "yes"}, "'idle_subtracted' must be true or false"),
    ],
)
def test_bad_sidecar(tmp_path: Path, content: dict, match: str) -> None:
    folder = copy_peer(tmp_path / "mobilenet_v2")
    (folder / "units.json").write_text(json.dumps(content))
    with pytest.raises(SchemaError, match=match) as info:
        DatasetBuilder(power_unit="uW", runtime_unit="ms").read_csv_and_convert_power(
            folder / "convolutional.csv"
        )
    assert str(folder / "units.json") in str(info.value)


def test_unknown_unit_argument() -> None:
    with pytest.raises(SchemaError, match="unknown power unit 'MW'"):
        DatasetBuilder(power_unit="MW")


def test_negative_foreign_power_suggests_idle_subtracted(tmp_path: Path) -> None:
    folder = copy_peer(tmp_path / "mobilenet_v2")
    raw = pd.read_csv(folder / "convolutional.csv")
    raw.loc[4, "power"] = -1200.0
    raw.to_csv(folder / "convolutional.csv", index=False)
    with pytest.raises(SchemaError) as info:
        DatasetBuilder(power_unit="uW", runtime_unit="ms").merge_feature_data([folder / "convolutional.csv"])
    message = str(info.value)
    assert (
        f"{folder / 'convolutional.csv'}: data row 5, column 'power': power must be >= 0 (got -1200.0)"
        in message
    )
    assert "--idle-subtracted" in message
    data = DatasetBuilder(power_unit="uW", runtime_unit="ms", idle_subtracted=True).merge_feature_data(
        [folder / "convolutional.csv"]
    )
    assert data.power.iloc[4] == pytest.approx(-1200e-6)


def test_foreign_file_missing_a_feature(tmp_path: Path) -> None:
    folder = copy_peer(tmp_path / "mobilenet_v2")
    pd.read_csv(PEER_CONV).drop(columns=["stride_1"]).to_csv(folder / "convolutional.csv", index=False)
    with pytest.raises(SchemaError, match=r"header \(line 1\): missing feature column\(s\) 'stride_1'"):
        DatasetBuilder(power_unit="uW", runtime_unit="ms").merge_feature_data([folder / "convolutional.csv"])


def test_foreign_file_unknown_column(tmp_path: Path) -> None:
    folder = copy_peer(tmp_path / "mobilenet_v2")
    pd.read_csv(PEER_CONV).assign(temperature=40).to_csv(folder / "convolutional.csv", index=False)
    with pytest.raises(SchemaError, match=r"header \(line 1\), column 'temperature': is not known"):
        DatasetBuilder(power_unit="uW", runtime_unit="ms").merge_feature_data([folder / "convolutional.csv"])


def test_two_power_columns_are_ambiguous(tmp_path: Path) -> None:
    folder = copy_peer(tmp_path / "mobilenet_v2")
    raw = pd.read_csv(PEER_CONV)
    raw.assign(power_mw=raw["power"] / 1e3).to_csv(folder / "convolutional.csv", index=False)
    with pytest.raises(SchemaError, match=r"several power columns \(power, power_mw\)"):
        DatasetBuilder(power_unit="uW", runtime_unit="ms").merge_feature_data([folder / "convolutional.csv"])


def test_total_and_dynamic_power_targets(tmp_path: Path, profile) -> None:
    ours = profile() / "convolutional.csv"
    folder = copy_peer(tmp_path / "mobilenet_v2")
    files = [ours, folder / "convolutional.csv"]
    # our rows carry both total and dynamic power, so an idle-subtracted peer file merges on dynamic power
    options = dict(power_unit="uW", runtime_unit="ms", idle_subtracted=True, allow_mixed_devices=True)
    data = DatasetBuilder(**options).merge_feature_data(files)
    assert data.power_column == "dynamic_power_w"
    assert len(data) == 4 + 53 and data.power.notna().all() and data.notes == []
    # asking for total power leaves the idle-subtracted rows out, and says so
    total = DatasetBuilder(**options, power_target="total").merge_feature_data(files)
    assert total.power_column == "power_w" and len(total) == 4
    assert total.notes == [
        f"53 row(s) left out: column 'power_w' empty (no total power), first {folder / 'convolutional.csv'}: data row 1"
    ]
    with pytest.raises(SchemaError, match="no convolutional rows left to merge"):
        DatasetBuilder(**options, power_target="total").merge_feature_data(files[1:])
