"""The declared layer space: a JSON data file with one entry per operation, read and checked here.

The packaged space is ``layer_space.json`` beside this module; its ``notes`` describe the format. An
operation is ``{name, kind, builder, target, weight, dims, args, inputs[, pack_inputs, limits]}``: dims are
drawn in order (``log_int``, ``int``, ``choice``, ``expr``), and strings in ``args``/``inputs`` are small
integer expressions over the dims (:func:`evaluate`). Adding an operation is a new entry (plus, at most, a
builder registered in :mod:`~layerpower.profiling.sampled.builders`).
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import random
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from layerpower.config.vocab import LAYER_KINDS
from layerpower.errors import LayerpowerError

SPACE_FORMAT = "layerpower-layer-space"
SPACE_VERSION = 1
PACKAGED_SPACE = "layer_space.json"
#: the dims every op may use without declaring them
IMPLICIT_DIMS = ("batch",)
_DISTRIBUTIONS = ("log_int", "int", "choice", "expr")
_FUNCTIONS = {"min": min, "max": max, "round_up": lambda x, m: -(-int(x) // int(m)) * int(m)}
_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}


@dataclass(frozen=True)
class Limits:
    """Bounds on one draw: FLOPs, bytes of tensors (inputs + parameters + output), attempts per spec."""

    max_flops: float = 2e10
    max_tensor_bytes: float = 1e9
    max_attempts: int = 2000

    def allows(self, flops: int, tensor_bytes: int) -> bool:
        """True when a layer of ``flops`` FLOPs moving ``tensor_bytes`` bytes is within the limits."""
        return flops <= self.max_flops and tensor_bytes <= self.max_tensor_bytes


@dataclass(frozen=True)
class OpSpace:
    """One operation of the space (see the module docstring); ``where`` names it in messages."""

    name: str
    kind: str
    builder: str
    target: str
    weight: float
    dims: dict[str, dict[str, Any]]
    args: dict[str, Any]
    inputs: Any
    pack_inputs: bool = False
    limits: Limits | None = None
    #: False: left out of the calibration probe set (:meth:`LayerSpace.for_probes`)
    probe: bool = True
    where: str = field(default="", compare=False)

    def draw(self, rng: random.Random, batch: int) -> dict[str, Any]:
        """One draw of every dim, in declaration order (``batch`` given)."""
        values: dict[str, Any] = {"batch": int(batch)}
        for name, dist in self.dims.items():
            values[name] = draw_dim(dist, rng, values, f"{self.where}, dim {name!r}")
        return values

    def resolve(self, values: dict[str, Any]) -> tuple[dict[str, Any], list[list[int]]]:
        """The builder's arguments and the input shapes for drawn ``values``."""
        args = {k: _value(v, values, f"{self.where}, arg {k!r}") for k, v in self.args.items()}
        where = f"{self.where}, inputs"
        if isinstance(self.inputs, dict):
            count = int(_value(self.inputs["repeat"], values, where))
            shape = [int(_value(d, values, where)) for d in self.inputs["shape"]]
            shapes = [list(shape) for _ in range(count)]
        else:
            shapes = [[int(_value(d, values, where)) for d in s] for s in self.inputs]
        return args, shapes


@dataclass(frozen=True)
class LayerSpace:
    """A parsed space file: its operations, limits, where it came from and the sha256 of its bytes."""

    ops: tuple[OpSpace, ...]
    limits: Limits
    source: str
    sha256: str

    def op(self, name: str) -> OpSpace:
        """The operation called ``name``."""
        for op in self.ops:
            if op.name == name:
                return op
        raise LayerpowerError(f"the layer space has no operation {name!r}", hint=f"known: {self.names()}")

    def names(self) -> str:
        return ", ".join(op.name for op in self.ops)

    def kinds(self) -> tuple[str, ...]:
        """The layer kinds the space covers, in vocabulary order."""
        return tuple(k for k in LAYER_KINDS if any(op.kind == k for op in self.ops))

    def with_limits(self, **changes: Any) -> LayerSpace:
        """A copy with other global limits (``max_flops``, ``max_tensor_bytes``, ``max_attempts``)."""
        return replace(self, limits=replace(self.limits, **changes))

    def limits_for(self, op: OpSpace) -> Limits:
        return op.limits or self.limits

    def for_probes(self) -> LayerSpace:
        """A copy without the ops marked ``"probe": false``: the space the calibration probes are drawn
        from, unchanged when an op is added that way (bundles pair their recorded probes by draw order)."""
        return replace(self, ops=tuple(op for op in self.ops if op.probe))


