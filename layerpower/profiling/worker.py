"""Fresh worker processes that measure one thing and print it as JSON on their last line of stdout.

Used by the whole-model measurement (:mod:`layerpower.profiling.whole_model`) and the page-fault cost probe
(:mod:`layerpower.profiling.fault_cost`): a fresh process has its own heap and malloc settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from layerpower.errors import LayerpowerError


def worker_env() -> dict[str, str]:
    """The environment for a worker: this process's import path, so user factories resolve there too."""
    env = dict(os.environ)
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    torch = sys.modules.get("torch")
    if torch is not None and "LAYERPOWER_TORCH_THREADS" not in env:
        env["LAYERPOWER_TORCH_THREADS"] = str(torch.get_num_threads())
    return env


def run_json_worker(command: Sequence[str], what: str, timeout_s: float, hint: str | None = None) -> Any:
    """Run ``command`` with :func:`worker_env` and return the JSON of its last line of stdout.

    Raises :class:`LayerpowerError` naming ``what`` when it runs past ``timeout_s`` seconds, fails (with the
    last line of its stderr) or prints no JSON."""
    try:
        done = subprocess.run(
            list(command), capture_output=True, text=True, env=worker_env(), timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise LayerpowerError(f"{what} took longer than {timeout_s:.0f} s", hint) from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        raise LayerpowerError(f"{what} failed in a worker process: {reason}", hint)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise LayerpowerError(f"{what}: the worker printed no result", hint) from None
