"""``build-dataset``: merge profiled CSVs into one dataset file per layer kind."""

from __future__ import annotations

from pathlib import Path

import click

from layerpower.cli._common import CONTEXT, power_source_option, progress_option, user_errors
from layerpower.dataset.layout import FORMATS


@click.command("build-dataset", context_settings=CONTEXT)
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--device-id", help="Device folder under ROOT to merge (required when ROOT holds several).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder.  [default: datasets/<device-id>/]",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=FORMATS[0],
    show_default=True,
    help="File format of the merged datasets.",
)
@click.option(
    "--power-unit",
    type=click.Choice(["uW", "µW", "mW", "W"]),
    help="Unit of a bare 'power' column in other tools' files.",
)
@click.option(
    "--runtime-unit",
    type=click.Choice(["us", "µs", "ms", "s"]),
    help="Unit of a bare 'runtime' column in other tools' files.",
)
@click.option(
    "--idle-subtracted",
    is_flag=True,
    default=None,
    help="Other tools' power columns have the idle power subtracted (dynamic power).",
)
@power_source_option(help="Sensor behind other tools' files that do not name one.", allow_auto=False)
@click.option(
    "--allow-mixed-sources", is_flag=True, help="Allow measured and estimated power in one dataset."
)
@click.option("--allow-mixed-devices", is_flag=True, help="Allow rows from several devices in one dataset.")
@progress_option()
@user_errors
def build_dataset(
    root: Path,
    device_id: str | None,
    out: Path | None,
    fmt: str,
    power_unit: str | None,
    runtime_unit: str | None,
    idle_subtracted: bool | None,
    power_source: str | None,
    allow_mixed_sources: bool,
    allow_mixed_devices: bool,
    progress: bool,
) -> None:
    """Merge ROOT (training_data/, or one device folder of it) into one dataset file per layer kind.

    Writes <kind>.<format> (every schema column plus 'source': measured|estimate), model.<format> and
    summary.json, then prints rows per model and kind. A re-run on unchanged input does nothing.
    """
    from layerpower.dataset.build import build_dataset as build

    result = build(
        root,
        device_id=device_id,
        out=out,
        fmt=fmt,
        power_unit=power_unit,
        runtime_unit=runtime_unit,
        allow_mixed_sources=allow_mixed_sources,
        allow_mixed_devices=allow_mixed_devices,
        progress=progress,
        idle_subtracted=idle_subtracted or None,
        power_source=power_source,
    )
    summary = result.summary
    if result.unchanged:
        click.echo(
            f"unchanged: {result.out} (input {result.input_hash[:19]}, {len(summary['files_read'])} files)"
        )
        return
    counts = result.counts
    click.echo(counts.to_string() if not counts.empty else "(no layer rows)")
    devices = ", ".join(d or "(unnamed)" for d in summary["device_ids"])
    click.echo(f"device: {devices}")
    sources = ", ".join(f"{n} {s}" for s, n in summary["rows_by_source"].items())
    click.echo(
        f"source: {summary['source']} ({sources}); power source: {', '.join(summary['power_sources'])}"
    )
    if summary["rows_without_total_power"]:
        click.echo(
            f"note: {summary['rows_without_total_power']} rows carry only dynamic power (idle subtracted; "
            "power_w empty, dynamic_power_w set)"
        )
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    for flag in result.flags:
        click.echo(f"warning: {flag}", err=True)
    rows = summary["rows"]
    click.echo(
        f"wrote {sum(rows.values())} rows ({', '.join(f'{t} {n}' for t, n in rows.items())}) to {result.out}"
    )
