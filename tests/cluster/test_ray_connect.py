"""``connect("local")`` starts a Ray instance whose workers measure at normal priority."""

from __future__ import annotations

import os

import pytest

ray = pytest.importorskip("ray")

from layerpower.cluster.engine import WORKER_NICENESS_ENV, connect, node_facts  # noqa: E402


def test_a_local_instance_runs_its_workers_at_niceness_zero() -> None:
    assert not ray.is_initialized()
    before = os.environ.get(WORKER_NICENESS_ENV)
    with connect("local", num_cpus=1) as connected:
        facts = connected.get(connected.remote(node_facts).remote())
        assert facts["niceness"] == (int(before) if before is not None else 0)
        assert facts["ray_node_id"]
        assert os.environ.get(WORKER_NICENESS_ENV) == before  # set for the raylet's start only
    assert not ray.is_initialized()
