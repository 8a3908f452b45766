"""``profile-model``: profile a model's layers (alone and in context) and the whole model on this machine."""

from __future__ import annotations

import sys

import click

from layerpower.cli._common import (
    CONTEXT,
    UsageFailure,
    comma_ints,
    comma_list,
    power_source_option,
    progress_option,
    ray_options,
    tdp_option,
    user_errors,
    window_options,
)
from layerpower.config.vocab import LAYER_KINDS

#: the models ``--all`` profiles, cheapest first (so an interrupted run has the most models done)
ALL_MODELS: tuple[str, ...] = (
    "lenet",
    "squeezenet1_0",
    "shufflenet_v2_x1_0",
    "mobilenet_v3_small",
    "alexnet",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "googlenet",
    "resnet18",
    "convnext_tiny",
    "resnet34",
    "densenet121",
    "resnet50",
    "resnext50_32x4d",
    "vgg11",
    "resnet101",
    "vgg13",
    "resnet152",
    "vgg16",
    "vgg19",
)


@click.command(context_settings=CONTEXT)
@click.argument("models", nargs=-1)
@click.option(
    "--all", "all_models", is_flag=True, help=f"Profile the {len(ALL_MODELS)} zoo models of the dataset."
)
@click.option("--models", "model_list", default=None, help="Comma-separated model names (adds to MODELS).")
@click.option(
    "--batch-size",
    "batch_sizes",
    default="1",
    callback=comma_ints,
    show_default=True,
    help="Batch sizes, comma-separated, e.g. 1,8.",
)
@click.option(
    "--dtype", "dtypes", default="fp32", show_default=True, help="fp32, fp16 or bf16 (comma-separated)."
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@power_source_option(help="nvml, rapl, jetson or estimate (default: the best found).")
@tdp_option(help="Full-load CPU power in W for the estimate source.")
@window_options()
@click.option("--kinds", default=",".join(LAYER_KINDS), show_default=True, help="Layer kinds to profile.")
@click.option(
    "--out",
    default="training_data",
    show_default=True,
    type=click.Path(),
    help="Output folder; data goes to OUT/<device-id>/<model>/.",
)
@click.option("--resume", is_flag=True, help="Skip batch sizes and dtypes already complete on disk.")
@click.option(
    "--processes",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Fresh processes for the whole-model runtime (0: measure in this process).",
)
@click.option(
    "--repeats",
    type=click.IntRange(min=1),
    default=None,
    help="Whole-model forwards per process (default: ~2 s worth, 5 to 30).",
)
@click.option(
    "--forwards",
    type=click.IntRange(min=1),
    default=None,
    help="Traced forwards for in-context layer runtimes (default: ~1 s worth, 3 to 20).",
)
@click.option(
    "--idle",
    "idle_s",
    type=click.FloatRange(min=0.0, min_open=True),
    default=None,
    help="Seconds of idle-power measurement (default by source: estimate 0.5, nvml 2.0).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="torch intra-op threads, here and in the whole-model processes (default: torch's).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the shuffled trial schedule.")
@ray_options("model x configuration")
@progress_option()
@user_errors
def profile_model(
    models: tuple[str, ...],
    all_models: bool,
    model_list: str | None,
    batch_sizes: list[int],
    dtypes: str,
    device: str,
    power_source: str | None,
    tdp_w: float | None,
    window_s: float | None,
    trials: int,
    kinds: str,
    out: str,
    resume: bool,
    processes: int,
    repeats: int | None,
    forwards: int | None,
    idle_s: float | None,
    threads: int | None,
    seed: int,
    ray_address: str | None,
    ray_cpus: int | None,
    progress: bool,
) -> None:
    """Profile MODELS layer by layer on this machine.

    Every layer runs alone (calibrated windows, TRIALS trials in random order) for runtime, power and
    energy, and in context (inside real forward passes) for runtime; the whole model is timed end to end
    in fresh processes. Files: OUT/<device-id>/<model>/{convolutional,pooling,dense,attention,other,model}.csv and
    meta.json. Every power figure names its source; the estimate source is marked as an estimate.
    """
    from layerpower.models.dtypes import normalize_dtype
    from layerpower.profiling.settings import ProfileSettings
    from layerpower.profiling.sweep import ModelOutcome, profile_models
    from layerpower.profiling.writer import check_output_root

    names = list(models) + comma_list(model_list)
    if all_models:
        names += [m for m in ALL_MODELS if m not in names]
    if not names:
        raise click.UsageError("name at least one model, or use --all / --models")
    names = list(dict.fromkeys(names))
    dtype_names = [normalize_dtype(d) for d in comma_list(dtypes)] or ["float32"]
    check_output_root(out)
    settings = ProfileSettings(
        window_s=window_s,
        trials=trials,
        kinds=tuple(comma_list(kinds)),
        whole_processes=processes,
        whole_repeats=repeats,
        context_forwards=forwards,
        idle_s=idle_s,
        seed=seed,
    )

    def report(o: ModelOutcome) -> None:
        if o.status == "failed":
            click.echo(f"{o.model}: FAILED: {o.error}", err=True)
        elif o.status == "skipped":
            click.echo(f"{o.model}: already complete in {o.folder}, skipped")
        else:
            click.echo(
                f"{o.model}: {', '.join(o.configs)}: {o.rows} layer rows in {o.duration_s:.1f} s -> {o.folder}"
            )
        for warning in o.warnings:
            click.echo(f"warning: {warning}", err=True)

    options = dict(
        device=device,
        out=out,
        power_source=power_source,
        tdp_w=tdp_w,
        settings=settings,
        resume=resume,
        progress=progress,
        threads=threads,
        on_outcome=report,
    )
    try:
        if ray_address is None:
            result = profile_models(names, batch_sizes, dtype_names, **options)
        else:  # the cluster extra, imported only here
            from layerpower.cluster.engine import connect
            from layerpower.cluster.profile import profile_models_ray

            with connect(ray_address):
                result = profile_models_ray(names, batch_sizes, dtype_names, cpus=ray_cpus, **options)
    except KeyboardInterrupt:
        click.echo("interrupted: finished configurations are kept; rerun with --resume to continue", err=True)
        sys.exit(130)
    kind = "estimate (a model, not a sensor)" if result.is_estimate else "measured"
    click.echo(f"device {result.device_id}, power source {result.power_source}: {kind}")
    failures = result.failures
    if failures:
        if len(names) == 1:
            raise UsageFailure(failures[0].error)
        listing = "; ".join(f"{o.model}: {o.error}" for o in failures)
        raise UsageFailure(f"{len(failures)} of {len(names)} models failed: {listing}")