def load_space(path: str | Path | None = None) -> LayerSpace:
    """The packaged layer space, or the space file at ``path``; a :class:`LayerpowerError` naming the file,
    the operation and the field when it is unreadable or not a layer space."""
    if path is None:
        data = resources.files(__package__).joinpath(PACKAGED_SPACE).read_bytes()
        source = f"{__package__}/{PACKAGED_SPACE}"
    else:
        source = str(path)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise LayerpowerError(
                f"cannot read the layer space file {source!r} ({exc.strerror or exc})",
                hint="give the path of a readable JSON space file, or leave --space out for the packaged one",
            ) from None
    return parse_space(data, source)


def parse_space(data: bytes, source: str) -> LayerSpace:
    """Parse and check the bytes of a space file (``source`` names it in messages)."""
    hint = (
        f'a layer space is a JSON object with "format": {SPACE_FORMAT!r} (see the packaged {PACKAGED_SPACE})'
    )
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise LayerpowerError(f"{source}: not readable JSON ({exc})", hint=hint) from None
    if not isinstance(raw, dict) or raw.get("format") != SPACE_FORMAT:
        raise LayerpowerError(f'{source}: not a layer space file (no "format": {SPACE_FORMAT!r})', hint=hint)
    if raw.get("version") != SPACE_VERSION:
        raise LayerpowerError(
            f"{source}: layer space version {raw.get('version')!r} is not known (this build reads {SPACE_VERSION})"
        )
    limits = _limits(raw.get("limits", {}), f"{source}, limits")
    ops_raw = raw.get("ops")
    if not isinstance(ops_raw, list) or not ops_raw:
        raise LayerpowerError(f"{source}: key 'ops' must be a non-empty list of operations", hint=hint)
    ops = tuple(_op(entry, f"{source}, ops[{i}]") for i, entry in enumerate(ops_raw))
    seen: set[str] = set()
    for op in ops:
        if op.name in seen:
            raise LayerpowerError(f"{op.where}: operation name {op.name!r} appears twice")
        seen.add(op.name)
    return LayerSpace(ops, limits, source, hashlib.sha256(data).hexdigest())


def _limits(raw: Any, where: str) -> Limits:
    if not isinstance(raw, dict):
        raise LayerpowerError(f"{where}: expected an object")
    unknown = set(raw) - {"max_flops", "max_tensor_bytes", "max_attempts"}
    if unknown:
        raise LayerpowerError(f"{where}: unknown key(s) {sorted(unknown)}")
    try:
        limits = Limits(**{k: (int(v) if k == "max_attempts" else float(v)) for k, v in raw.items()})
    except (TypeError, ValueError):
        raise LayerpowerError(f"{where}: limits must be numbers") from None
    if not (limits.max_flops > 0 and limits.max_tensor_bytes > 0 and limits.max_attempts >= 1):
        raise LayerpowerError(f"{where}: limits must be positive")
    return limits


def _op(raw: Any, where: str) -> OpSpace:
    from layerpower.profiling.sampled.builders import BUILDERS

    if not isinstance(raw, dict):
        raise LayerpowerError(f"{where}: expected an object")
    missing = [k for k in ("name", "kind", "builder", "target", "dims", "args", "inputs") if k not in raw]
    if missing:
        raise LayerpowerError(f"{where}: missing key(s) {', '.join(missing)}")
    name = raw["name"]
    if not isinstance(name, str) or not name.isidentifier():
        raise LayerpowerError(f"{where}: name must be an identifier (it names specs sampled.<name>_<i>)")
    where = f"{where} ({name})"
    if raw["kind"] not in LAYER_KINDS:
        raise LayerpowerError(
            f"{where}: unknown kind {raw['kind']!r}", hint=f"one of {', '.join(LAYER_KINDS)}"
        )
    if raw["builder"] not in BUILDERS:
        raise LayerpowerError(
            f"{where}: unknown builder {raw['builder']!r}", hint=f"registered: {', '.join(sorted(BUILDERS))}"
        )
    weight = raw.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
        raise LayerpowerError(f"{where}: weight must be a positive number")
    dims = raw["dims"]
    if not isinstance(dims, dict) or not isinstance(raw["args"], dict):
        raise LayerpowerError(f"{where}: dims and args must be objects")
    known = set(IMPLICIT_DIMS)
    for dim, dist in dims.items():
        _check_dim(dist, known, f"{where}, dim {dim!r}")
        known.add(dim)
    for key, value in raw["args"].items():
        _check_value(value, known, f"{where}, arg {key!r}")
    inputs = raw["inputs"]
    if isinstance(inputs, dict):
        if set(inputs) != {"repeat", "shape"} or not isinstance(inputs["shape"], list):
            raise LayerpowerError(f'{where}: inputs as an object is {{"repeat": expr, "shape": [...]}}')
        shapes = [inputs["shape"]]
        _check_value(inputs["repeat"], known, f"{where}, inputs")
    elif isinstance(inputs, list) and inputs and all(isinstance(s, list) and s for s in inputs):
        shapes = inputs
    else:
        raise LayerpowerError(f"{where}: inputs must be a non-empty list of shapes")
    for shape in shapes:
        for dim in shape:
            _check_value(dim, known, f"{where}, inputs")
    limits = _limits(raw["limits"], f"{where}, limits") if "limits" in raw else None
    probe = raw.get("probe", True)
    if not isinstance(probe, bool):
        raise LayerpowerError(f"{where}: probe must be true or false")
    return OpSpace(
        name=name,
        kind=raw["kind"],
        builder=raw["builder"],
        target=str(raw["target"]),
        weight=float(weight),
        dims=dict(dims),
        args=dict(raw["args"]),
        inputs=inputs,
        pack_inputs=bool(raw.get("pack_inputs", False)),
        limits=limits,
        probe=probe,
        where=where,
    )


