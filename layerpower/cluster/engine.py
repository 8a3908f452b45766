"""Ray, kept behind one door: connecting, one task per item with bounded retries, one progress bar.

Nothing here imports ray at module level; :func:`require_ray` imports it on first use and turns its absence
into a one-line error naming the extra to install. The functions take plain callables and items, so any
sweep (models x configurations, experiment runs, result folders, sampled layers) can fan out through
:func:`run_tasks` without knowing Ray.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from layerpower.errors import LayerpowerError

#: how to get Ray, in the words every error uses
INSTALL_HINT = "pip install 'layerpower[cluster]'"
#: retries of a task whose node died or that raised, before it is recorded as failed
DEFAULT_RETRIES = 2
#: the raylet setting of its workers' niceness: Ray's default, 15, lets any other process on the node take
#: the CPU from a measurement, so a local instance is started at 0 (start a cluster with it set to 0 too)
WORKER_NICENESS_ENV = "RAY_worker_niceness"


def require_ray() -> Any:
    """The ``ray`` module, or a :class:`LayerpowerError` naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise LayerpowerError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


@contextlib.contextmanager
def connect(address: str | None = "local", *, num_cpus: int | None = None) -> Iterator[Any]:
    """Connect to Ray for the duration of the block and yield the ``ray`` module.

    ``local`` (or None) starts a local instance (``num_cpus`` CPUs, default all), ``auto`` joins the
    running cluster, anything else is a cluster address (``ray://host:10001``, ``host:6379``). An already
    initialised Ray is reused and left running; one started here is shut down at the end.
    """
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address in (None, "", "local"):
        # local workers see the driver's import path, so factories such as ``pkg.nets:build`` resolve
        env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        kwargs.update(num_cpus=num_cpus, runtime_env={"env_vars": env})
    else:
        kwargs["address"] = address
    local = "address" not in kwargs
    previous = os.environ.get(WORKER_NICENESS_ENV)
    if local and previous is None:
        os.environ[WORKER_NICENESS_ENV] = "0"  # read by the raylet this init starts
    try:
        ray.init(**kwargs)
    except ConnectionError as exc:
        raise LayerpowerError(f"cannot connect to the Ray cluster at {address!r}: {exc}") from None
    finally:
        if local and previous is None:
            os.environ.pop(WORKER_NICENESS_ENV, None)
    try:
        yield ray
    finally:
        ray.shutdown()


def node_facts() -> dict[str, Any]:
    """Where this code runs: hostname, the process's niceness (a Ray worker's is the cluster's
    ``RAY_worker_niceness``; above 0, other processes on the node take the CPU from a measurement), and the
    Ray node id when inside a Ray worker."""
    facts: dict[str, Any] = {"hostname": socket.gethostname(), "niceness": os.nice(0)}
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        with contextlib.suppress(Exception):
            facts["ray_node_id"] = ray.get_runtime_context().get_node_id()
    return facts


def largest_node_cpus() -> int:
    """The CPUs of the largest alive node: what a task asks for to hold a whole CPU node alone."""
    ray = require_ray()
    cpus = [node.get("Resources", {}).get("CPU", 0) for node in ray.nodes() if node.get("Alive")]
    return max(1, int(max(cpus, default=1)))


def cluster_gpus() -> int:
    """GPUs in the cluster (0 without any)."""
    return int(require_ray().cluster_resources().get("GPU", 0))


@dataclass
class TaskResult:
    """One item's outcome: ``value`` when ``ok``, else ``error`` (the last cause, one paragraph)."""

    index: int
    item: Any
    ok: bool
    value: Any = None
    error: str = ""


