"""Run one experiment in this process: ``python -m layerpower.experiments.run_one CONFIG_JSON RUN_DIR``.

The runner starts one such process per run, so backends never share a process. The run seeds every
library, loads its data, builds its model, then trains and tests it, each phase under a background
:class:`~layerpower.profiling.sampler.Sampler` that records power, utilisation and memory. It writes into a
hidden partial folder and renames it to ``RUN_DIR`` at the end (see :mod:`layerpower.experiments.rundir`);
on an exception ``RUN_DIR`` holds only ``config.json`` and ``error.txt``. Exit status: 0 done, 1 failed,
2 bad arguments.

Files of a finished run (all CSV without index):

* ``train.csv``: ``epoch, loss, <metric>, val_loss, val_<metric>, epoch_time`` (metric ``accuracy`` or
  ``mae``; ``epoch_time`` in seconds, training and validation pass);
* ``test.csv``: ``loss, <metric>`` on the test split;
* ``train_samples.csv``, ``test_samples.csv``: the sampler's series during each phase;
* ``global_metrics.csv``: one row, see :data:`GLOBAL_COLUMNS`; ``<phase>_energy_method`` says whether a
  phase's energy was integrated from the samples or taken from a meter window (phases shorter than three
  sampling intervals), ``<phase>_energy_note`` why (NaN energy: why it was not measurable);
* ``config.json``: the :class:`RunConfig` fields, the run name, start time and library versions.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import layerpower
from layerpower.experiments.backends import backend_class
from layerpower.experiments.backends.base import EpochRecord, metric_name
from layerpower.experiments.config import CONFIG_SCHEMA_VERSION, RunConfig
from layerpower.experiments.data import load_dataset, resolve_dataset
from layerpower.experiments.precision import get_precision
from layerpower.experiments.rundir import CONFIG_FILE, partial_dir, write_failure
from layerpower.experiments.tasks import get_task, model_layers
from layerpower.io import write_csv_atomic, write_json_atomic

#: columns of global_metrics.csv (times in seconds, energy in joules, memory in bytes)
GLOBAL_COLUMNS: tuple[str, ...] = (
    "training_time",
    "testing_time",
    "training_energy_j",
    "testing_energy_j",
    "training_energy_method",
    "testing_energy_method",
    "training_energy_note",
    "testing_energy_note",
    "energy_source",
    "energy_is_estimate",
    "training_cpu_energy_j",
    "testing_cpu_energy_j",
    "cpu_energy_source",
    "cpu_energy_is_estimate",
    "training_gpu_energy_j",
    "testing_gpu_energy_j",
    "gpu_energy_source",
    "peak_memory_bytes",
    "peak_accelerator_memory_bytes",
    "parameter_count",
    "device",
)


@dataclass
class Phase:
    """What the sampler saw during one phase (training or testing): seconds, joules per device, samples."""

    seconds: float = float("nan")
    energy_j: dict[str, float] = field(default_factory=dict)  # "cpu", "gpu0", ...
    energy_method: str = ""  # integrated | window | none (see phase_energy)
    energy_note: str = ""  # why a window or NaN was used; empty when integrated
    provenance: dict[str, Any] = field(default_factory=dict)
    samples: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def total_energy_j(self) -> float:
        """Energy of all sampled devices together (CPU and GPUs), in joules; NaN when not measurable."""
        return float(sum(self.energy_j.values())) if self.energy_j else float("nan")

    def device_energy_j(self, prefix: str) -> float:
        """Energy of the devices whose name starts with ``prefix`` (``cpu``, ``gpu``); NaN when none."""
        values = [v for k, v in self.energy_j.items() if k.startswith(prefix)]
        return float(sum(values)) if values else float("nan")


def config_document(config: RunConfig, run_name: str, started: datetime) -> dict[str, Any]:
    """The content of ``config.json``: the config fields plus where and when the run happened."""
    return {
        **config.to_dict(),
        "run_name": run_name,
        "started_at": started.isoformat(timespec="seconds"),
        "schema_version": CONFIG_SCHEMA_VERSION,
        "layerpower_version": layerpower.__version__,
        "python": sys.version.split()[0],
    }


def limit_threads(threads: int | None) -> None:
    """Cap the CPU threads of every library at ``threads`` (set before any of them is imported)."""
    if threads is None:
        return
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ[name] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    if threads == 1:
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()


def seed_everything(seed: int, backend: Any) -> None:
    """Seed python ``random``, numpy's global generator and the backend's libraries."""
    random.seed(seed)
    np.random.seed(seed)
    backend.set_seed(seed)


def peak_rss_bytes() -> int:
    """This process's peak resident memory in bytes (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def train_frame(records: list[EpochRecord], metric: str) -> pd.DataFrame:
    """``train.csv`` rows from the backend's epoch records."""
    return pd.DataFrame(
        {
            "epoch": [r.epoch for r in records],
            "loss": [r.loss for r in records],
            metric: [r.metric for r in records],
            "val_loss": [r.val_loss for r in records],
            f"val_{metric}": [r.val_metric for r in records],
            "epoch_time": [r.epoch_time for r in records],
        }
    )


