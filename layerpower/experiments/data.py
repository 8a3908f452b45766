"""The data of the experiment tasks, as numpy arrays (never downloaded).

* ``digits`` (default for ``mlp`` and ``cnn``): scikit-learn's bundled 8x8 handwritten digits, 10 classes,
  pixels scaled to [0, 1]; split 60/20/20 into train/validation/test, stratified, with a fixed seed.
* ``mnist``: the four raw IDX files from a local folder (``--data-dir``), optionally gzipped::

      train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]
      t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]

  (``train-images.idx3-ubyte`` spellings are accepted too). The last 10% of the training file is the
  validation split; the t10k files are the test split.
* ``cifar10``: the *binary* version of CIFAR-10 (``cifar-10-batches-bin``: ``data_batch_1.bin`` ...
  ``data_batch_5.bin``, ``test_batch.bin``; 3073-byte records: label, then 3x32x32 pixels), either in the
  folder itself or in its ``cifar-10-batches-bin`` subfolder. The Python version is pickled and is refused:
  this package never unpickles a file. ``data_batch_5`` is the validation split.
* ``sequence`` (always used by ``lstm``): a generated regression task. Each sample is 32 steps of a noisy
  sine wave with random amplitude, frequency and phase; the target is the next, noise-free value. The loss
  is the mean squared error and the metric the mean absolute error.

Images are float32, channels-last ``(n, height, width, channels)``; labels are int32. The data and the
splits do not depend on the run seed, so every run of a sweep sees the same samples.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layerpower.errors import LayerpowerError
from layerpower.experiments.tasks import CLASSIFICATION, REGRESSION

DATASETS: tuple[str, ...] = ("digits", "mnist", "cifar10", "sequence")
#: seed of the data generator and of the splits (independent of the run seed)
DATA_SEED = 0
SEQUENCE_SAMPLES = 3000
SEQUENCE_STEPS = 32


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test arrays of one task."""

    name: str
    problem: str  # classification | regression
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_outputs: int  # classes, or 1 for regression

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample (without batch)."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    def limited(self, limit: int | None) -> Dataset:
        """A copy with at most ``limit`` training samples and ``limit // 4`` (>= 1) validation/test ones."""
        if not limit:
            return self
        small = max(1, limit // 4)
        return Dataset(
            self.name,
            self.problem,
            self.x_train[:limit],
            self.y_train[:limit],
            self.x_val[:small],
            self.y_val[:small],
            self.x_test[:small],
            self.y_test[:small],
            self.n_outputs,
        )


def resolve_dataset(model: str, dataset: str | None, data_dir: str | Path | None) -> str:
    """The dataset a ``model`` uses: ``sequence`` for lstm; else ``dataset``, detected from ``data_dir``,
    or ``digits``."""
    if model == "lstm":
        return "sequence"
    if dataset and dataset != "auto":
        if dataset not in DATASETS or dataset == "sequence":
            raise LayerpowerError(f"unknown image dataset {dataset!r}", "choose digits, mnist or cifar10")
        if dataset in ("mnist", "cifar10") and not data_dir:
            raise LayerpowerError(f"dataset {dataset!r} needs --data-dir", "it is read from a local folder")
        return dataset
    if not data_dir:
        return "digits"
    root = Path(data_dir)
    if _cifar_dir(root) is not None:
        return "cifar10"
    if _idx_file(root, "train", "images", required=False) is not None:
        return "mnist"
    raise LayerpowerError(
        f"no MNIST idx files or CIFAR-10 binary batches found in {root}",
        "expected train-images-idx3-ubyte[.gz] ... or cifar-10-batches-bin/data_batch_1.bin ...",
    )


def load_dataset(name: str, data_dir: str | Path | None = None, limit: int | None = None) -> Dataset:
    """Load dataset ``name`` (``digits``, ``mnist``, ``cifar10``, ``sequence``), capped by ``limit``."""
    if name == "digits":
        data = _digits()
    elif name == "sequence":
        data = _sequence()
    elif name == "mnist":
        data = _mnist(Path(_need_dir(name, data_dir)))
    elif name == "cifar10":
        data = _cifar10(Path(_need_dir(name, data_dir)))
    else:
        raise LayerpowerError(f"unknown dataset {name!r}", f"choose from {', '.join(DATASETS)}")
    return data.limited(limit)


def _need_dir(name: str, data_dir: str | Path | None) -> str | Path:
    if not data_dir:
        raise LayerpowerError(f"dataset {name!r} needs --data-dir", "it is read from a local folder")
    if not Path(data_dir).is_dir():
        raise LayerpowerError(f"data folder {data_dir} does not exist")
    return data_dir


def _split(x: np.ndarray, y: np.ndarray, stratify: bool) -> tuple[np.ndarray, ...]:
    from sklearn.model_selection import train_test_split

    strat = y if stratify else None
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.4, random_state=DATA_SEED, stratify=strat
    )
    strat = y_rest if stratify else None
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=DATA_SEED, stratify=strat
    )
    return x_train, y_train, x_val, y_val, x_test, y_test


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[..., None]
    y = bunch.target.astype(np.int32)
    return Dataset("digits", CLASSIFICATION, *_split(x, y, stratify=True), n_outputs=10)