def run_tasks(
    func: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    num_cpus: float = 1,
    num_gpus: float = 0,
    retries: int = DEFAULT_RETRIES,
    progress: bool = True,
    desc: str = "tasks",
    on_result: Callable[[TaskResult], None] | None = None,
    warm_up: bool = True,
) -> list[TaskResult]:
    """Run ``func(item)`` for every item as one Ray task each; return the results in item order.

    Each task asks for ``num_cpus`` CPUs and ``num_gpus`` GPUs; one whose node dies or that raises is retried
    ``retries`` times, then recorded as failed while the others go on. ``on_result`` runs on the driver as
    each task ends (write its files there). One tqdm bar on stderr counts the tasks, failures in its
    postfix. An interrupt (Ctrl-C) collects what has already finished, cancels the rest and re-raises.
    Ray must be connected (:func:`connect`); ``func`` must be importable on the nodes (module level).
    With ``warm_up``, one task of the same size first loads ``func`` on a worker, so the first measured
    task does not share the node with worker start-up and imports; a worker niceness above 0 is warned of.
    """
    ray = require_ray()
    from tqdm import tqdm

    remote = ray.remote(_call).options(
        num_cpus=num_cpus, num_gpus=num_gpus, max_retries=retries, retry_exceptions=retries > 0
    )
    func_ref = ray.put(func)  # shipped once, not once per task
    if warm_up and items:
        _warm_up(ray, func_ref, num_cpus, num_gpus)
    index = {remote.remote(func_ref, item): i for i, item in enumerate(items)}
    pending = list(index)
    results: list[TaskResult | None] = [None] * len(items)
    failures = 0
    bar = tqdm(total=len(items), desc=desc, unit="task", disable=not progress, file=sys.stderr)
    bar.set_postfix(failed=0)

    def collect(refs: list[Any]) -> None:
        nonlocal failures
        for ref in refs:
            i = index[ref]
            try:
                result = TaskResult(i, items[i], True, ray.get(ref))
            except Exception as exc:  # the task raised or its node died, after every retry
                result = TaskResult(i, items[i], False, error=_cause(exc))
                failures += 1
            results[i] = result
            if on_result is not None:
                on_result(result)
            bar.update(1)
            bar.set_postfix(failed=failures)

    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            collect(done)
    except BaseException:  # interrupted: keep what finished, stop the rest (they clean up after themselves)
        done, pending = ray.wait(pending, num_returns=len(pending), timeout=0) if pending else ([], [])
        with contextlib.suppress(Exception):
            collect(done)
        for ref in pending:
            with contextlib.suppress(Exception):
                ray.cancel(ref, recursive=True)
        raise
    finally:
        bar.close()
    return [r for r in results if r is not None]


def _call(func: Callable[[Any], Any], item: Any) -> Any:
    return func(item)


def _loaded(func: Callable[[Any], Any]) -> dict[str, Any]:
    return node_facts()  # ``func`` arrived deserialised: its module is imported on this worker


def _warm_up(ray: Any, func_ref: Any, num_cpus: float, num_gpus: float) -> None:
    """Run one task of the measurement's size that only loads the function; warn of a niceness above 0."""
    warm = ray.remote(_loaded).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0)
    try:
        facts = ray.get(warm.remote(func_ref))
    except Exception:  # the measured tasks report their own errors
        return
    niceness = int(facts.get("niceness", 0))
    if niceness > 0:
        print(
            f"warning: Ray workers run at niceness {niceness}, so other processes on a node take the CPU "
            f"from a measurement; start the cluster with {WORKER_NICENESS_ENV}=0 (ray start)",
            file=sys.stderr,
        )


def _cause(exc: BaseException) -> str:
    """What went wrong in a task: the original exception of a RayTaskError, else the Ray error itself."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[-1] if text else ''}"


def _apply_chunk(func: Callable[[Any], Any], chunk: Sequence[Any]) -> list[Any]:
    return [func(item) for item in chunk]


def ray_map(
    func: Callable[[Any], Any], items: Sequence[Any], *, progress: bool = False, chunks_per_cpu: int = 4
) -> list[Any]:
    """``[func(item) for item in items]`` as Ray tasks over chunks (about ``chunks_per_cpu`` per CPU).

    Connects to ``RAY_ADDRESS`` or a local instance when Ray is not initialised. A chunk that fails after
    its retries raises :class:`LayerpowerError`; ``func`` should report per-item problems in its value.
    """
    import functools

    items = list(items)
    if not items:
        return []
    address = os.environ.get("RAY_ADDRESS") or "local"
    with connect(address) as ray:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        size = max(1, -(-len(items) // (cpus * chunks_per_cpu)))
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        done = run_tasks(
            functools.partial(_apply_chunk, func),
            chunks,
            progress=progress,
            desc="reading runs",
            warm_up=False,
        )
    failed = [r for r in done if not r.ok]
    if failed:
        raise LayerpowerError(f"{len(failed)} of {len(chunks)} Ray reading tasks failed: {failed[0].error}")
    return [value for r in done for value in r.value]