class measured:
    """Context manager timing a block while a :class:`Sampler` records power, utilisation and memory.

    A meter window on each of the sampler's sources spans the block too. The phase's energy is the samples
    integrated over the block, or for a block shorter than three sampling intervals that window's energy
    (estimate: within its TDP; a sensor: when the window spans three update periods), else NaN with the
    reason in ``Phase.energy_note`` (see :func:`~layerpower.profiling.sampler.phase_energy`).
    """

    def __init__(self, config: RunConfig) -> None:
        from layerpower.profiling.sampler import Sampler

        source = None if config.power_source in (None, "", "auto") else config.power_source
        self.sampler = Sampler(interval_s=config.sample_interval_s, source=source, tdp_w=config.tdp_w)
        self.phase = Phase()

    def __enter__(self) -> Phase:
        from layerpower.profiling.meter import Meter

        self.sampler.start()
        try:
            sources = {"gpu": self.sampler.gpu_source, "cpu": self.sampler.cpu_source}
            self._windows = {
                kind: Meter(src, warn_short=False).window()
                for kind, src in sources.items()
                if src is not None
            }
            for window in self._windows.values():
                window.__enter__()
        except BaseException:
            self.sampler.close()
            raise
        self._start = time.perf_counter()
        return self.phase

    def __exit__(self, exc_type: object, *exc: object) -> None:
        from layerpower.profiling.sampler import phase_energy

        end = time.perf_counter()
        self.phase.seconds = end - self._start
        try:
            for window in self._windows.values():
                window.__exit__(exc_type, None, None)
            if exc_type is None:
                self.phase.samples = self.sampler.stop()
                window_j, window_s, note = self._window_energy()
                found = phase_energy(
                    self.phase.samples,
                    self.sampler.unix_time(self._start),
                    self.sampler.unix_time(end),
                    interval_s=self.sampler.interval_s,
                    window_j=window_j,
                    window_s=window_s,
                    window_note=note,
                    max_power_w=self.sampler.max_power_w(),
                    duration_s=self.phase.seconds,
                )
                self.phase.energy_j = found.energy_j
                self.phase.energy_method, self.phase.energy_note = found.method, found.note
                self.phase.provenance = self.sampler.provenance
        finally:
            self.sampler.close()

    def _window_energy(self) -> tuple[dict[str, float] | None, float | None, str]:
        """J per sampled device from the meter windows and their longest duration (s), or ``None`` and why
        they cannot be used."""
        energy: dict[str, float] = {}
        seconds = 0.0
        for kind, window in self._windows.items():
            m = window.result
            if m is None:
                return None, None, f"the {kind} meter window has no result"
            if m.short_window and not m.is_estimate:  # a sensor: the three-update-period rule
                return (
                    None,
                    None,
                    (
                        f"the {m.source} window of {m.duration_s * 1e3:.1f} ms is shorter than 3 sensor "
                        f"update periods ({m.update_period_s * 1e3:.1f} ms each)"
                    ),
                )
            if kind == "gpu":
                energy.update({d: m.per_device.get(d, float("nan")) for d in self.sampler.gpu_devices})
            else:
                energy["cpu"] = m.energy_j
            seconds = max(seconds, m.duration_s)
        return energy, seconds, ""


