"""Drawing layer configurations from the space: deterministic for a seed, every operation covered.

The ``n`` specs are shared among the operations of the asked kinds in proportion to their weights (each at
least once when ``n`` allows), in an order shuffled by the seed. Each spec draws a batch size, then the
op's dims; a draw above the limits (FLOPs, bytes of tensors) is rejected and drawn again, and counted.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from layerpower.config.vocab import LAYER_KINDS
from layerpower.errors import LayerpowerError
from layerpower.models.spec import LayerSpec
from layerpower.profiling.sampled.space import LayerSpace, OpSpace, load_space


@dataclass
class Sample:
    """The drawn specs and how many draws the limits rejected (in all and per operation)."""

    specs: list[LayerSpec]
    rejected: int
    rejected_by_op: dict[str, int] = field(default_factory=dict)


def check_request(
    n: int, kinds: Sequence[str] | None, batch_sizes: Sequence[int], space: LayerSpace
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Refuse a bad ``n``, kinds or batch sizes with a message saying what to do: (kinds, batch sizes)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise LayerpowerError(f"the number of sampled layers must be a positive integer, got {n!r}")
    wanted = tuple(dict.fromkeys(kinds)) if kinds is not None else space.kinds()
    unknown = [k for k in wanted if k not in LAYER_KINDS]
    if unknown or not wanted:
        raise LayerpowerError(
            f"unknown layer kind(s) {', '.join(map(repr, unknown)) or '(none given)'}",
            hint=f"choose from {', '.join(LAYER_KINDS)}",
        )
    uncovered = [k for k in wanted if k not in space.kinds()]
    if uncovered:
        raise LayerpowerError(
            f"the layer space {space.source} declares no operation of kind(s) {', '.join(uncovered)}",
            hint=f"it covers {', '.join(space.kinds())}",
        )
    sizes = tuple(dict.fromkeys(batch_sizes))
    if not sizes or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in sizes):
        raise LayerpowerError(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    return wanted, sizes


def sample_space(
    n: int,
    *,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
    batch_sizes: Sequence[int] = (1, 8),
    dtype: str = "float32",
    space: LayerSpace | None = None,
) -> Sample:
    """Draw ``n`` layer specs (see the module docstring), with the rejection counts."""
    from layerpower.models.dtypes import normalize_dtype
    from layerpower.profiling.sampled.builders import spec_for

    space = space or load_space()
    wanted, sizes = check_request(n, kinds, batch_sizes, space)
    dtype = normalize_dtype(dtype)
    ops = [op for op in space.ops if op.kind in wanted]
    rng = random.Random(f"layerpower-sampled:{seed}")
    schedule = op_schedule(ops, n, rng)
    specs: list[LayerSpec] = []
    rejected: Counter[str] = Counter()
    for index, op in enumerate(schedule):
        limits = space.limits_for(op)
        for _ in range(limits.max_attempts):
            values = op.draw(rng, rng.choice(sizes))
            args, shapes = op.resolve(values)
            recipe = {"builder": op.builder, "target": op.target, "args": args, "pack_inputs": op.pack_inputs}
            spec = spec_for(op.name, op.kind, recipe, shapes, index, dtype, values)
            if limits.allows(spec.flops, spec.bytes_read + spec.bytes_written):
                specs.append(spec)
                break
            rejected[op.name] += 1
        else:
            raise LayerpowerError(
                f"{op.where}: no draw within the limits in {limits.max_attempts} attempts",
                hint="narrow the op's ranges or raise its limits in the space file",
            )
    return Sample(specs, sum(rejected.values()), dict(sorted(rejected.items())))


def sample_specs(
    n: int,
    *,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
    batch_sizes: Sequence[int] = (1, 8),
    dtype: str = "float32",
    space: LayerSpace | None = None,
) -> list[LayerSpec]:
    """``n`` layer specs drawn from ``space`` (default: the packaged one); the same specs for the same seed."""
    return sample_space(n, seed=seed, kinds=kinds, batch_sizes=batch_sizes, dtype=dtype, space=space).specs


def op_schedule(ops: Sequence[OpSpace], n: int, rng: random.Random) -> list[OpSpace]:
    """The op of each of ``n`` specs: shares by weight (largest remainder, each op once if ``n`` allows),
    shuffled."""
    if n < len(ops):
        chosen = rng.sample(range(len(ops)), n)
        return [ops[i] for i in sorted(chosen)]
    counts = [1] * len(ops)
    rest = n - len(ops)
    total = sum(op.weight for op in ops)
    exact = [rest * op.weight / total for op in ops]
    floors = [math.floor(x) for x in exact]
    order = sorted(range(len(ops)), key=lambda i: exact[i] - floors[i], reverse=True)
    for i in order[: rest - sum(floors)]:
        floors[i] += 1
    schedule = [op for op, c, f in zip(ops, counts, floors, strict=True) for _ in range(c + f)]
    rng.shuffle(schedule)
    return schedule
