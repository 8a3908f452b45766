"""The GPU campaign: one command that measures a GPU for layerpower within a hard deadline.

Phases (the plan is printed first, sized to ``--deadline`` seconds of measurement):

1. ``nvml_check``: the energy counter's update period and resolution, idle power, a known bf16 matmul load
   by the counter against integrated power samples, and a short real trace (``nvml_trace.csv``);
2. ``dataset``: zoo models in priority order (all configurations of a model before the next) profiled by
   the package's :class:`~layerpower.profiling.profiler.LayerProfiler`, windows sized from the measured
   counter period -> ``training_data/<device-id>/<model>/``;
3. ``validation``: whole models measured end to end, repeated, for ``validate-energy`` (a reserved share of
   the deadline, so the dataset cannot starve it);
4. ``fill``: further models while time remains.

At the deadline the unit in flight is abandoned (the package writes atomically: a configuration is either
complete on disk or absent). Everything goes into ``<out>/campaign.tar.gz`` (also when a phase failed:
``phases.json`` records each phase's status, seconds and counts, the log its traceback) next to
``<out>/campaign.log``. Nothing from ``layerpower.predictors`` is imported: the GPU machine has no xgboost
and no skops, and the CLI blocks both and records any attempt.

``--dry-run`` runs on the CPU against a fake ``pynvml`` (the tests' autospec fake): every reading is fake
and labelled so in the log, ``phases.json`` and every ``meta.json``. See ``benchmarks/GPU_CAMPAIGN.md``.

Usage: ``python benchmarks/gpu_campaign.py --out OUT [--deadline 480] [--dry-run] [...]``
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.abc
import json
import shutil
import signal
import sys
import tarfile
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_campaign_plan import (  # noqa: E402
    WARMUP_FRACTION,
    CampaignOptions,
    context_budget,
    idle_seconds,
    layer_counts,
    make_plan,
)

REPO = Path(__file__).resolve().parent.parent
BLOCKED = ("xgboost", "skops")
FAKE_LABEL = "FAKE (dry run: fake pynvml, not a measurement)"
FAKE_GPU_NAME = "FAKE-NVML dry-run GPU"


class DeadlineReached(BaseException):  # noqa: N818 - not an error: the clock ran out
    """The campaign's clock ran out (a BaseException, so no ``except Exception`` swallows it)."""


class ImportBlocker(importlib.abc.MetaPathFinder):
    """Refuses ``xgboost`` and ``skops`` (as on the GPU machine) and records every attempt."""

    def __init__(self, names: Sequence[str] = BLOCKED) -> None:
        self.names, self.attempts = tuple(names), []

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.split(".")[0] in self.names:
            self.attempts.append(fullname)
            raise ModuleNotFoundError(
                f"{fullname} is blocked: the GPU machine does not have it", name=fullname
            )
        return None


