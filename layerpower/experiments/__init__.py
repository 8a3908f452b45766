"""End-to-end experiments: training and inference runs across backends, tasks and precisions.

One run = one backend (torch, jax, tf-keras, jax-keras, torch-keras) x task (mlp, cnn, lstm; simple or
complex) x precision (fp32, fp16, bf16, mixed_fp16, mixed_bf16) x seed, in its own subprocess, with power,
utilisation and memory sampled in the background. Modules:

* :mod:`.tasks`: the task models, declared once for every backend;
* :mod:`.precision`: the precisions and what each means per backend;
* :mod:`.data`: digits, MNIST (IDX), CIFAR-10 (binary) and the generated sequence task;
* :mod:`.backends`: one module per stack, imported only inside a run's process;
* :mod:`.config`, :mod:`.rundir`: a run's config (:class:`RunConfig`, its :class:`RunSettings`), a sweep
  (:class:`SweepSpec`) and a run's result folder;
* :mod:`.run_one`: one run in this process; :mod:`.runner`: the sweep, :func:`run_experiments`;
* :mod:`.repeated` (with :mod:`.repeated_mlp`): :func:`run_repeated_benchmarks`, a small torch MLP
  trained and metered repeatedly across precisions, summarised with :mod:`layerpower.stats`.

Layering: :mod:`.config` and the spec modules it reads (:mod:`.tasks`, :mod:`.precision`, the backend
registry) import only :mod:`layerpower.config` and :mod:`layerpower.errors`, so :mod:`layerpower.stats` can
read run folders through them; the drivers here may import :mod:`layerpower.stats`.

The names below are importable from ``layerpower.experiments`` directly; each module loads on first use.
"""

from __future__ import annotations

from layerpower._lazy import lazy_exports

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "RunConfig": "config",
    "RunSettings": "config",
    "SweepSpec": "config",
    "parse_run_name": "config",
    "plan_runs": "runner",
    "run_experiments": "runner",
    "run_sweep": "runner",
    "run_repeated_benchmarks": "repeated",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