def _sequence() -> Dataset:
    rng = np.random.default_rng(DATA_SEED)
    n, steps = SEQUENCE_SAMPLES, SEQUENCE_STEPS
    amplitude = rng.uniform(0.5, 1.5, size=(n, 1))
    frequency = rng.uniform(0.1, 0.5, size=(n, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n, 1))
    t = np.arange(steps + 1)[None, :]
    clean = amplitude * np.sin(frequency * t + phase)
    noisy = clean[:, :steps] + rng.normal(0.0, 0.05, size=(n, steps))
    x = noisy[..., None].astype(np.float32)
    y = clean[:, steps:].astype(np.float32)
    return Dataset("sequence", REGRESSION, *_split(x, y, stratify=False), n_outputs=1)


# -- MNIST (raw IDX files) -------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _idx_file(root: Path, split: str, what: str, required: bool = True) -> Path | None:
    ndim = 3 if what == "images" else 1
    for sep in ("-", "."):
        for suffix in ("", ".gz"):
            path = root / f"{split}-{what}{sep}idx{ndim}-ubyte{suffix}"
            if path.is_file():
                return path
    if required:
        raise LayerpowerError(
            f"MNIST file {split}-{what}-idx{ndim}-ubyte[.gz] not found in {root}",
            "give the folder holding the four raw IDX files",
        )
    return None


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a numpy array, checking its header and size."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise LayerpowerError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise LayerpowerError(f"{path} holds {len(raw)} bytes; its header {dims} needs {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _mnist(root: Path) -> Dataset:
    def pair(split: str) -> tuple[np.ndarray, np.ndarray]:
        images = read_idx(_idx_file(root, split, "images"))  # type: ignore[arg-type]
        labels = read_idx(_idx_file(root, split, "labels"))  # type: ignore[arg-type]
        if images.ndim != 3 or len(images) != len(labels):
            raise LayerpowerError(f"MNIST {split} images {images.shape} do not match labels {labels.shape}")
        return (images.astype(np.float32) / 255.0)[..., None], labels.astype(np.int32)

    x, y = pair("train")
    x_test, y_test = pair("t10k")
    cut = len(x) - len(x) // 10
    return Dataset("mnist", CLASSIFICATION, x[:cut], y[:cut], x[cut:], y[cut:], x_test, y_test, n_outputs=10)


# -- CIFAR-10 (binary batches) ---------------------------------------------------------------------------

_CIFAR_RECORD = 1 + 3 * 32 * 32


def _cifar_dir(root: Path) -> Path | None:
    for candidate in (root, root / "cifar-10-batches-bin"):
        if (candidate / "data_batch_1.bin").is_file():
            return candidate
    return None


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 binary batch: images ``(n, 32, 32, 3)`` float32 in [0, 1], labels int32."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % _CIFAR_RECORD:
        raise LayerpowerError(f"{path} is not a CIFAR-10 binary batch ({raw.size} bytes, records are 3073)")
    records = raw.reshape(-1, _CIFAR_RECORD)
    labels = records[:, 0].astype(np.int32)
    if labels.max() > 9:
        raise LayerpowerError(f"{path} has labels above 9: not a CIFAR-10 binary batch")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 255.0
    return images, labels


def _cifar10(root: Path) -> Dataset:
    folder = _cifar_dir(root)
    if folder is None:
        pickled = root / "cifar-10-batches-py"
        hint = (
            "the Python (pickled) version is not read; download the binary version"
            if pickled.exists() or (root / "data_batch_1").exists()
            else "expected cifar-10-batches-bin/data_batch_1.bin ... test_batch.bin"
        )
        raise LayerpowerError(f"no CIFAR-10 binary batches in {root}", hint)
    batches = []
    for i in range(1, 6):
        path = folder / f"data_batch_{i}.bin"
        if not path.is_file():
            raise LayerpowerError(f"CIFAR-10 batch {path} is missing")
        batches.append(read_cifar_batch(path))
    test = folder / "test_batch.bin"
    if not test.is_file():
        raise LayerpowerError(f"CIFAR-10 batch {test} is missing")
    x_test, y_test = read_cifar_batch(test)
    x_train = np.concatenate([b[0] for b in batches[:4]])
    y_train = np.concatenate([b[1] for b in batches[:4]])
    x_val, y_val = batches[4]
    return Dataset("cifar10", CLASSIFICATION, x_train, y_train, x_val, y_val, x_test, y_test, n_outputs=10)
