"""Without ``--ray`` Ray is never imported; with ``--ray`` and no Ray, one line names the extra to install.

These tests need no Ray at all, so they run where the cluster extra is missing too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from layerpower.cli.experiments import run_experiments
from layerpower.cli.profile import profile_model
from layerpower.cli.profile_layers import profile_layers

ROOT = Path(__file__).resolve().parents[2]
QUICK = "['--power-source', 'estimate', '--window', '0.005', '--trials', '1', '--forwards', '1', '--processes', '0', '--repeats', '2', '--idle', '0.02', '--no-progress']"


def test_local_cli_path_never_imports_ray(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from click.testing import CliRunner
        import layerpower.cli, layerpower.cli.profile, layerpower.cli.experiments
        import layerpower.cluster, layerpower.stats.results
        import layerpower.cluster.sampled
        from layerpower.cli.profile import profile_model
        from layerpower.cli.profile_layers import profile_layers
        result = CliRunner().invoke(profile_model, ['lenet', '--out', {str(tmp_path)!r}, *{QUICK}])
        assert result.exit_code == 0, result.output
        layers = ['--n', '2', '--kinds', 'other', '--batch-sizes', '1', '--window', '0.005', '--trials', '1']
        layers += ['--idle', '0.02', '--power-source', 'estimate', '--no-progress']
        result = CliRunner().invoke(profile_layers, [*layers, '--out', {str(tmp_path)!r}])
        assert result.exit_code == 0, result.output
        print('ray' in sys.modules)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize(
    ("command", "args"),
    [
        (profile_model, ["lenet", "--ray"]),
        (run_experiments, ["--backends", "torch", "--models", "mlp", "--ray", "auto"]),
        (profile_layers, ["--n", "2", "--power-source", "estimate", "--ray"]),
    ],
)
def test_ray_missing_names_the_extra(
    command: object, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    result = CliRunner().invoke(command, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "pip install 'layerpower[cluster]'" in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
