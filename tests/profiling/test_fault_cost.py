"""The cost per refaulted page, measured for real on the probe convolution in a worker process."""

from __future__ import annotations

import pytest

from layerpower.errors import LayerpowerError
from layerpower.profiling import fault_cost


@pytest.mark.skipif(fault_cost._libc() is None, reason="not glibc: no mallopt, nothing to measure")
def test_the_probe_refaults_its_weight_under_glibcs_threshold_and_not_above_it():
    result = fault_cost.measure_fault_cost("cpu", rounds=2, calls=3)
    pages = 1024 * 1024 * 9 * 4 / 4096
    assert result["applies"] is True
    assert result["fresh_faults_per_call"] == pytest.approx(pages, rel=0.05)
    assert result["reused_faults_per_call"] < 0.01 * pages
    assert result["fresh_call_s"] > result["reused_call_s"]
    assert 0 < result["seconds_per_page"] < 1e-4  # a minor fault: around a microsecond


def test_it_is_a_cpu_measurement():
    with pytest.raises(LayerpowerError, match="CPU measurement"):
        fault_cost.measure_fault_cost("cuda:0")
