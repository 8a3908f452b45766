"""End-to-end experiments: training and inference runs across backends, tasks and precisions.

One run = one backend (torch, jax, tf-keras, jax-keras, torch-keras) x task (mlp, cnn, lstm; simple or
complex) x precision (fp32, fp16, bf16, mixed-fp16, mixed-bf16) x seed, in its own subprocess, with power,
utilisation and memory sampled in the background. Modules:

* :mod:`.tasks`: the task models, declared once for every backend;
* :mod:`.precision`: the precisions and what each means per backend;
* :mod:`.data`: digits, MNIST (IDX), CIFAR-10 (binary) and the generated sequence task;
* :mod:`.backends`: one module per stack, imported only inside a run's process;
* :mod:`.config`, :mod:`.rundir`: a run's config and its result folder;
* :mod:`.run_one`: one run in this process; :mod:`.runner`: the sweep, :func:`run_experiments`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RunConfig", "parse_run_name", "plan_runs", "run_experiments"]


def __getattr__(name: str) -> Any:  # lazy, so importing the package stays cheap
    if name in ("run_experiments", "plan_runs"):
        from layerpower.experiments import runner

        return getattr(runner, name)
    if name in ("RunConfig", "parse_run_name"):
        from layerpower.experiments import config

        return getattr(config, name)
    raise AttributeError(name)
