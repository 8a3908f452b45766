"""The whole model end to end: a robust runtime over several fresh processes, with energy and power.

A model's latency varies by several percent between processes on a shared machine (memory layout,
thread placement, neighbours), so its ground truth is measured in ``processes`` fresh Python processes.
Each process builds the model, runs two warm-up forwards, then times ``repeats`` forwards one by one
inside one meter window, and reports the median forward time and the window's energy per forward.
The result keeps the median across processes and the spread (min, max, CV)::

    from layerpower.profiling.whole_model import measure_whole_model
    r = measure_whole_model("resnet18", batch_size=1, dtype="fp32", device="cpu", processes=3)
    r.runtime_s, r.runtime_cv, r.energy_j, r.power_source, r.statistic

Each process runs ``python -m layerpower.profiling.whole_model --model NAME --config B:DTYPE ...`` and
prints one JSON document on stdout (see :func:`main`). ``processes=0`` (or an ``nn.Module`` instead of a
name) measures in the calling process instead. Units: seconds, joules, watts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from layerpower.errors import LayerpowerError
from layerpower.profiling.progress import progress_bar
from layerpower.profiling.settings import WHOLE_BUDGET_S, WHOLE_PROCESSES, WHOLE_REPEATS_RANGE, clamp_count
from layerpower.profiling.worker import run_json_worker

if TYPE_CHECKING:
    from torch import nn

#: warm-up forwards before timing, in every process
WARMUP_FORWARDS = 2
#: a worker process that runs longer than this is stopped (seconds)
WORKER_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class WholeModelPlan:
    """How every process measures a model, the same in a worker and in the calling process.

    On ``device`` with ``power_source`` (None: the best found; ``tdp_w``, in W, for the estimate). A
    config's forwards per process, where not given, fill ``budget_s`` seconds, clamped to
    ``repeats_range``. ``input_shape`` (per sample, no batch dim) applies to an ``nn.Module``.
    """

    device: str = "cpu"
    power_source: str | None = None
    tdp_w: float | None = None
    budget_s: float = WHOLE_BUDGET_S
    repeats_range: tuple[int, int] = WHOLE_REPEATS_RANGE
    input_shape: Sequence[int] | None = None

    def worker_options(self) -> list[str]:
        """The worker's command-line options for this plan (see :func:`main`; not ``input_shape``)."""
        low, high = self.repeats_range
        options = [
            "--device",
            str(self.device),
            "--budget",
            str(self.budget_s),
            "--repeats-range",
            f"{low}:{high}",
        ]
        if self.power_source:
            options += ["--power-source", self.power_source]
        if self.tdp_w is not None:
            options += ["--tdp", str(self.tdp_w)]
        return options


@dataclass(frozen=True)
class ProcessResult:
    """One process's measurement of one (batch size, dtype). Units: s, J, W."""

    batch_size: int
    dtype: str
    runtime_s: float  # median of the timed forwards
    runtime_mean_s: float
    times_s: list[float]
    repeats: int
    energy_j: float  # per forward: window energy / repeats
    power_w: float  # window energy / window duration
    power_source: str
    is_estimate: bool
    torch_threads: int
    pid: int
    #: minor page faults per timed forward (memory the allocator handed back and took again); NaN where the
    #: platform has no ``resource`` module. On a VM their cost moves with the host, so a forward with many
    #: of them can run twice as long for minutes at a time
    page_faults_per_forward: float = float("nan")


def minor_faults() -> int | None:
    """This process's minor page faults so far (None without ``resource``, as on Windows)."""
    try:
        import resource
    except ImportError:
        return None
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


