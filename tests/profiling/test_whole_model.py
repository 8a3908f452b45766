"""The whole model end to end: in fresh processes and in this one."""

from __future__ import annotations

import json
import math
import mmap

import pytest
import torch
from torch import nn

from layerpower.errors import LayerpowerError, UnknownModelError
from layerpower.profiling.whole_model import (
    main,
    measure_whole_model,
    measure_whole_model_configs,
    minor_faults,
)


def test_fresh_process_measures_lenet_with_the_estimate() -> None:
    result = measure_whole_model(
        "lenet", batch_size=2, dtype="fp32", processes=1, repeats=5, power_source="estimate", idle_power_w=1.0
    )
    assert result.model == "lenet" and result.batch_size == 2 and result.dtype == "float32"
    assert result.processes == 1 and result.repeats == 5 and len(result.per_process) == 1
    process = result.per_process[0]
    assert len(process.times_s) == 5 and process.runtime_s == sorted(process.times_s)[2]
    assert result.runtime_s == result.runtime_min_s == result.runtime_max_s == process.runtime_s
    assert result.runtime_cv == 0.0
    assert result.statistic == "median of 5 forwards per process, median of 1 processes"
    assert result.power_source == "estimate" and result.is_estimate is True
    assert result.energy_j > 0 and result.power_w > 0
    assert result.dynamic_power_w == pytest.approx(result.power_w - 1.0)
    assert process.torch_threads == torch.get_num_threads()


def test_several_configs_share_processes_and_the_first_process_chooses_repeats() -> None:
    results = measure_whole_model_configs(
        "lenet",
        [(1, "fp32"), (2, "bf16")],
        processes=2,
        power_source="estimate",
        budget_s=0.0,
        repeats_range=(4, 6),
    )
    assert set(results) == {(1, "float32"), (2, "bfloat16")}
    for result in results.values():
        assert result.processes == 2 and len(result.per_process) == 2
        assert result.repeats == 4  # no budget: the smallest count
        assert {p.repeats for p in result.per_process} == {4}
        assert len({p.pid for p in result.per_process}) == 2
        assert result.runtime_min_s <= result.runtime_s <= result.runtime_max_s
        assert math.isnan(result.dynamic_power_w)  # no idle power given


def test_a_module_is_measured_in_this_process() -> None:
    net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    result = measure_whole_model(
        net, batch_size=3, processes=3, repeats=6, power_source="estimate", input_shape=(16,)
    )
    assert result.processes == 0 and result.repeats == 6
    assert "calling process" in result.statistic
    assert result.model == "Sequential"


class _FreshBuffer(nn.Module):
    """Maps 64 MiB of anonymous memory afresh each forward and writes a byte in each 4 KiB page."""

    SIZE = 64 * 1024 * 1024

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        buffer = mmap.mmap(-1, self.SIZE)
        for offset in range(0, self.SIZE, 4096):
            buffer[offset] = 1
        buffer.close()
        return x


@pytest.mark.skipif(minor_faults() is None, reason="no resource module on this platform")
def test_page_faults_per_forward_count_the_memory_a_forward_maps_afresh() -> None:
    def faults(net: nn.Module) -> float:
        result = measure_whole_model(net, processes=0, repeats=4, power_source="estimate", input_shape=(4,))
        return result.per_process[0].page_faults_per_forward

    fresh, small = faults(_FreshBuffer()), faults(nn.Linear(4, 4))
    # 64 MiB mapped afresh: 16,384 faults of 4 KiB pages, or 32 where huge pages back it
    assert fresh >= 16 and fresh > small + 16


def test_unknown_model_fails_before_any_process_starts() -> None:
    for processes in (0, 1):
        with pytest.raises(UnknownModelError, match="no_such_net"):
            measure_whole_model("no_such_net", processes=processes, power_source="estimate")


def test_a_failing_worker_is_reported_with_its_reason() -> None:
    with pytest.raises(LayerpowerError, match="failed in a worker process.*tpu"):
        measure_whole_model("lenet", processes=1, device="tpu", power_source="estimate")


def test_worker_prints_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", "lenet", "--config", "1:fp32:3", "--power-source", "estimate"]) == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (result,) = payload["results"]
    assert result["repeats"] == 3 and result["dtype"] == "float32"
    assert result["power_source"] == "estimate"
