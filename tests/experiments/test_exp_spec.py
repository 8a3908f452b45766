"""The declarative parts of the experiments: tasks, precisions, configs, run names and data readers."""

from __future__ import annotations

import gzip
import struct
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from layerpower.errors import LayerpowerError
from layerpower.experiments.config import RunConfig, parse_run_name
from layerpower.experiments.data import load_dataset, read_cifar_batch, read_idx, resolve_dataset
from layerpower.experiments.precision import PRECISIONS, canonical_precision, get_precision
from layerpower.experiments.runner import plan_runs
from layerpower.experiments.tasks import TASKS, get_task, layer_shapes, model_layers, parameter_count


def test_parameter_count_from_spec_matches_hand_count() -> None:
    # mlp simple on 8x8x1 digits: flatten 64 -> dense 64 -> dense 10
    assert parameter_count(get_task("mlp", "simple"), (8, 8, 1), 10) == 64 * 64 + 64 + 64 * 10 + 10
    # lstm simple: one bias vector per gate, then dense 32 -> 1
    assert parameter_count(get_task("lstm", "simple"), (32, 1), 1) == 4 * 32 * (1 + 32) + 4 * 32 + 33


def test_every_task_ends_in_its_output_layer_and_shapes_flow() -> None:
    for task in TASKS.values():
        shape = (8, 8, 1) if task.problem == "classification" else (32, 1)
        outputs = 10 if task.problem == "classification" else 1
        shapes = layer_shapes(model_layers(task, outputs), shape)
        assert shapes[-1] == (outputs,)
    assert parameter_count(get_task("cnn", "complex"), (8, 8, 1), 10) > parameter_count(
        get_task("cnn", "simple"), (8, 8, 1), 10
    )


def test_unknown_task_is_a_clear_error() -> None:
    with pytest.raises(LayerpowerError, match="unknown task"):
        get_task("transformer", "simple")


def test_precision_names_are_the_studys_and_aliases_normalise() -> None:
    assert tuple(PRECISIONS) == ("fp32", "fp16", "bf16", "mixed_fp16", "mixed_bf16")
    assert canonical_precision("mixed-fp16") == "mixed_fp16"
    assert canonical_precision(" Mixed_BF16 ") == "mixed_bf16"
    assert get_precision("MIXED-BF16").compute_dtype == "bfloat16"
    assert get_precision("mixed_fp16").loss_scaling and get_precision("mixed-fp16").is_mixed
    assert not get_precision("fp16").is_mixed
    with pytest.raises(LayerpowerError, match="unknown precision 'fp8'"):
        canonical_precision("fp8")


def test_run_name_round_trips_with_hyphenated_fields() -> None:
    config = RunConfig("tf-keras", "cnn", "complex", "mixed-bf16", 43)
    assert config.precision == "mixed_bf16"
    name = config.run_name(datetime(2025, 1, 2, 3, 4, 5))
    assert name == "20250102-030405_tf-keras_cnn_complex_mixed_bf16_43"
    fields = parse_run_name(name)
    assert fields["backend"] == "tf-keras"
    assert fields["precision"] == "mixed_bf16"
    assert fields["seed"] == 43
    # the study splits names with split("_", 4) and rsplit("_", 1)
    timestamp, backend, model, complexity, right = name.split("_", 4)
    assert (backend, model, complexity, *right.rsplit("_", 1)) == (
        "tf-keras",
        "cnn",
        "complex",
        "mixed_bf16",
        "43",
    )
    assert config.run_dir("results").parent == Path("results") / "43"
    with pytest.raises(LayerpowerError):
        parse_run_name("results_tf_keras_cnn")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend": "mxnet"}, "unknown backend"),
        ({"model": "gpt"}, "unknown model"),
        ({"complexity": "huge"}, "unknown complexity"),
        ({"precision": "int8"}, "unknown precision"),
        ({"epochs": 0}, "epochs must be a positive"),
    ],
)
def test_bad_config_values_are_refused(kwargs: dict, message: str) -> None:
    base = {"backend": "torch", "model": "mlp", "complexity": "simple", "precision": "fp32", "seed": 1}
    with pytest.raises(LayerpowerError, match=message):
        RunConfig(**{**base, **kwargs})


def test_plan_is_the_product_and_collapses_aliases() -> None:
    configs = plan_runs(["torch", "jax"], ["mlp", "lstm"], ["simple"], ["mixed_fp16", "mixed-fp16"], [1, 2])
    assert len(configs) == 2 * 2 * 1 * 1 * 2
    assert {c.dataset for c in configs} == {"digits", "sequence"}
    assert [c.seed for c in configs[:4]] == [1, 1, 1, 1]  # seed-major


def test_digits_and_sequence_data() -> None:
    digits = load_dataset("digits")
    assert digits.input_shape == (8, 8, 1) and digits.n_outputs == 10
    assert len(digits.x_train) + len(digits.x_val) + len(digits.x_test) == 1797
    assert digits.x_train.dtype == np.float32 and digits.x_train.min() >= 0.0 and digits.x_train.max() <= 1.0
    seq = load_dataset("sequence", limit=100)
    assert seq.input_shape == (32, 1) and seq.y_train.shape == (100, 1) and len(seq.x_val) == 25
    again = load_dataset("sequence", limit=100)
    np.testing.assert_array_equal(seq.x_train, again.x_train)  # independent of any run seed


def _write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


def test_mnist_idx_folder_is_detected_and_read(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for split, n, compress in (("train", 50, True), ("t10k", 10, False)):
        suffix = ".gz" if compress else ""
        _write_idx(
            tmp_path / f"{split}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)), compress
        )
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, (n,)), compress)
    assert resolve_dataset("cnn", "auto", tmp_path) == "mnist"
    assert resolve_dataset("lstm", "auto", tmp_path) == "sequence"
    data = load_dataset("mnist", tmp_path)
    assert data.input_shape == (28, 28, 1)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (45, 5, 10)


def test_truncated_idx_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t10k-labels-idx1-ubyte"
    _write_idx(path, np.zeros(10), compress=False)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(LayerpowerError, match="header"):
        read_idx(path)


def test_cifar_binary_batches_are_read_and_pickles_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = rng.integers(0, 10, (4, 1), dtype=np.uint8)
        pixels = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        (folder / name).write_bytes(np.concatenate([labels, pixels], axis=1).tobytes())
    images, labels = read_cifar_batch(folder / "test_batch.bin")
    assert images.shape == (4, 32, 32, 3) and labels.shape == (4,)
    assert resolve_dataset("mlp", "auto", tmp_path) == "cifar10"
    data = load_dataset("cifar10", tmp_path)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (16, 4, 4)

    pickled = tmp_path / "py" / "cifar-10-batches-py"
    pickled.mkdir(parents=True)
    (pickled / "data_batch_1").write_bytes(b"not read")
    with pytest.raises(LayerpowerError, match="no CIFAR-10 binary batches"):
        load_dataset("cifar10", tmp_path / "py")


def test_image_dataset_needs_a_folder() -> None:
    with pytest.raises(LayerpowerError, match="needs --data-dir"):
        resolve_dataset("cnn", "mnist", None)