def energy_columns(training: Phase, testing: Phase) -> dict[str, Any]:
    """The energy part of ``global_metrics.csv``: totals and per device kind, each with its source.

    ``energy_source`` names every source in the totals (``estimate``, ``rapl``, ``nvml+estimate`` ...);
    ``energy_is_estimate`` is true when any part of them is an estimate.
    """
    prov = training.provenance
    gpu_source = prov.get("gpu_power_source", "")
    cpu_source = prov.get("cpu_power_source", "")
    parts = [name for name in (gpu_source, cpu_source) if name]
    return {
        "training_energy_j": training.total_energy_j,
        "testing_energy_j": testing.total_energy_j,
        "training_energy_method": training.energy_method,
        "testing_energy_method": testing.energy_method,
        "training_energy_note": training.energy_note,
        "testing_energy_note": testing.energy_note,
        "energy_source": "+".join(dict.fromkeys(parts)) or prov.get("source", ""),
        "energy_is_estimate": bool(prov.get("is_estimate", True) or prov.get("cpu_power_is_estimate", False)),
        "training_cpu_energy_j": training.device_energy_j("cpu"),
        "testing_cpu_energy_j": testing.device_energy_j("cpu"),
        "cpu_energy_source": cpu_source,
        "cpu_energy_is_estimate": bool(prov.get("cpu_power_is_estimate", False)),
        "training_gpu_energy_j": training.device_energy_j("gpu"),
        "testing_gpu_energy_j": testing.device_energy_j("gpu"),
        "gpu_energy_source": gpu_source,
    }


def execute(config: RunConfig, work: Path) -> dict[str, Any]:
    """Run ``config`` writing its CSV files into ``work``; return the environment for ``config.json``."""
    precision = get_precision(config.precision)
    limit_threads(config.threads)
    backend = backend_class(config.backend)(precision)
    seed_everything(config.seed, backend)
    dataset = resolve_dataset(config.model, config.dataset, config.data_dir)
    data = load_dataset(dataset, config.data_dir, config.limit)
    task = get_task(config.model, config.complexity)
    backend.build(model_layers(task, data.n_outputs), data.input_shape, data.problem)
    metric = metric_name(data.problem)

    with measured(config) as training:
        records = backend.train(
            data.x_train,
            data.y_train,
            data.x_val,
            data.y_val,
            epochs=config.epochs,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            seed=config.seed,
        )
    with measured(config) as testing:
        test_loss, test_metric = backend.evaluate(data.x_test, data.y_test, batch_size=config.batch_size)

    write_csv_atomic(train_frame(records, metric), work / "train.csv")
    write_csv_atomic(pd.DataFrame({"loss": [test_loss], metric: [test_metric]}), work / "test.csv")
    write_csv_atomic(training.samples, work / "train_samples.csv")
    write_csv_atomic(testing.samples, work / "test_samples.csv")
    peak_accelerator = backend.peak_accelerator_memory_bytes()
    row = {
        "training_time": training.seconds,
        "testing_time": testing.seconds,
        **energy_columns(training, testing),
        "peak_memory_bytes": peak_rss_bytes(),
        "peak_accelerator_memory_bytes": pd.NA if peak_accelerator is None else peak_accelerator,
        "parameter_count": backend.parameter_count(),
        "device": backend.device(),
    }
    # written last: its presence marks the run as finished
    write_csv_atomic(pd.DataFrame([row], columns=list(GLOBAL_COLUMNS)), work / "global_metrics.csv")
    return {
        "device": backend.device(),
        "versions": {"numpy": np.__version__, "pandas": pd.__version__, **backend.versions()},
        "samples": {"train": len(data.x_train), "val": len(data.x_val), "test": len(data.x_test)},
    }


def run(config: RunConfig, run_dir: Path) -> bool:
    """Run ``config`` into ``run_dir`` (which must not exist yet). True when done, False when failed."""
    run_dir = Path(run_dir)
    started = datetime.now()
    doc = config_document(config, run_dir.name, started)
    work = partial_dir(run_dir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        write_json_atomic(doc, work / CONFIG_FILE)
        environment = execute(config, work)
        write_json_atomic({**doc, **environment}, work / CONFIG_FILE)
        os.replace(work, run_dir)
        return True
    except Exception:
        write_failure(run_dir, doc, traceback.format_exc())
        return False
    except BaseException:  # interrupted: leave nothing, so a resumed sweep runs it again
        shutil.rmtree(work, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m layerpower.experiments.run_one CONFIG_JSON RUN_DIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m layerpower.experiments.run_one CONFIG_JSON RUN_DIR", file=sys.stderr)
        return 2
    raw = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    try:
        config = RunConfig.from_dict(raw)
    except Exception:  # an invalid config is a failed run too: say why beside the config
        write_failure(Path(args[1]), raw, traceback.format_exc())
        return 1
    return 0 if run(config, Path(args[1])) else 1


if __name__ == "__main__":
    sys.exit(main())
