"""The plan of the GPU campaign: options, phase budgets and a dataset sized to fit the deadline.

Only the standard library and :mod:`layerpower.models` are imported here (no predictors: the GPU machine
has no xgboost and no skops). Times are seconds.

Sizing the dataset: every model costs ``configs x (per-config overhead + distinct layers x per-layer cost)``
plus its whole-model processes; the per-layer cost is ``(warmup_fraction + trials) x window`` plus a fixed
overhead. The window is a whole number of the energy counter's update periods (never fewer than three,
the protocol's minimum). :func:`choose_rung` walks :data:`LADDER` from the most careful rung down and takes
the first on which ``min_models`` models fit; when none does, the rung that fits the most models. A model too
long for what is left of the budget is passed over (the fill phase takes it if time remains) and the next
ones are tried, keeping the priority order among those planned.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: the 21 models of the bundled dataset, most useful first (all configurations of one before the next)
MODEL_ORDER: tuple[str, ...] = (
    "resnet18",
    "vgg16",
    "mobilenet_v2",
    "resnet50",
    "alexnet",
    "densenet121",
    "efficientnet_b0",
    "googlenet",
    "squeezenet1_0",
    "shufflenet_v2_x1_0",
    "mobilenet_v3_large",
    "resnet34",
    "vgg11",
    "convnext_tiny",
    "resnext50_32x4d",
    "mobilenet_v3_small",
    "resnet101",
    "vgg13",
    "vgg19",
    "resnet152",
    "lenet",
)
#: models measured end to end for validate-energy: the last of the order, the least likely to be profiled
#: (so they stay held out of the training data)
VALIDATION_MODELS: tuple[str, ...] = ("resnet152", "vgg19", "vgg13", "resnet101", "mobilenet_v3_small")
#: (trials, window in counter periods), most careful first
LADDER: tuple[tuple[int, int], ...] = ((3, 5), (3, 3), (2, 3), (1, 3))
#: warm-up of a layer alone, as a share of its window (ProfileSettings.warmup_fraction)
WARMUP_FRACTION = 0.25
#: the counter period assumed before it is measured (DESIGN.md: NVML's counter about every 100 ms)
ASSUMED_PERIOD_S = 0.1

#: cost model (seconds), real run / dry run
PER_LAYER_OVERHEAD_S = {"real": 0.03, "dry": 0.01}  # build the layer, calibration calls, Python
PER_CONFIG_OVERHEAD_S = {"real": 0.5, "dry": 0.3}  # traced forward check, rows, atomic writes
PER_MODEL_OVERHEAD_S = {"real": 2.0, "dry": 0.3}  # build the model on the device
PROCESS_START_S = {"real": 10.0, "dry": 3.0}  # python + torch import + CUDA context in a fresh process
NVML_CHECK_S = {"real": 12.0, "dry": 1.5}
TARBALL_MARGIN_S = {"real": 5.0, "dry": 0.0}


@dataclass
class CampaignOptions:
    """Everything the campaign needs; ``None`` means "the default for a real run / a dry run"."""

    out: Path = Path("campaign_out")
    deadline_s: float = 480.0
    dry_run: bool = False
    device: str | None = None  # default: cuda:0 (real), cpu (dry run)
    models: list[str] | None = None
    batch_sizes: list[int] | None = None
    dtypes: list[str] | None = None
    window_s: float | None = None  # fixed window instead of the ladder
    trials: int | None = None
    min_models: int = 12
    whole_processes: int | None = None  # fresh processes for model.csv (0: in this process, the default)
    whole_budget_s: float = 0.5
    validation_models: list[str] | None = None
    validation_configs: list[tuple[int, str]] | None = None
    validation_repeats: int | None = None
    validation_fraction: float = 0.15
    fill: bool = True  # after validation, profile further models while time remains
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def resolved(self) -> CampaignOptions:
        """A copy with every ``None`` replaced by the default of its mode."""
        dry = self.dry_run
        out = CampaignOptions(**{**asdict(self), "out": Path(self.out)})
        out.device = self.device or ("cpu" if dry else "cuda:0")
        out.models = list(self.models or (["lenet"] if dry else MODEL_ORDER))
        out.batch_sizes = [int(b) for b in (self.batch_sizes or ([1] if dry else [1, 32]))]
        out.dtypes = list(self.dtypes or (["fp32"] if dry else ["fp32", "fp16"]))
        out.whole_processes = 0 if self.whole_processes is None else self.whole_processes
        out.validation_models = list(
            self.validation_models
            if self.validation_models is not None
            else ["lenet"]
            if dry
            else VALIDATION_MODELS
        )
        out.validation_configs = list(self.validation_configs or [(1, "fp32")])
        out.validation_repeats = self.validation_repeats or (2 if dry else 3)
        if dry and self.window_s is None and self.trials is None:
            out.trials = 2
        return out

    @property
    def mode(self) -> str:
        return "dry" if self.dry_run else "real"

    def configs(self) -> list[tuple[int, str]]:
        """(batch size, dtype) of one model, in the order measured: every batch size of a dtype together."""
        assert self.batch_sizes is not None and self.dtypes is not None
        return [(b, d) for d in self.dtypes for b in self.batch_sizes]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out"] = str(self.out)
        return data


@dataclass(frozen=True)
class Rung:
    trials: int
    window_s: float
    window_periods: float
    why: str


@dataclass
class ModelPlan:
    model: str
    configs: list[tuple[int, str]]
    unique_layers: int
    layer_calls: int
    estimate_s: float
    planned: bool  # fits the dataset budget
    error: str = ""


@dataclass
class Plan:
    deadline_s: float
    period_s: float
    period_measured: bool
    rung: Rung
    budgets: dict[str, float]  # phase -> seconds
    models: list[ModelPlan]
    validation: list[dict[str, Any]]
    validation_mode: str  # "fresh processes" | "in process"
    notes: list[str]

    def planned_models(self) -> list[ModelPlan]:
        return [m for m in self.models if m.planned]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The plan as printable lines."""
        r = self.rung
        origin = "measured" if self.period_measured else "assumed"
        out = [
            f"deadline {self.deadline_s:.0f} s of measurement; counter period {self.period_s * 1e3:.1f} ms ({origin})",
            f"layer windows: {r.window_s * 1e3:.0f} ms ({r.window_periods:.1f} periods), {r.trials} trial(s) per layer ({r.why})",
            "phase budgets: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.budgets.items()),
            "dataset (all configurations of a model before the next):",
        ]
        total = 0.0
        for m in self.models:
            configs = ",".join(f"b{b}-{d}" for b, d in m.configs)
            if m.planned:
                total += m.estimate_s
            mark = (
                "planned" if m.planned else ("fill if time remains" if not m.error else f"error: {m.error}")
            )
            out.append(
                f"  {m.model:<20} {configs:<40} {m.unique_layers:>4} distinct of {m.layer_calls:>4} calls"
                f"  ~{m.estimate_s:7.1f} s  (cum {total:7.1f} s)  {mark}"
            )
        out.append(
            f"  -> {len(self.planned_models())} of {len(self.models)} models planned, ~{total:.1f} s "
            f"of {self.budgets.get('dataset', 0.0):.1f} s"
        )
        out.append(f"validation ({self.validation_mode}):")
        for v in self.validation:
            out.append(
                f"  {v['model']:<20} {','.join(f'b{b}-{d}' for b, d in v['configs']):<20} "
                f"{v['repeats']} repeats  ~{v['estimate_s']:.1f} s  {'planned' if v['planned'] else 'no time'}"
            )
        out.extend(f"note: {n}" for n in self.notes)
        return out