def _check_dim(dist: Any, known: set[str], where: str) -> None:
    if not isinstance(dist, dict) or len(set(dist) & set(_DISTRIBUTIONS)) != 1:
        raise LayerpowerError(f"{where}: expected one of {', '.join(_DISTRIBUTIONS)}")
    if "log_int" in dist or "int" in dist:
        bounds = dist.get("log_int", dist.get("int"))
        ok = isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, int) for b in bounds)
        if not ok or not 0 < bounds[0] <= bounds[1]:
            raise LayerpowerError(f"{where}: expected [low, high], positive integers with low <= high")
    elif "choice" in dist:
        choices, weights = dist["choice"], dist.get("weights")
        if not isinstance(choices, list) or not choices:
            raise LayerpowerError(f"{where}: choice must be a non-empty list")
        if weights is not None and (
            not isinstance(weights, list) or len(weights) != len(choices) or not all(w > 0 for w in weights)
        ):
            raise LayerpowerError(f"{where}: weights must be positive, one per choice")
    else:
        _check_value(dist["expr"], known, where)


def _check_value(value: Any, known: set[str], where: str) -> None:
    if not isinstance(value, str):
        return
    try:
        tree = ast.parse(value, mode="eval")
    except SyntaxError:
        raise LayerpowerError(f"{where}: {value!r} is not an expression") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in known and node.id not in _FUNCTIONS:
            raise LayerpowerError(f"{where}: {value!r} names {node.id!r}, not a dim declared before it")


def draw_dim(dist: dict[str, Any], rng: random.Random, values: dict[str, Any], where: str) -> Any:
    """One value of a dim: log-uniform or uniform integer, a (weighted) choice, or an expression."""
    if "log_int" in dist:
        low, high = dist["log_int"]
        return min(max(round(math.exp(rng.uniform(math.log(low), math.log(high)))), low), high)
    if "int" in dist:
        return rng.randint(*dist["int"])
    if "choice" in dist:
        return rng.choices(dist["choice"], weights=dist.get("weights"))[0]
    return evaluate(dist["expr"], values, where)


def _value(value: Any, values: dict[str, Any], where: str) -> Any:
    return evaluate(value, values, where) if isinstance(value, str) else value


def evaluate(text: str, values: dict[str, Any], where: str = "expression") -> Any:
    """Evaluate a small expression: names of ``values``, numbers, ``+ - * // %``, ``min``, ``max``,
    ``round_up(x, m)``. Anything else is refused."""

    def run(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return run(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool)):
            return node.value
        if isinstance(node, ast.Name) and node.id in values:
            return values[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](run(node.left), run(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -run(node.operand)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and not node.keywords
        ):
            return _FUNCTIONS[node.func.id](*(run(a) for a in node.args))
        raise LayerpowerError(
            f"{where}: {text!r}: {ast.dump(node)[:40]} is not allowed in a space expression"
        )

    try:
        return run(ast.parse(text, mode="eval"))
    except (SyntaxError, ZeroDivisionError, TypeError) as exc:
        raise LayerpowerError(f"{where}: cannot evaluate {text!r} ({exc})") from None