@dataclass(frozen=True)
class WholeModelResult:
    """A model end to end: medians across processes, spread, energy per forward and where power came from."""

    model: str
    batch_size: int
    dtype: str
    device: str
    runtime_s: float  # median across processes of each process's median forward
    runtime_min_s: float
    runtime_max_s: float
    runtime_cv: float  # across processes
    processes: int  # fresh processes measured (0: measured in the calling process)
    repeats: int  # forwards per process
    statistic: str
    energy_j: float  # per forward, median across processes
    power_w: float  # median across processes
    dynamic_power_w: float  # power_w - idle_power_w (NaN when no idle power was given)
    idle_power_w: float
    power_source: str
    is_estimate: bool
    per_process: list[ProcessResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (per-process results as dicts)."""
        return asdict(self)


def measure_whole_model(
    model: str | nn.Module,
    batch_size: int = 1,
    dtype: str = "float32",
    device: str = "cpu",
    processes: int = WHOLE_PROCESSES,
    repeats: int | None = None,
    power_source: str | None = None,
    *,
    tdp_w: float | None = None,
    idle_power_w: float | None = None,
    budget_s: float = WHOLE_BUDGET_S,
    repeats_range: tuple[int, int] = WHOLE_REPEATS_RANGE,
    input_shape: Sequence[int] | None = None,
) -> WholeModelResult:
    """Measure ``model`` (a zoo name, or an ``nn.Module`` measured in this process) end to end.

    ``processes`` fresh processes each time ``repeats`` forwards (default: enough for ``budget_s``
    seconds, clamped to ``repeats_range``; the first process chooses, the others reuse its count).
    ``power_source`` is a source name (None: the best available); ``idle_power_w`` (e.g. from
    ``Meter.idle_power``) gives ``dynamic_power_w``. ``input_shape`` (per sample, no batch dim) applies to
    an ``nn.Module``; a name uses the zoo's natural input shape.
    """
    plan = WholeModelPlan(device, power_source, tdp_w, budget_s, repeats_range, input_shape)
    results = _measure(model, [(batch_size, dtype)], plan, processes, repeats, idle_power_w)
    return next(iter(results.values()))


def measure_whole_model_configs(
    model: str | nn.Module,
    configs: Sequence[tuple[int, str]],
    *,
    device: str = "cpu",
    processes: int = WHOLE_PROCESSES,
    repeats: int | None = None,
    power_source: str | None = None,
    tdp_w: float | None = None,
    idle_power_w: float | None = None,
    budget_s: float = WHOLE_BUDGET_S,
    repeats_range: tuple[int, int] = WHOLE_REPEATS_RANGE,
    input_shape: Sequence[int] | None = None,
    progress: bool = False,
) -> dict[tuple[int, str], WholeModelResult]:
    """:func:`measure_whole_model` for several (batch size, dtype) configs, sharing each process.

    Returns one result per config, keyed by (batch size, canonical dtype name). ``progress`` shows a bar
    over the processes on stderr.
    """
    plan = WholeModelPlan(device, power_source, tdp_w, budget_s, repeats_range, input_shape)
    return _measure(model, configs, plan, processes, repeats, idle_power_w, progress=progress)


def _measure(
    model: str | nn.Module,
    configs: Sequence[tuple[int, str]],
    plan: WholeModelPlan,
    processes: int,
    repeats: int | None,
    idle_power_w: float | None,
    *,
    progress: bool = False,
) -> dict[tuple[int, str], WholeModelResult]:
    """What both public functions do: ``processes`` runs (one in this process for a module or 0), combined."""
    from layerpower.models.dtypes import normalize_dtype

    configs = [(int(b), normalize_dtype(d)) for b, d in configs]
    if not configs:
        raise LayerpowerError("no (batch size, dtype) configuration to measure")
    if isinstance(model, str):
        from layerpower.models.zoo import resolve_model

        model = resolve_model(model).name  # an unknown name fails here, before any process starts
    in_process = not isinstance(model, str) or processes <= 0
    name = model if isinstance(model, str) else type(model).__name__
    chosen: dict[tuple[int, str], int | None] = dict.fromkeys(configs, repeats)
    runs: list[list[ProcessResult]] = []
    count = 1 if in_process else processes
    bar = progress_bar(progress, f"{name} whole model", count, unit="process")
    for _ in range(count):
        if in_process:
            results = measure_in_process(model, configs, plan, repeats=chosen)
        else:
            results = _run_worker(str(model), configs, plan, repeats=chosen)
        for result in results:
            chosen[(result.batch_size, result.dtype)] = result.repeats
        runs.append(results)
        bar.update(1)
    bar.close()
    out: dict[tuple[int, str], WholeModelResult] = {}
    for config in configs:
        per = [r for run in runs for r in run if (r.batch_size, r.dtype) == config]
        out[config] = _combine(name, config, plan.device, per, 0 if in_process else processes, idle_power_w)
    return out


def _combine(
    name: str,
    config: tuple[int, str],
    device: str,
    per: list[ProcessResult],
    processes: int,
    idle_power_w: float | None,
) -> WholeModelResult:
    from layerpower.profiling.isolated import coefficient_of_variation

    runtimes = [p.runtime_s for p in per]
    power = statistics.median([p.power_w for p in per])
    idle = float("nan") if idle_power_w is None else float(idle_power_w)
    repeats = per[0].repeats
    where = f"median of {processes} processes" if processes else "measured in the calling process"
    return WholeModelResult(
        model=name,
        batch_size=config[0],
        dtype=config[1],
        device=str(device),
        runtime_s=statistics.median(runtimes),
        runtime_min_s=min(runtimes),
        runtime_max_s=max(runtimes),
        runtime_cv=coefficient_of_variation(runtimes),
        processes=processes,
        repeats=repeats,
        statistic=f"median of {repeats} forwards per process, {where}",
        energy_j=statistics.median([p.energy_j for p in per]),
        power_w=power,
        dynamic_power_w=power - idle,
        idle_power_w=idle,
        power_source=per[0].power_source,
        is_estimate=per[0].is_estimate,
        per_process=per,
    )


def measure_in_process(
    model: str | nn.Module,
    configs: Sequence[tuple[int, str]],
    plan: WholeModelPlan | None = None,
    repeats: dict[tuple[int, str], int | None] | int | None = None,
) -> list[ProcessResult]:
    """Measure ``model`` in this process for each (batch size, dtype); what one worker process does.

    ``repeats``: forwards per config (a count for all, or per (batch size, dtype); None: from the plan's
    budget). ``plan`` defaults to :class:`WholeModelPlan` ``()`` (CPU, best power source).
    """
    import torch

    from layerpower.models.dtypes import normalize_dtype, torch_dtype
    from layerpower.models.inputs import make_inputs
    from layerpower.models.zoo import DEFAULT_INPUT_SHAPE, ModelEntry, build_model, resolve_model
    from layerpower.profiling.meter import Meter
    from layerpower.profiling.timing import Stopwatch, sync_function

    plan = plan or WholeModelPlan()
    device = plan.device
    if isinstance(model, str):
        entry = resolve_model(model)
        base = build_model(entry, device=device)
    else:
        shape = tuple(plan.input_shape or getattr(model, "input_shape", DEFAULT_INPUT_SHAPE))
        entry = ModelEntry(type(model).__name__, "module", shape, lambda: model, inputs_declared=())
        base = model.to(device).eval()
    sync = sync_function(device)
    out: list[ProcessResult] = []
    with Meter(plan.power_source, tdp_w=plan.tdp_w, warn_short=False) as meter, torch.no_grad():
        for batch_size, dtype_name in configs:
            dtype_name = normalize_dtype(dtype_name)
            net = base.to(torch_dtype(dtype_name))
            x = make_inputs(entry, int(batch_size), dtype_name, device, module=net)
            watch = Stopwatch(device)
            warm = 0.0
            for _ in range(WARMUP_FORWARDS):
                sync()
                watch.start()
                net(*x)
                warm = watch.stop()
            wanted = repeats.get((int(batch_size), dtype_name)) if isinstance(repeats, dict) else repeats
            count = int(wanted) if wanted else clamp_count(plan.budget_s, warm, plan.repeats_range)
            times: list[float] = []
            faults_before = minor_faults()
            with meter.window(sync=sync) as window:
                for _ in range(count):
                    watch.start()
                    net(*x)
                    times.append(watch.stop())
            faults_after = minor_faults()
            m = window.result
            out.append(
                ProcessResult(
                    batch_size=int(batch_size),
                    dtype=dtype_name,
                    runtime_s=statistics.median(times),
                    runtime_mean_s=statistics.fmean(times),
                    times_s=times,
                    repeats=count,
                    energy_j=m.energy_j / count,
                    power_w=m.avg_power_w,
                    power_source=m.source,
                    is_estimate=m.is_estimate,
                    torch_threads=torch.get_num_threads(),
                    pid=os.getpid(),
                    page_faults_per_forward=(
                        (faults_after - faults_before) / count
                        if faults_before is not None and faults_after is not None
                        else float("nan")
                    ),
                )
            )
    return out


def _run_worker(
    model: str,
    configs: Sequence[tuple[int, str]],
    plan: WholeModelPlan,
    repeats: dict[tuple[int, str], int | None],
) -> list[ProcessResult]:
    """Measure ``model`` in one fresh worker process (``python -m layerpower.profiling.whole_model``)."""
    command = [sys.executable, "-m", "layerpower.profiling.whole_model", "--model", model]
    for batch_size, dtype_name in configs:
        command += ["--config", f"{batch_size}:{dtype_name}:{repeats.get((batch_size, dtype_name)) or 0}"]
    command += plan.worker_options()
    payload = run_json_worker(command, f"whole-model measurement of {model!r}", WORKER_TIMEOUT_S)
    return [ProcessResult(**item) for item in payload["results"]]


def _parse_config(text: str) -> tuple[int, str, int]:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"config {text!r} is not BATCH:DTYPE[:REPEATS]")
    return int(parts[0]), parts[1], int(parts[2]) if len(parts) == 3 else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Worker entry point: measure and print ``{"results": [ProcessResult, ...]}`` as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m layerpower.profiling.whole_model", description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument(
        "--config",
        action="append",
        type=_parse_config,
        required=True,
        help="BATCH:DTYPE[:REPEATS] (REPEATS 0: choose from --budget)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--budget", type=float, default=WHOLE_BUDGET_S)
    parser.add_argument("--repeats-range", default=f"{WHOLE_REPEATS_RANGE[0]}:{WHOLE_REPEATS_RANGE[1]}")
    parser.add_argument("--power-source", default=None)
    parser.add_argument("--tdp", type=float, default=None)
    args = parser.parse_args(argv)
    threads = os.environ.get("LAYERPOWER_TORCH_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    low, high = (int(v) for v in args.repeats_range.split(":"))
    configs = [(b, d) for b, d, _ in args.config]
    repeats = {(b, d): (r or None) for b, d, r in args.config}
    try:
        from layerpower.models.dtypes import normalize_dtype

        repeats = {(b, normalize_dtype(d)): r for (b, d), r in repeats.items()}
        plan = WholeModelPlan(args.device, args.power_source, args.tdp, args.budget, (low, high))
        results = measure_in_process(args.model, configs, plan, repeats)
    except LayerpowerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"results": [asdict(r) for r in results]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