def layer_counts(model: str) -> tuple[int, int]:
    """(distinct layers measured alone, layer calls) of ``model``: the profiler's dedup key, on the meta device."""
    from layerpower.models.layers import extract_layers

    specs = extract_layers(model, 1, "float32")
    keys = {(s.config_key(), tuple(tuple(x) for x in (s.extra.get("arg_shapes") or ()))) for s in specs}
    return len(keys), len(specs)


def config_seconds(unique: int, trials: int, window_s: float, opts: CampaignOptions) -> float:
    """One configuration of a model: idle window, in-context forwards, every distinct layer alone."""
    mode = opts.mode
    idle = idle_seconds(opts)
    context = context_budget(opts)
    per_layer = (WARMUP_FRACTION + trials) * window_s + PER_LAYER_OVERHEAD_S[mode]
    return PER_CONFIG_OVERHEAD_S[mode] + idle + context + unique * per_layer


def model_seconds(unique: int, n_configs: int, trials: int, window_s: float, opts: CampaignOptions) -> float:
    mode = opts.mode
    whole = (opts.whole_processes or 0) * (PROCESS_START_S[mode] + n_configs * (opts.whole_budget_s + 0.3))
    if not opts.whole_processes:
        whole = n_configs * (opts.whole_budget_s + 0.3)
    return PER_MODEL_OVERHEAD_S[mode] + whole + n_configs * config_seconds(unique, trials, window_s, opts)


