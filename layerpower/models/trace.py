"""Run one forward pass and report every layer call, in order, to callbacks.

:func:`trace_layer_calls` is the single capture machinery: :func:`layerpower.models.layers.extract_layers`
builds its ``LayerSpec`` list from it (on the meta device), and the profiler times layers in context with
it (on a real device), so both see the same calls with the same names and call indices.

Layer calls are

* leaf module calls: a module without children, or one of :data:`OPAQUE_MODULES` whose children are not
  called as modules (``nn.MultiheadAttention``); named by the module's qualified name. Pass-through modules
  (:func:`is_passthrough`: ``Identity``, ``Flatten``, ``Unflatten``, torchvision's ``Permute`` and ``SwapAxes``: views) are not
  layer calls, and neither is anything inside them; nor are eval-mode identities: dropout of every variant
  and torchvision's ``StochasticDepth`` modules, and functional dropouts called with ``training=False``.
* functional ops (:data:`layerpower.models.ops.COUNTED_OPS`) called while no leaf module executes, seen
  through a ``torch.overrides.TorchFunctionMode``; named ``"<parent>.<op>_<n>"`` where ``parent`` is the
  innermost executing non-leaf module and ``n`` counts that op within one call of the parent.

``call_index`` is how many times the same name was called before in this forward (a ReLU module used twice
in a block gives call indices 0 and 1).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

try:  # private helpers: suspend the mode inside leaf modules, where it has nothing to record
    from torch.overrides import _get_current_function_mode, _pop_mode, _push_mode
except ImportError:  # pragma: no cover - older or newer torch: the mode stays on, ignoring leaf internals
    _get_current_function_mode = _pop_mode = _push_mode = None  # type: ignore[assignment]

from layerpower.models.ops import (
    COUNTED_OPS,
    DROPOUT_OPS,
    SHAPE_OPS,
    canonical_op_name,
    function_path,
    is_identity_op,
    op_kind,
)
from layerpower.models.spec import (
    KIND_ATTENTION,
    KIND_CONVOLUTIONAL,
    KIND_DENSE,
    KIND_OTHER,
    KIND_POOLING,
)

#: modules with children that run as one layer (their children are never called as modules)
OPAQUE_MODULES: tuple[type[nn.Module], ...] = (nn.MultiheadAttention,)

_POOLING_MODULES: tuple[type[nn.Module], ...] = (
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.modules.pooling._LPPoolNd,
)


def _passthrough_types() -> tuple[type[nn.Module], ...]:
    # dropout of every variant and stochastic depth return their input in eval mode, and a trace always
    # runs in eval mode: identities, not layers (they cost nothing and are never "unseen")
    types: list[type[nn.Module]] = [nn.Identity, nn.Flatten, nn.Unflatten, nn.modules.dropout._DropoutNd]
    try:
        from torchvision.models.maxvit import SwapAxes
        from torchvision.ops.misc import Permute
        from torchvision.ops.stochastic_depth import StochasticDepth

        types += [Permute, SwapAxes, StochasticDepth]
    except ImportError:  # torchvision is optional for user models
        pass
    return tuple(types)


_PASSTHROUGH: tuple[type[nn.Module], ...] = _passthrough_types()


def is_leaf(module: nn.Module) -> bool:
    """True for a module that runs as one layer call: no children, or an :data:`OPAQUE_MODULES` type."""
    return isinstance(module, OPAQUE_MODULES) or next(module.children(), None) is None


def is_passthrough(module: nn.Module) -> bool:
    """True for a leaf module that only reshapes or forwards its input, or is an identity in eval mode
    (dropout, stochastic depth): never a layer call."""
    return isinstance(module, _PASSTHROUGH)


def module_kind(module: nn.Module) -> str:
    """``convolutional`` (Conv and ConvTranspose of any dimension), ``pooling`` (max, average, adaptive and
    LP pooling of any dimension), ``dense`` (Linear), ``attention`` (``nn.MultiheadAttention``, its
    ``out_proj`` included) or ``other`` (norms, activations, embeddings, ...)."""
    if isinstance(module, nn.modules.conv._ConvNd):
        return KIND_CONVOLUTIONAL
    if isinstance(module, _POOLING_MODULES):
        return KIND_POOLING
    if isinstance(module, nn.Linear):
        return KIND_DENSE
    if isinstance(module, nn.MultiheadAttention):
        return KIND_ATTENTION
    return KIND_OTHER


@dataclass
class LayerCall:
    """One layer call as the callbacks see it.

    ``module``/``func``, ``args`` and ``kwargs`` are the live objects and are set only while the callbacks
    run (cleared afterwards, so a finished trace holds no activations).
    """

    index: int  # position among the layer calls of this forward
    name: str  # qualified module name, or "<parent>.<op>_<n>"
    module_type: str  # module class name, or the canonical op name
    kind: str  # convolutional | pooling | dense | other
    is_module: bool
    call_index: int  # calls of the same name before this one, in this forward
    parent: str  # innermost executing non-leaf module ("" for the root)
    module_path: str | None = None  # qualified module name (modules only; "" for a root leaf)
    op: str | None = None  # dotted path of the torch function (functional ops only), None if unresolvable
    module: nn.Module | None = field(default=None, repr=False)
    func: Callable[..., Any] | None = field(default=None, repr=False)
    args: tuple[Any, ...] = field(default=(), repr=False)
    kwargs: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Trace:
    """The result of one traced forward pass."""

    calls: list[LayerCall]
    output: Any
    #: functional ops called outside leaf modules that are neither layers nor shape ops (name -> count)
    ignored_ops: Counter[str]


def tensors_in(value: Any) -> list[torch.Tensor]:
    """The distinct tensors in nested tuples, lists and dicts, in order."""
    out: list[torch.Tensor] = []
    seen: set[int] = set()

    def walk(item: Any) -> None:
        if isinstance(item, torch.Tensor):
            if id(item) not in seen:
                seen.add(id(item))
                out.append(item)
        elif isinstance(item, (tuple, list)):
            for inner in item:
                walk(inner)
        elif isinstance(item, dict):
            for inner in item.values():
                walk(inner)

    walk(value)
    return out


OnEnter = Callable[[LayerCall], None]
OnExit = Callable[[LayerCall, Any], None]


@dataclass
class _Frame:
    name: str
    ops: Counter[str] = field(default_factory=Counter)


class _LayerCallTracer(TorchFunctionMode):
    """Module hooks plus a torch-function mode; see the module docstring for the rules."""

    def __init__(self, on_enter: OnEnter | None, on_exit: OnExit | None) -> None:
        super().__init__()
        self.on_enter = on_enter
        self.on_exit = on_exit
        self.calls: list[LayerCall] = []
        self.seen: Counter[str] = Counter()
        self.ignored: Counter[str] = Counter()
        self.frames: list[_Frame] = []
        self.depth = 0  # leaf (or pass-through) modules executing
        self.busy = False  # our own bookkeeping or a callback is running
        self._leaf_calls: list[tuple[LayerCall | None, bool]] = []
        self._pushed: list[bool] = []

    # -- the mode on the torch-function stack --------------------------------------------------------------
    def push(self) -> None:
        if _push_mode is not None:
            _push_mode(self)
        else:
            self.__enter__()

    def pop_if_on_top(self) -> bool:
        """Take this mode off the stack if it is on top (inside leaf modules, and at the end)."""
        if _get_current_function_mode is None:
            return False
        if _get_current_function_mode() is self:
            _pop_mode()
            return True
        return False

    # -- callbacks ---------------------------------------------------------------------------------------
    def _begin(self, call: LayerCall) -> None:
        self.calls.append(call)
        self.seen[call.name] += 1
        if self.on_enter is not None:
            self.busy = True
            try:
                self.on_enter(call)
            finally:
                self.busy = False

    def _end(self, call: LayerCall, output: Any) -> None:
        try:
            if self.on_exit is not None:
                self.busy = True
                try:
                    self.on_exit(call, output)
                finally:
                    self.busy = False
        finally:
            call.module = call.func = None
            call.args, call.kwargs = (), {}

    # -- module hooks ------------------------------------------------------------------------------------
    def leaf_pre(self, path: str, passthrough: bool, module: nn.Module, args: Any, kwargs: Any) -> None:
        call = None
        # nothing inside a leaf is recorded: off the stack until it returns (cheaper, and keeps the
        # mode's per-op cost out of the in-context timing window that opens in on_enter)
        suspended = self.depth == 0 and not self.busy and self.pop_if_on_top()
        if self.depth == 0 and not passthrough and not self.busy:
            call = LayerCall(
                index=len(self.calls),
                name=path or type(module).__name__.lower(),
                module_type=type(module).__name__,
                kind=module_kind(module),
                is_module=True,
                call_index=0,
                parent=self.frames[-1].name if self.frames else "",
                module_path=path,
                module=module,
                args=tuple(args),
                kwargs=dict(kwargs),
            )
            call.call_index = self.seen[call.name]
            self._begin(call)
        self._leaf_calls.append((call, suspended))
        self.depth += 1

    def leaf_post(self, module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        self.depth -= 1
        call, suspended = self._leaf_calls.pop()
        try:
            if call is not None:
                self._end(call, output)
        finally:
            if suspended:
                self.push()

    def parent_pre(self, path: str, module: nn.Module, args: Any, kwargs: Any) -> None:
        pushed = self.depth == 0
        if pushed:
            self.frames.append(_Frame(path))
        self._pushed.append(pushed)

    def parent_post(self, module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        if self._pushed.pop():
            self.frames.pop()

    # -- functional ops ----------------------------------------------------------------------------------
    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        if self.busy or self.depth or not self.frames:
            return func(*args, **kwargs)
        op = canonical_op_name(func)
        if op in DROPOUT_OPS and is_identity_op(op, args, kwargs):
            return func(*args, **kwargs)
        if op not in COUNTED_OPS:
            if op not in SHAPE_OPS:
                self.ignored[op] += 1
            return func(*args, **kwargs)
        frame = self.frames[-1]
        number = frame.ops[op]
        frame.ops[op] += 1
        name = f"{frame.name}.{op}_{number}" if frame.name else f"{op}_{number}"
        call = LayerCall(
            index=len(self.calls),
            name=name,
            module_type=op,
            kind=op_kind(op),
            is_module=False,
            call_index=self.seen[name],
            parent=frame.name,
            op=function_path(func),
            func=func,
            args=tuple(args),
            kwargs=dict(kwargs),
        )
        self._begin(call)
        output = func(*args, **kwargs)
        self._end(call, output)
        return output


@contextmanager
def _hooks(model: nn.Module, tracer: _LayerCallTracer) -> Iterator[None]:
    handles = []
    try:
        for path, module in model.named_modules():
            if is_leaf(module):
                pre = functools.partial(tracer.leaf_pre, path, is_passthrough(module))
                post = tracer.leaf_post
            else:
                pre = functools.partial(tracer.parent_pre, path)
                post = tracer.parent_post
            handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
            handles.append(module.register_forward_hook(post, with_kwargs=True))
        yield
    finally:
        for handle in handles:
            handle.remove()


def trace_layer_calls(
    model: nn.Module,
    inputs: Any,
    on_enter: OnEnter | None = None,
    on_exit: OnExit | None = None,
) -> Trace:
    """Run ``model(*inputs)`` once, in eval mode and without gradients, reporting every layer call.

    ``on_enter(call)`` runs just before a layer call and ``on_exit(call, output)`` just after, in forward
    order; ``inputs`` is one tensor or a tuple of positional arguments. Torch operations made inside the
    callbacks are not traced. The model's training flag is restored afterwards. Works on any device,
    including meta. Not re-entrant: one trace at a time per model.
    """
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    tracer = _LayerCallTracer(on_enter, on_exit)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), _hooks(model, tracer):
            tracer.push()
            try:
                output = model(*args)
            finally:
                # off the stack; after an error inside a leaf module it is already off
                tracer.pop_if_on_top() if _pop_mode is not None else tracer.__exit__(None, None, None)
    finally:
        model.train(was_training)
    return Trace(calls=tracer.calls, output=output, ignored_ops=tracer.ignored)
