"""The local Ray instance the cluster tests share, one per test module."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

#: the name of the module of helpers the workers import
HELPERS = "lp_ray_helpers"


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local Ray instance (2 CPUs, no dashboard) whose workers can import ``lp_ray_helpers``.

    The helper module's source is the test module's ``RAY_HELPERS`` (empty without one), written to a
    temporary folder put on the path of the driver and of the workers.
    """
    ray = pytest.importorskip("ray")
    folder = tmp_path_factory.mktemp("helpers")
    (folder / f"{HELPERS}.py").write_text(getattr(request.module, "RAY_HELPERS", ""))
    sys.path.insert(0, str(folder))
    sys.modules.pop(HELPERS, None)  # another module's helpers, imported by its tests
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # workers inherit it
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield HELPERS
    finally:
        ray.shutdown()
        sys.path.remove(str(folder))
        sys.modules.pop(HELPERS, None)
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
