"""Parameter counts of every task model, per backend: ``python -m layerpower.experiments.param_counts BACKEND``.

Builds each task's model (no training, no data) with the default data's shapes (digits for ``mlp`` and
``cnn``, the generated sequences for ``lstm``) and prints ``{"<model>/<complexity>": count, ...}`` as JSON.
Run it once per backend, each in its own process; :func:`expected_parameter_counts` gives the counts the
spec itself implies, which every backend must match.
"""

from __future__ import annotations

import json
import sys

from layerpower.experiments.data import SEQUENCE_STEPS
from layerpower.experiments.tasks import CLASSIFICATION, TASKS, TaskSpec, model_layers, parameter_count

#: (input shape, outputs) of the default data of each problem
DEFAULT_SHAPES: dict[str, tuple[tuple[int, ...], int]] = {
    CLASSIFICATION: ((8, 8, 1), 10),  # scikit-learn digits
    "regression": ((SEQUENCE_STEPS, 1), 1),  # generated sequences
}


def _shape(task: TaskSpec) -> tuple[tuple[int, ...], int]:
    return DEFAULT_SHAPES[task.problem]


def expected_parameter_counts() -> dict[str, int]:
    """Trainable parameters of every task model, computed from the spec alone."""
    return {f"{m}/{c}": parameter_count(task, *_shape(task)) for (m, c), task in TASKS.items()}


def backend_parameter_counts(backend: str, precision: str = "fp32") -> dict[str, int]:
    """Trainable parameters of every task model as ``backend`` builds it (imports that backend)."""
    from layerpower.experiments.backends import backend_class
    from layerpower.experiments.precision import get_precision

    cls = backend_class(backend)
    counts = {}
    for (model, complexity), task in TASKS.items():
        instance = cls(get_precision(precision))
        instance.set_seed(0)
        input_shape, n_outputs = _shape(task)
        layers = model_layers(task, n_outputs)
        counts[f"{model}/{complexity}"] = instance.count_parameters(layers, input_shape, task.problem)
    return counts


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m layerpower.experiments.param_counts BACKEND", file=sys.stderr)
        return 2
    print(json.dumps(backend_parameter_counts(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
