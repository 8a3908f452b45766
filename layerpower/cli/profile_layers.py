"""``profile-layers``: profile layers drawn from the declared layer space, each alone, on this machine."""

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


@click.command(context_settings=CONTEXT)
@click.option(
    "--kinds",
    default=None,
    help="Layer kinds to sample, comma-separated (default: every kind the space declares).",
)
@click.option(
    "--n", "n", type=click.IntRange(min=1), default=200, show_default=True, help="Layers to sample."
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the draws (same seed: same layers)."
)
@click.option(
    "--batch-sizes",
    "batch_sizes",
    default="1,8",
    callback=comma_ints,
    show_default=True,
    help="Batch sizes drawn from, comma-separated.",
)
@click.option("--dtype", default="fp32", show_default=True, help="fp32, fp16 or bf16.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option(
    "--out",
    default="training_data",
    show_default=True,
    type=click.Path(),
    help="Output folder; data goes to OUT/<device-id>/_sampled/.",
)
@click.option("--resume", is_flag=True, help="Measure only the chunks not yet on disk.")
@power_source_option(help="nvml, rapl, jetson or estimate (default: the best found).")
@tdp_option(help="Full-load CPU power in W for the estimate source.")
@window_options()
@click.option(
    "--idle",
    "idle_s",
    type=click.FloatRange(min=0.0, min_open=True),
    default=None,
    help="Seconds of idle-power measurement per chunk (default by source: estimate 0.5, nvml 2.0).",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=25,
    show_default=True,
    help="Layers per written chunk.",
)
@click.option(
    "--space",
    "space_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="A layer space JSON file (default: the packaged layer_space.json).",
)
@ray_options("chunk")
@progress_option()
@user_errors
def profile_layers(
    kinds: str | None,
    n: int,
    seed: int,
    batch_sizes: list[int],
    dtype: str,
    device: str,
    out: str,
    resume: bool,
    power_source: str | None,
    tdp_w: float | None,
    window_s: float | None,
    trials: int,
    idle_s: float | None,
    chunk_size: int,
    space_path: str | None,
    ray_address: str | None,
    ray_cpus: int | None,
    progress: bool,
) -> None:
    """Profile N layers drawn from the declared layer space, each alone on this machine.

    Every layer runs alone under the profiler's protocol (idle power first, warm-up, calibrated windows,
    TRIALS trials in random order). Files: OUT/<device-id>/_sampled/{convolutional,pooling,dense,attention,other}.csv
    and meta.json, model "_sampled"; runtime_s stays empty (a sampled layer never runs inside a model).
    Every power figure names its source; the estimate source is marked as an estimate. With --ray every
    chunk is one Ray task on a cluster node; the files are written here, in the same layout.
    """
    from layerpower.models.dtypes import normalize_dtype
    from layerpower.profiling.sampled import load_space
    from layerpower.profiling.sampled import profile_layers as run_profile
    from layerpower.profiling.settings import ProfileSettings

    if not batch_sizes:
        raise click.BadParameter("give at least one batch size", param_hint="'--batch-sizes'")
    space = load_space(space_path)
    wanted = comma_list(kinds) if kinds is not None else None
    settings = ProfileSettings(window_s=window_s, trials=trials, idle_s=idle_s, seed=seed)
    options = {
        "seed": seed,
        "kinds": wanted,
        "batch_sizes": batch_sizes,
        "dtype": normalize_dtype(dtype),
        "device": device,
        "out": out,
        "resume": resume,
        "power_source": power_source,
        "tdp_w": tdp_w,
        "settings": settings,
        "progress": progress,
        "chunk_size": chunk_size,
        "space": space,
    }
    try:
        if ray_address is None:
            report = run_profile(n, **options)
        else:  # the cluster extra, imported only here
            from layerpower.cluster.engine import connect
            from layerpower.cluster.sampled import profile_layers_ray

            with connect(ray_address):
                report = profile_layers_ray(n, cpus=ray_cpus, **options)
    except KeyboardInterrupt:
        click.echo("interrupted: finished chunks are kept; rerun with --resume to continue", err=True)
        sys.exit(130)
    rows = ", ".join(f"{kind} {count}" for kind, count in report.rows.items() if count)
    click.echo(
        f"{report.chunks_done} chunk(s) measured, {report.chunks_skipped} already done, of {report.chunks_total}; "
        f"rows: {rows or 'none new'}; {report.rejected} draw(s) rejected by the limits; "
        f"{report.duration_s:.1f} s -> {report.folder}"
    )
    kind = "estimate (a model, not a sensor)" if report.is_estimate else "measured"
    click.echo(f"device {report.device_id}, power source {report.power_source}: {kind}")
    if report.chunks_failed:
        listing = "; ".join(report.errors)
        raise UsageFailure(f"{report.chunks_failed} of {report.chunks_total} chunk(s) failed: {listing}")
