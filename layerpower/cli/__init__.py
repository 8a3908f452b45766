"""The ``layerpower`` command group.

Subcommands live in small modules under :mod:`layerpower.cli` and are loaded only when called, so
``layerpower --help`` never imports torch. Each command module is thin: parse options, call one library
function, print.
"""

from __future__ import annotations

import importlib

import click

from layerpower import __version__

#: subcommand name -> "module:attribute" of its click command
COMMANDS: dict[str, str] = {
    "layers": "layerpower.cli.layers:layers",
    "sources": "layerpower.cli.power:sources",
    "measure": "layerpower.cli.power:measure",
    "profile-model": "layerpower.cli.profile:profile_model",
    "profile-layers": "layerpower.cli.profile_layers:profile_layers",
    "build-dataset": "layerpower.cli.dataset:build_dataset",
    "train-predictors": "layerpower.cli.predict:train_predictors",
    "predict-energy": "layerpower.cli.predict:predict_energy",
    "calibrate": "layerpower.cli.calibrate:calibrate",
    "run-experiments": "layerpower.cli.experiments:run_experiments",
    "validate-energy": "layerpower.cli.stats:validate_energy",
    "benchmark-repeated": "layerpower.cli.stats:benchmark_repeated",
    "analyze": "layerpower.cli.stats:analyze",
}

_HELP = {
    "layers": "List a model's layers with shapes, FLOPs and parameters.",
    "sources": "Show the power sources found on this machine.",
    "measure": "Measure the runtime and energy of another command.",
    "profile-model": "Profile a model's layers on this machine.",
    "profile-layers": "Profile layers sampled from the declared layer space.",
    "build-dataset": "Merge profiled CSVs into datasets per layer kind.",
    "train-predictors": "Train per-layer power and runtime predictors.",
    "predict-energy": "Predict a model's energy, runtime and power.",
    "calibrate": "Fit the shipped predictors to this machine (short probe run).",
    "run-experiments": "Run training/inference experiments across backends.",
    "validate-energy": "Check predicted energy against measured runs.",
    "benchmark-repeated": "Repeated MLP benchmarks across precisions.",
    "analyze": "Summarise experiment results into tables, plots and HTML.",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("layerpower"):
                raise click.ClickException(f"command {cmd_name!r} is not available in this build") from exc
            raise
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="layerpower")
def main() -> None:
    """layerpower: measure and predict the energy, power and runtime of DNNs, layer by layer."""