def idle_seconds(opts: CampaignOptions) -> float:
    return 0.1 if opts.dry_run else 0.5


def context_budget(opts: CampaignOptions) -> float:
    return 0.1 if opts.dry_run else 0.5


def rungs(period_s: float, opts: CampaignOptions) -> list[Rung]:
    """The candidate (trials, window) settings: the fixed ones asked for, else :data:`LADDER`."""
    if opts.window_s is not None or opts.trials is not None:
        window = opts.window_s if opts.window_s is not None else 3 * period_s
        trials = opts.trials or 3
        if opts.window_s is None and opts.trials is not None:
            return [Rung(trials, 3 * period_s, 3.0, "trials asked for, window = 3 periods")]
        return [Rung(trials, float(window), window / period_s, "window asked for")]
    return [Rung(t, k * period_s, float(k), f"ladder rung {t} trials x {k} periods") for t, k in LADDER]


def make_plan(
    opts: CampaignOptions, period_s: float | None, counts: dict[str, tuple[int, int] | str]
) -> Plan:
    """Size the campaign to ``opts.deadline_s``; ``counts``: model -> (distinct, calls) or an error text."""
    measured = period_s is not None and period_s > 0
    period = float(period_s) if measured else ASSUMED_PERIOD_S
    mode = opts.mode
    deadline = float(opts.deadline_s)
    check = NVML_CHECK_S[mode]
    validation_budget = max(0.0, opts.validation_fraction * deadline)
    dataset_budget = max(0.0, deadline - check - validation_budget - TARBALL_MARGIN_S[mode])
    configs = opts.configs()
    notes: list[str] = []

    def fitted(rung: Rung) -> list[ModelPlan]:
        used, plans = 0.0, []
        for model in opts.models or []:
            count = counts.get(model, "unknown")
            if isinstance(count, str):
                plans.append(ModelPlan(model, configs, 0, 0, 0.0, False, count))
                continue
            est = model_seconds(count[0], len(configs), rung.trials, rung.window_s, opts)
            ok = used + est <= dataset_budget  # a model too long for what is left waits for the fill phase
            used += est if ok else 0.0
            plans.append(ModelPlan(model, configs, count[0], count[1], round(est, 1), ok))
        return plans

    candidates = [(rung, fitted(rung)) for rung in rungs(period, opts)]
    wanted = min(opts.min_models, len([m for m in opts.models or [] if not isinstance(counts.get(m), str)]))
    chosen = next(((r, p) for r, p in candidates if sum(m.planned for m in p) >= wanted), None)
    if chosen is None:
        chosen = max(candidates, key=lambda rp: sum(m.planned for m in rp[1]))
        got = sum(m.planned for m in chosen[1])
        notes.append(
            f"only {got} of the {wanted} models wanted fit {dataset_budget:.0f} s even at the cheapest setting; "
            "the rest are profiled after validation while time remains"
        )
    rung, models = chosen

    # validation: fresh processes when they fit the reserve, else repeated in this process
    repeats = int(opts.validation_repeats or 3)
    vconfigs = list(opts.validation_configs or [(1, "fp32")])
    per_measure = len(vconfigs) * (opts.whole_budget_s + 0.5)
    fresh_each = repeats * (PROCESS_START_S[mode] + per_measure)
    inproc_each = PER_MODEL_OVERHEAD_S[mode] + repeats * per_measure
    vmodels = list(opts.validation_models or [])
    fresh_fits = not opts.dry_run and fresh_each * len(vmodels) <= validation_budget
    vmode = "fresh processes" if fresh_fits else "in process"
    if not opts.dry_run and not fresh_fits and vmodels:
        notes.append(
            f"validation: {len(vmodels)} models x {repeats} fresh processes (~{fresh_each * len(vmodels):.0f} s) "
            f"exceed the {validation_budget:.0f} s reserve; repeats run in this process instead"
        )
    each = fresh_each if fresh_fits else inproc_each
    validation, used = [], 0.0
    for model in vmodels:
        ok = used + each <= validation_budget
        used += each if ok else 0.0
        validation.append(
            {
                "model": model,
                "configs": vconfigs,
                "repeats": repeats,
                "estimate_s": round(each, 1),
                "planned": ok,
            }
        )
    budgets = {
        "nvml_check": check,
        "dataset": round(dataset_budget, 1),
        "validation": round(validation_budget, 1),
        "margin": TARBALL_MARGIN_S[mode],
    }
    return Plan(deadline, period, measured, rung, budgets, models, validation, vmode, notes)