class Log:
    """Prints and appends to ``campaign.log``, each line with the UTC time and seconds since the start."""

    def __init__(self, path: Path, start: float, prefix: str = "") -> None:
        self.path, self.start, self.prefix = path, start, prefix
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def __call__(self, message: str = "") -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
        for line in str(message).splitlines() or [""]:
            text = f"{stamp} +{time.perf_counter() - self.start:7.1f}s {self.prefix}{line}"
            print(text, flush=True)
            self._file.write(text + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class Deadline:
    """The campaign clock: soft checks between units, and a SIGALRM that abandons the unit in flight."""

    def __init__(self, seconds: float, start: float) -> None:
        self.start, self.end = start, start + float(seconds)
        self._critical, self._pending = 0, False

    def remaining(self, until: float | None = None) -> float:
        return (self.end if until is None else until) - time.perf_counter()

    def passed(self, until: float | None = None) -> bool:
        return self.remaining(until) <= 0

    def _fire(self, *_: object) -> None:
        if self._critical:
            self._pending = True
        else:
            raise DeadlineReached("deadline")

    @contextlib.contextmanager
    def armed(self, until: float | None = None) -> Iterator[None]:
        """Raise :class:`DeadlineReached` inside the block when ``until`` (default: the deadline) passes."""
        left = self.remaining(until)
        if left <= 0:
            raise DeadlineReached("deadline")
        usable = hasattr(signal, "setitimer") and _main_thread()
        if usable:
            previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, left)
        try:
            yield
        finally:
            if usable:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A block the alarm must not cut (writing a configuration's files): it fires after it."""
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
            if not self._critical and self._pending:
                self._pending = False
                raise DeadlineReached("deadline")


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def fake_pynvml(period_s: float = 0.02) -> Any:
    """The tests' autospec fake ``pynvml`` (``tests/profiling/power_fakes.py``) with one fake GPU whose power
    follows a smooth curve and whose energy counter is its exact integral, ticking every ``period_s``."""
    import importlib.util
    import math

    spec = importlib.util.spec_from_file_location(
        "power_fakes", REPO / "tests" / "profiling" / "power_fakes.py"
    )
    fakes = sys.modules.get("power_fakes")
    if fakes is None:
        fakes = importlib.util.module_from_spec(spec)
        sys.modules["power_fakes"] = fakes  # dataclasses look their module up there
        spec.loader.exec_module(fakes)  # type: ignore[union-attr]
    omega = 2 * math.pi / 0.7
    gpu = fakes.FakeGpu(
        name=FAKE_GPU_NAME,
        power_fn=lambda t: 80.0 + 20.0 * math.sin(omega * t),
        energy_fn=lambda t: 80.0 * t - 20.0 / omega * math.cos(omega * t) + 1000.0,
        counter_period_s=period_s,
    )
    return fakes.make_fake_pynvml([gpu])


def _write_json(data: Any, path: Path) -> None:
    from layerpower.io import write_json_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(json.loads(json.dumps(data, default=str)), path)


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    import pandas as pd

    from layerpower.io import write_csv_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(pd.DataFrame(rows), path, index=False)


class Campaign:
    """One run (see the module docstring); :func:`run_campaign` is the entry point."""

    def __init__(self, opts: CampaignOptions, nvml: Any, work: Path, log: Log, clock: Deadline) -> None:
        self.opts, self.nvml, self.work, self.log, self.clock = opts, nvml, work, log, clock
        self.phases: list[dict[str, Any]] = []
        self.done_models: set[str] = set()
        self.profiler: Any = None
        self.plan: Any = None
        self.check: dict[str, Any] = {}
        self.readings = FAKE_LABEL if opts.dry_run else "nvml"

    # -- phases ----------------------------------------------------------------------------------------
    def phase(self, name: str, fn: Any, *, estimate_s: float, until: float | None = None) -> dict[str, Any]:
        record: dict[str, Any] = {
            "phase": name,
            "status": "done",
            "seconds": 0.0,
            "counts": {},
            "readings": self.readings,
        }
        started = time.perf_counter()
        left = self.clock.remaining(until)
        if left <= 0 or left < min(estimate_s, 5.0):
            record.update(
                status="skipped", note=f"no time left ({max(left, 0):.1f} s, needs ~{estimate_s:.1f} s)"
            )
        else:
            self.log(f"== phase {name} (~{estimate_s:.1f} s, {left:.1f} s left)")
            try:
                with self.clock.armed(until):
                    fn(record["counts"])
            except DeadlineReached:
                record.update(status="stopped_at_deadline", note="the unit in flight was abandoned")
            except Exception as exc:  # record and go on: the tarball is written regardless
                record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
                self.log(f"phase {name} FAILED:\n{traceback.format_exc()}")
        record["seconds"] = round(time.perf_counter() - started, 2)
        self.log(
            f"== phase {name}: {record['status']} in {record['seconds']:.1f} s, counts {record['counts']}"
        )
        self.phases.append(record)
        return record

    def run_check(self, counts: dict[str, Any]) -> None:
        from gpu_campaign_nvml import nvml_check

        result, trace = nvml_check(self.nvml, self.opts.device, mode=self.opts.mode, log=self.log)
        result["readings"] = self.readings
        _write_json(result, self.work / "nvml_check.json")
        _write_csv(trace, self.work / "nvml_trace.csv")
        self.check = result
        counts.update(trace_rows=len(trace), counter_changes=result["counter"]["changes"])

    def run_dataset(self, counts: dict[str, Any], models: list[str]) -> None:
        counts.setdefault("models_done", 0)
        counts.setdefault("configs_done", 0)
        counts.setdefault("rows", 0)
        counts.setdefault("models_failed", 0)
        profiler = self._profiler()
        for model in models:
            if model in self.done_models:
                continue
            self.log(f"dataset: {model}")
            try:
                self._profile_model(profiler, model, counts)
                counts["models_done"] += 1
            except DeadlineReached:
                raise
            except Exception as exc:  # one model failing must not stop the others
                counts["models_failed"] += 1
                self.log(f"dataset: {model} FAILED: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            finally:
                self.done_models.add(model)
                _free_device(self.opts.device)

    def _profiler(self) -> Any:
        if self.profiler is None:
            from layerpower.profiling.profiler import LayerProfiler
            from layerpower.profiling.settings import ProfileSettings

            rung = self.plan.rung
            settings = ProfileSettings(
                window_s=rung.window_s,
                trials=rung.trials,
                idle_s=idle_seconds(self.opts),
                context_budget_s=context_budget(self.opts),
                whole_processes=self.opts.whole_processes or 0,
                whole_budget_s=self.opts.whole_budget_s,
                warmup_fraction=WARMUP_FRACTION,
                seed=self.opts.seed,
            )
            self.profiler = LayerProfiler(self.opts.device, "nvml", settings=settings)
            self.meta_common = self.profiler.describe()
            self.log(f"dataset: device id {self.profiler.device_id}, source {self.profiler.source_name}")
        return self.profiler

    def _profile_model(self, profiler: Any, model: str, counts: dict[str, Any]) -> None:
        from layerpower.models.dtypes import normalize_dtype
        from layerpower.profiling.whole_model import measure_whole_model_configs
        from layerpower.profiling.writer import ModelFolder

        started = time.perf_counter()
        configs = [(b, normalize_dtype(d)) for b, d in self.opts.configs()]
        entry, net = profiler.prepare(model)
        for b, d in configs:  # fail early, naming the layer
            profiler.check_forward(entry, net, b, d)
        wholes = measure_whole_model_configs(
            entry.name,
            configs,
            device=self.opts.device,
            processes=self.opts.whole_processes or 0,
            power_source="nvml",
            budget_s=self.opts.whole_budget_s,
        )
        folder = ModelFolder.at(self.work / "training_data", profiler.device_id, entry.name)
        meta = {
            "model": entry.name,
            "model_source": entry.source,
            "input_shape": list(entry.input_shape),
            **self.meta_common,
            "campaign": {"dry_run": self.opts.dry_run, "readings": self.readings},
        }
        for b, d in configs:
            if self.clock.passed():
                raise DeadlineReached("deadline")
            result = profiler.profile(entry.name, b, d, whole=wholes.get((b, d)), device_model=net)
            with self.clock.critical():
                folder.write_config(b, d, result.layer_rows, result.model_row, meta, result.info)
            rows = sum(len(r) for r in result.layer_rows.values())
            counts["configs_done"] += 1
            counts["rows"] += rows
            self.log(
                f"dataset: {entry.name} b{b}-{d}: {rows} rows, {result.info['layers_measured_alone']} measured alone, "
                f"whole {result.model_row['runtime_s'] * 1e3:.3f} ms, {result.model_row['energy_j']:.4g} J "
                f"[{self.readings}], {result.info['duration_s']:.1f} s"
            )
        self.log(f"dataset: {entry.name} done in {time.perf_counter() - started:.1f} s")

    def run_validation(self, counts: dict[str, Any]) -> None:
        from layerpower.models.dtypes import normalize_dtype
        from layerpower.profiling.whole_model import measure_whole_model_configs

        fresh = self.plan.validation_mode == "fresh processes"
        rows: list[dict[str, Any]] = []
        counts.update(models_done=0, measurements=0, models_failed=0)
        for item in self.plan.validation:
            if not item["planned"]:
                continue
            model, repeats = item["model"], int(item["repeats"])
            configs = [(int(b), normalize_dtype(d)) for b, d in item["configs"]]
            try:
                runs = (
                    [
                        measure_whole_model_configs(
                            model,
                            configs,
                            device=self.opts.device,
                            processes=repeats,
                            power_source="nvml",
                            budget_s=self.opts.whole_budget_s,
                        )
                    ]
                    if fresh
                    else [
                        measure_whole_model_configs(
                            model,
                            configs,
                            device=self.opts.device,
                            processes=0,
                            power_source="nvml",
                            budget_s=self.opts.whole_budget_s,
                        )
                        for _ in range(repeats)
                    ]
                )
            except Exception as exc:
                counts["models_failed"] += 1
                self.log(f"validation: {model} FAILED: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                continue
            for b, d in configs:
                per = [p for run in runs for p in run[(b, d)].per_process]
                for i, p in enumerate(per):
                    rows.append(
                        {
                            "model": model,
                            "batch_size": b,
                            "dtype": d,
                            "repeat": i,
                            "fresh_process": fresh,
                            "runtime_s": p.runtime_s,
                            "energy_j": p.energy_j,
                            "power_w": p.power_w,
                            "forwards": p.repeats,
                            "power_source": p.power_source,
                            "is_estimate": p.is_estimate,
                            "readings": self.readings,
                        }
                    )
                energies = [p.energy_j for p in per]
                self.log(
                    f"validation: {model} b{b}-{d}: {len(per)} repeats, energy {min(energies):.4g}..{max(energies):.4g} J "
                    f"per forward, runtime median {sorted(p.runtime_s for p in per)[len(per) // 2] * 1e3:.3f} ms [{self.readings}]"
                )
                counts["measurements"] += len(per)
            with self.clock.critical():
                _write_csv(rows, self.work / "validation" / "measured.csv")
            counts["models_done"] += 1


def run_campaign(
    options: CampaignOptions, *, pynvml: Any | None = None, device: str | None = None
) -> dict[str, Any]:
    """Run the campaign; ``pynvml`` replaces the NVML binding (a fake in a dry run; default: the tests' fake
    in a dry run, the real module otherwise), ``device`` the torch device. Returns the phases and paths."""
    start = time.perf_counter()
    opts = options.resolved()
    if device is not None:
        opts.device = device
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpu-campaign-"))
    log = Log(out / "campaign.log", start, "[DRY RUN / FAKE NVML] " if opts.dry_run else "")
    clock = Deadline(opts.deadline_s, start)
    if pynvml is None:
        if opts.dry_run:
            pynvml = fake_pynvml()
        else:
            import pynvml as real

            pynvml = real
    previous = sys.modules.get("pynvml")
    sys.modules["pynvml"] = pynvml
    old_term = signal.signal(signal.SIGTERM, _on_term) if _main_thread() else None
    campaign = Campaign(opts, pynvml, work, log, clock)
    try:
        from gpu_campaign_nvml import environment

        from layerpower.profiling.power import clear_probe_cache
        from layerpower.profiling.power import nvml as nvml_source

        clear_probe_cache()
        nvml_source._PERIOD_CACHE.clear()
        log(
            f"gpu campaign: {'DRY RUN on ' + opts.device + ' with a FAKE pynvml' if opts.dry_run else 'device ' + opts.device}"
        )
        log(f"options: {json.dumps(opts.to_dict(), default=str)}")
        env = environment(pynvml, opts.device)
        env["readings"] = campaign.readings
        _write_json(env, work / "environment.json")
        log(
            f"environment: torch {env['torch']}, GPU {env.get('torch_gpu_name') or env.get('nvml_gpu_name')}, driver {env.get('nvml_driver_version')}"
        )
        if opts.dry_run:
            (work / "DRY_RUN_FAKE_READINGS.txt").write_text(
                f"Every power and energy figure in this tarball is {FAKE_LABEL}.\n"
            )

        counts: dict[str, Any] = {}
        for model in dict.fromkeys([*opts.models, *opts.validation_models]):
            try:
                counts[model] = layer_counts(model)
            except Exception as exc:
                counts[model] = f"{type(exc).__name__}: {exc}"
        campaign.plan = make_plan(opts, None, counts)
        log("plan (before the counter period is measured):\n" + "\n".join(campaign.plan.lines()))
        plans = {"initial": campaign.plan.to_dict()}

        check = campaign.phase(
            "nvml_check", campaign.run_check, estimate_s=campaign.plan.budgets["nvml_check"]
        )
        period = campaign.check.get("counter", {}).get("period_s")
        if check["status"] == "done":
            campaign.plan = make_plan(opts, period, counts)
            log("plan (sized from the measured counter period):\n" + "\n".join(campaign.plan.lines()))
        plans["final"] = campaign.plan.to_dict()
        _write_json(plans, work / "plan.json")

        plan = campaign.plan
        margin = plan.budgets["margin"]
        dataset_end = clock.end - plan.budgets["validation"] - margin
        planned = [m.model for m in plan.planned_models()]
        campaign.phase(
            "dataset",
            lambda c: campaign.run_dataset(c, planned),
            estimate_s=sum(m.estimate_s for m in plan.planned_models()) if planned else 0.0,
            until=dataset_end,
        )
        vest = sum(v["estimate_s"] for v in plan.validation if v["planned"])
        campaign.phase("validation", campaign.run_validation, estimate_s=vest, until=clock.end - margin)
        rest = [m.model for m in plan.models if m.model not in campaign.done_models and not m.error]
        if opts.fill and rest:
            first = next(m.estimate_s for m in plan.models if m.model == rest[0])
            campaign.phase(
                "fill", lambda c: campaign.run_dataset(c, rest), estimate_s=first, until=clock.end - margin
            )
    except DeadlineReached:
        log("stopped by SIGTERM / deadline outside a phase")
    except Exception:
        log(f"campaign FAILED outside a phase:\n{traceback.format_exc()}")
        campaign.phases.append(
            {"phase": "campaign", "status": "failed", "error": traceback.format_exc(limit=3)}
        )
    finally:
        if campaign.profiler is not None:
            with contextlib.suppress(Exception):
                campaign.profiler.close()
        tarball = _finish(campaign, out, work, start)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        if previous is None:
            sys.modules.pop("pynvml", None)
        else:
            sys.modules["pynvml"] = previous
        log.close()
    return {"phases": campaign.phases, "tarball": tarball, "log": out / "campaign.log", "plan": campaign.plan}


def _on_term(*_: object) -> None:
    raise DeadlineReached("SIGTERM")


def _free_device(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def _finish(campaign: Campaign, out: Path, work: Path, start: float) -> Path:
    """phases.json, the log's copy and the tarball (written to a temporary name, then renamed)."""
    log = campaign.log
    blocker = next((f for f in sys.meta_path if isinstance(f, ImportBlocker)), None)
    imports = {
        "blocked": list(BLOCKED),
        "blocked_attempts": list(blocker.attempts) if blocker else None,
        "loaded": sorted(n for n in BLOCKED if n in sys.modules and sys.modules[n] is not None),
        "predictors_modules_loaded": sorted(n for n in sys.modules if n.startswith("layerpower.predictors")),
    }
    summary = {
        "dry_run": campaign.opts.dry_run,
        "readings": campaign.readings,
        "device": campaign.opts.device,
        "deadline_s": campaign.opts.deadline_s,
        "elapsed_s": round(time.perf_counter() - start, 2),
        "imports": imports,
        "phases": campaign.phases,
    }
    with contextlib.suppress(Exception):
        _write_json(summary, work / "phases.json")
    for p in campaign.phases:
        log(f"phase {p['phase']:<11} {p['status']:<20} {p.get('seconds', 0):7.1f} s  {p.get('counts', {})}")
    log(f"imports: {imports}")
    tarball = out / "campaign.tar.gz"
    log(f"writing {tarball} ({time.perf_counter() - start:.1f} s since the start)")
    shutil.copyfile(log.path, work / "campaign.log")
    partial = out / "campaign.tar.gz.partial"
    with tarfile.open(partial, "w:gz") as tar:
        for path in sorted(work.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(work)))
    partial.replace(tarball)
    shutil.rmtree(work, ignore_errors=True)
    log(f"done: {tarball} ({tarball.stat().st_size} bytes)")
    return tarball


def _parse_configs(text: str) -> list[tuple[int, str]]:
    out = []
    for part in text.split(","):
        b, _, d = part.strip().partition(":")
        out.append((int(b), d or "fp32"))
    return out


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def parse_options(argv: Sequence[str] | None = None) -> CampaignOptions:
    p = argparse.ArgumentParser(prog="gpu_campaign.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for campaign.tar.gz and campaign.log")
    p.add_argument("--deadline", type=float, default=480.0, help="seconds of measurement [480]")
    p.add_argument(
        "--dry-run", action="store_true", help="CPU and a fake pynvml: a rehearsal, no real reading"
    )
    p.add_argument("--device", default=None, help="torch device [cuda:0; cpu in a dry run]")
    p.add_argument("--models", default=None, help="comma-separated, in priority order [the 21 zoo models]")
    p.add_argument("--batch-sizes", default=None, help="comma-separated [1,32]")
    p.add_argument("--dtypes", default=None, help="comma-separated [fp32,fp16]")
    p.add_argument(
        "--window", type=float, default=None, help="layer window in s [sized from the counter period]"
    )
    p.add_argument("--trials", type=int, default=None, help="trials per layer [chosen to fit]")
    p.add_argument("--min-models", type=int, default=12, help="models the dataset should reach [12]")
    p.add_argument(
        "--whole-processes",
        type=int,
        default=None,
        help="fresh processes per model for model.csv [0: in this process]",
    )
    p.add_argument(
        "--validation-models",
        default=None,
        help="comma-separated [resnet152,vgg19,vgg13,resnet101,mobilenet_v3_small]",
    )
    p.add_argument("--validation-configs", default=None, help="BATCH:DTYPE,... [1:fp32]")
    p.add_argument("--validation-repeats", type=int, default=None, help="repeats per model [3]")
    p.add_argument(
        "--validation-fraction", type=float, default=0.15, help="share of the deadline reserved [0.15]"
    )
    p.add_argument("--no-fill", action="store_true", help="do not profile further models after validation")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    return CampaignOptions(
        out=a.out,
        deadline_s=a.deadline,
        dry_run=a.dry_run,
        device=a.device,
        models=_csv(a.models),
        batch_sizes=[int(b) for b in _csv(a.batch_sizes)] if a.batch_sizes else None,
        dtypes=_csv(a.dtypes),
        window_s=a.window,
        trials=a.trials,
        min_models=a.min_models,
        whole_processes=a.whole_processes,
        validation_models=_csv(a.validation_models),
        validation_configs=_parse_configs(a.validation_configs) if a.validation_configs else None,
        validation_repeats=a.validation_repeats,
        validation_fraction=a.validation_fraction,
        fill=not a.no_fill,
        seed=a.seed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, block xgboost/skops, run the campaign; exit status 1 when a phase failed."""
    if not any(isinstance(f, ImportBlocker) for f in sys.meta_path):
        sys.meta_path.insert(0, ImportBlocker())
    result = run_campaign(parse_options(argv))
    return 1 if any(p["status"] == "failed" for p in result["phases"]) else 0


if __name__ == "__main__":
    sys.exit(main())
