"""``layerpower layers``: a model's layer calls with shapes, FLOPs and parameters (no weights, no data)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from layerpower.cli._common import CONTEXT, echo_json, user_errors
from layerpower.errors import LayerpowerError

F = TypeVar("F", bound=Callable[..., Any])


def input_options(func: F) -> F:
    """``--input-shape``, ``--input-dtype`` and ``--seq-len``, shared by ``layers`` and ``predict-energy``.

    The values reach the command as given (text, text, int); the model's name is needed to parse them
    into errors that name it (:func:`layerpower.models.inputs.parse_input_shape`)."""
    options = [
        click.option(
            "--input-shape",
            default=None,
            metavar="SHAPE",
            help="Per-sample input shape without the batch dimension: 128, 128x384 or 3x224x224 "
            "(default: the model's own, e.g. 3x299x299 for inception_v3).",
        ),
        click.option(
            "--input-dtype",
            default=None,
            metavar="DTYPE",
            help="Input dtype: float (takes --dtype) or an integer type for token ids (long, int32) "
            "[default: the model's own].",
        ),
        click.option(
            "--seq-len",
            type=click.IntRange(min=1),
            default=None,
            help="Sequence length of a sequence model (bert_base_like, gpt2_small_like; same as "
            "NAME@seq=N) [default: 128].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _geometry(values: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in values) if values else "-"


def _table(specs: list[Any]) -> str:
    import pandas as pd

    from layerpower.models.layers import shape_text

    frame = pd.DataFrame(
        {
            "layer": [s.name for s in specs],
            "type": [s.module_type for s in specs],
            "kind": [s.kind for s in specs],
            "input": [shape_text(s.input_shape) for s in specs],
            "output": [shape_text(s.output_shape) for s in specs],
            "kernel": [_geometry(s.kernel) for s in specs],
            "stride": [_geometry(s.stride) for s in specs],
            "params": [f"{s.params:,}" for s in specs],
            "MFLOPs": [f"{s.flops / 1e6:,.3f}" for s in specs],
        }
    )
    return frame.to_string(index=False)


def _summary_lines(summary: dict[str, Any], header: dict[str, Any]) -> list[str]:
    counts = ", ".join(f"{n} {kind}" for kind, n in summary["counts"].items())
    return [
        f"{summary['layer_calls']} layer calls: {counts} "
        f"({summary['module_calls']} module calls, {summary['functional_calls']} functional ops)",
        f"total {summary['flops'] / 1e9:.3f} GFLOPs, {summary['params']:,} parameters, "
        f"{summary['bytes_read'] / 1e6:.1f} MB read, {summary['bytes_written'] / 1e6:.1f} MB written",
        f"model {header['model']}, input {'x'.join(map(str, header['input_shape']))}, {header['dtype']}",
    ]


@click.command("layers", context_settings=CONTEXT)
@click.argument("model", required=False)
@click.option(
    "--batch-size", "-b", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size."
)
@click.option("--dtype", default="fp32", show_default=True, help="Precision: fp32, fp16 or bf16.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="table (with totals), csv (one row per layer call) or json (layers and totals).",
)
@input_options
@click.option("--list", "list_models", is_flag=True, help="List the model names and exit.")
@user_errors
def layers(
    model: str | None,
    batch_size: int,
    dtype: str,
    fmt: str,
    input_shape: str | None,
    input_dtype: str | None,
    seq_len: int | None,
    list_models: bool,
) -> None:
    """List the layer calls of MODEL: a torchvision classification model (resnet18, vgg16, ...), lenet, a
    transformer reference (bert_base_like, gpt2_small_like; NAME@seq=N), or package.module:factory. Built
    on the meta device: no weights are downloaded, no data is needed."""
    from layerpower.models.dtypes import normalize_dtype
    from layerpower.models.inputs import declared_inputs, parse_input_shape
    from layerpower.models.zoo import available_models, meta_model, resolve_model, with_seq_len

    if list_models:
        for name in available_models():
            click.echo(name)
        return
    if not model:
        raise LayerpowerError(
            "no model given", hint="e.g. `layerpower layers resnet18`; --list shows every name"
        )
    from layerpower.models.layers import extract_layers, layers_frame, summarize_layers

    dtype_name = normalize_dtype(dtype)
    entry = resolve_model(with_seq_len(model, seq_len))
    shape = parse_input_shape(input_shape, entry.name)
    specs = extract_layers(entry.name, batch_size, dtype_name, input_shape=shape, input_dtype=input_dtype)
    summary = summarize_layers(specs)
    if shape is None:
        shape = declared_inputs(entry, meta_model(entry.name))["input_shape"]
    header = {"model": entry.name, "input_shape": [batch_size, *shape], "dtype": dtype_name}
    if fmt == "json":
        echo_json(
            {**header, "batch_size": batch_size, "summary": summary, "layers": [s.to_dict() for s in specs]}
        )
    elif fmt == "csv":
        click.echo(layers_frame(specs).to_csv(index=False), nl=False)
    else:
        click.echo(_table(specs))
        click.echo()
        for line in _summary_lines(summary, header):
            click.echo(line)
