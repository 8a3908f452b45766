"""The NVML check of the GPU campaign, and the environment record.

* the energy counter's update period and resolution: ``nvmlDeviceGetTotalEnergyConsumption`` polled in a
  tight loop (intervals between changes, the smallest step);
* idle power: ``nvmlDeviceGetPowerUsage`` (and the package's NvmlSource reading) sampled over a quiet window;
* a known load (a bf16 matmul loop of a fixed number of iterations): its energy by the counter against the
  trapezoid of power samples taken every ~10 ms by a background thread;
* the trace of those samples (timestamp, power_w, power_usage_w, energy_j) for ``tests/data/``.

``nvml`` is the ``pynvml`` module in use (the real one, or a fake in a dry run). Units: s, J, W.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

#: seconds per step, real run / dry run
DURATIONS = {
    "real": {"probe": 1.5, "idle": 2.0, "pad": 0.5, "load": 3.0, "interval": 0.01},
    "dry": {"probe": 0.25, "idle": 0.2, "pad": 0.1, "load": 0.3, "interval": 0.01},
}
MATMUL_SIZE = {"cuda": 8192, "cpu": 128}


def plain(value: Any) -> Any:
    """``value`` if it is a plain JSON value (bytes decoded), else None (a fake's unconfigured call)."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return None


def safe(fn: Any, *args: Any) -> Any:
    try:
        return plain(fn(*args))
    except Exception:  # an unreadable field is recorded as missing, never fatal
        return None


@dataclass
class _Sample:
    t: float  # perf_counter
    unix: float
    power_w: float | None  # NvmlSource.power_w (instant field where the driver has it)
    usage_w: float | None  # nvmlDeviceGetPowerUsage
    energy_j: float | None  # raw counter (J since the driver loaded)


class _PowerThread:
    """Samples power and the counter every ``interval_s`` in the background."""

    def __init__(self, nvml: Any, handle: Any, source: Any, interval_s: float) -> None:
        self.nvml, self.handle, self.source, self.interval_s = nvml, handle, source, interval_s
        self.samples: list[_Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="campaign-power", daemon=True)

    def _run(self) -> None:
        nxt = time.perf_counter()
        while not self._stop.is_set():
            power = safe(lambda: next(iter(self.source.power_w().values())))
            usage = safe(self.nvml.nvmlDeviceGetPowerUsage, self.handle)
            energy = safe(self.nvml.nvmlDeviceGetTotalEnergyConsumption, self.handle)
            self.samples.append(
                _Sample(
                    time.perf_counter(),
                    time.time(),
                    power,
                    usage / 1000.0 if usage is not None else None,
                    energy / 1000.0 if energy is not None else None,
                )
            )
            nxt += self.interval_s
            self._stop.wait(max(0.0, nxt - time.perf_counter()))

    def __enter__(self) -> _PowerThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)


def probe_counter(nvml: Any, handle: Any, seconds: float) -> dict[str, Any]:
    """Poll the energy counter as fast as possible: intervals between changes and the steps (mJ)."""
    reads, changes = 0, []
    last = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        value = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        reads += 1
        if value != last:
            changes.append((time.perf_counter(), value - last))
            last = value
    gaps = [b[0] - a[0] for a, b in zip(changes, changes[1:], strict=False)]
    steps = [s for _, s in changes if s > 0]
    return {
        "seconds": seconds,
        "reads": reads,
        "reads_per_s": reads / seconds,
        "changes": len(changes),
        "period_s": statistics.median(gaps) if gaps else None,
        "period_min_s": min(gaps) if gaps else None,
        "period_max_s": max(gaps) if gaps else None,
        "step_min_mj": min(steps) if steps else None,
        "step_median_mj": statistics.median(steps) if steps else None,
        "resolution_mj": min(steps) if steps else None,
    }


def _trapezoid(samples: list[_Sample], t0: float, t1: float, attr: str) -> float | None:
    points = [(s.t, getattr(s, attr)) for s in samples if getattr(s, attr) is not None]
    if len(points) < 2:
        return None
    import numpy as np

    t = np.array([p[0] for p in points])
    w = np.array([p[1] for p in points], dtype=float)
    inside = (t > t0) & (t < t1)
    grid = np.concatenate([[t0], t[inside], [t1]])
    values = np.interp(grid, t, w)
    return float(np.sum((values[1:] + values[:-1]) * np.diff(grid) / 2.0))


def nvml_check(nvml: Any, device: str, *, mode: str, log: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the check on GPU 0; returns (figures for nvml_check.json, trace rows)."""
    import torch

    from layerpower.profiling.power.nvml import NvmlSource
    from layerpower.profiling.timing import sync_function

    d = DURATIONS[mode]
    sync = sync_function(device)
    source = NvmlSource(gpus=[0])
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(0)
        result: dict[str, Any] = {"gpu_name": source.names.get("gpu0"), "device": device}
        result["power_reading"] = source.describe().get("power_reading")
        log("nvml: probing the energy counter ...")
        result["counter"] = probe_counter(nvml, handle, d["probe"])
        result["counter"]["package_update_period_s"] = source.update_period_s
        c = result["counter"]
        log(
            f"nvml: counter period {_ms(c['period_s'])} (min {_ms(c['period_min_s'])}, max {_ms(c['period_max_s'])}), "
            f"smallest step {c['step_min_mj']} mJ, {c['reads_per_s']:.0f} reads/s"
        )

        # idle, then the known load, all under the background sampler (that is the trace)
        kind = "cuda" if device.startswith("cuda") else "cpu"
        n = MATMUL_SIZE[kind]
        a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
        b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
        a @ b  # warm-up (kernel selection)
        sync()
        t, calls = time.perf_counter(), 0
        while time.perf_counter() - t < 0.1 * d["load"]:
            a @ b
            calls += 1
            if calls % 16 == 0:
                sync()
        sync()
        per = max((time.perf_counter() - t) / calls, 1e-9)
        iterations = max(1, int(d["load"] / per))  # the fixed length of the known load
        with _PowerThread(nvml, handle, source, d["interval"]) as sampler:
            i0 = time.perf_counter()
            e_idle0 = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            time.sleep(d["idle"])
            e_idle1 = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            i1 = time.perf_counter()
            time.sleep(d["pad"])
            sync()
            t0 = time.perf_counter()
            e0 = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            for _ in range(iterations):
                a @ b
            sync()
            t1 = time.perf_counter()
            e1 = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            time.sleep(d["pad"])
        samples = sampler.samples
        idle_samples = [s for s in samples if i0 <= s.t <= i1]
        usage = [s.usage_w for s in idle_samples if s.usage_w is not None]
        power = [s.power_w for s in idle_samples if s.power_w is not None]
        result["idle"] = {
            "seconds": i1 - i0,
            "samples": len(idle_samples),
            "power_usage_w_mean": statistics.fmean(usage) if usage else None,
            "power_usage_w_std": statistics.pstdev(usage) if len(usage) > 1 else None,
            "power_w_mean": statistics.fmean(power) if power else None,
            "counter_power_w": (e_idle1 - e_idle0) / 1000.0 / (i1 - i0),
        }
        duration = t1 - t0
        counter_j = (e1 - e0) / 1000.0
        integrated = _trapezoid(samples, t0, t1, "power_w")
        integrated_usage = _trapezoid(samples, t0, t1, "usage_w")
        result["known_load"] = {
            "what": f"bf16 matmul {n}x{n} @ {n}x{n}, {iterations} iterations",
            "iterations": iterations,
            "flops": 2.0 * n**3 * iterations,
            "seconds": duration,
            "tflops_per_s": 2.0 * n**3 * iterations / duration / 1e12,
            "counter_energy_j": counter_j,
            "counter_power_w": counter_j / duration,
            "integrated_power_energy_j": integrated,
            "integrated_power_usage_energy_j": integrated_usage,
            "counter_over_integrated": counter_j / integrated if integrated else None,
            "counter_over_integrated_usage": counter_j / integrated_usage if integrated_usage else None,
            "sample_interval_s": d["interval"],
            "samples": len([s for s in samples if t0 <= s.t <= t1]),
        }
        k = result["known_load"]
        log(
            f"nvml: idle {_w(result['idle']['power_usage_w_mean'])} (usage), {_w(result['idle']['counter_power_w'])} "
            f"(counter); load {k['seconds']:.2f} s: counter {k['counter_energy_j']:.2f} J, integrated "
            f"{_j(integrated)} (power_w) / {_j(integrated_usage)} (usage), ratio {_r(k['counter_over_integrated'])}"
        )
        result["telemetry"] = source.telemetry().get("gpu0")
        base = samples[0].unix if samples else 0.0
        trace = [
            {
                "timestamp": s.unix,
                "t_s": s.unix - base,
                "power_w": s.power_w,
                "power_usage_w": s.usage_w,
                "energy_j": s.energy_j,
                "phase": "idle" if s.t <= i1 else ("load" if t0 <= s.t <= t1 else "pad"),
            }
            for s in samples
        ]
        del a, b
        return result, trace
    finally:
        source.close()


def environment(nvml: Any | None, device: str) -> dict[str, Any]:
    """Versions, GPU name, driver, clocks and limits where readable (never raises)."""
    import platform
    import sys

    import torch

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda": getattr(torch.version, "cuda", None),
        "cuda_available": bool(torch.cuda.is_available()),
        "device": device,
    }
    for name in ("torchvision", "pynvml", "pandas", "scipy", "sklearn", "psutil", "pyarrow", "tqdm", "numpy"):
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except Exception:
                env[f"{name}_version"] = None
                continue
        env[f"{name}_version"] = plain(getattr(module, "__version__", None))
    if torch.cuda.is_available() and device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        env["torch_gpu_name"] = props.name
        env["torch_gpu_memory_bytes"] = int(props.total_memory)
        env["torch_gpu_capability"] = f"{props.major}.{props.minor}"
    if nvml is not None:
        try:
            nvml.nvmlInit()
        except Exception as exc:
            env["nvml_error"] = repr(exc)
            return env
        try:
            env["nvml_driver_version"] = safe(nvml.nvmlSystemGetDriverVersion)
            env["nvml_version"] = safe(nvml.nvmlSystemGetNVMLVersion)
            env["cuda_driver_version"] = safe(nvml.nvmlSystemGetCudaDriverVersion)
            handle = nvml.nvmlDeviceGetHandleByIndex(0)
            env["nvml_gpu_name"] = safe(nvml.nvmlDeviceGetName, handle)
            clocks = {}
            for label, clock in (
                ("sm", "NVML_CLOCK_SM"),
                ("mem", "NVML_CLOCK_MEM"),
                ("graphics", "NVML_CLOCK_GRAPHICS"),
            ):
                cid = getattr(nvml, clock, None)
                clocks[f"{label}_mhz"] = safe(nvml.nvmlDeviceGetClockInfo, handle, cid)
                clocks[f"{label}_max_mhz"] = safe(nvml.nvmlDeviceGetMaxClockInfo, handle, cid)
            env["clocks"] = clocks
            env["power_limit_w"] = _div(safe(nvml.nvmlDeviceGetPowerManagementLimit, handle), 1000)
            env["enforced_power_limit_w"] = _div(safe(nvml.nvmlDeviceGetEnforcedPowerLimit, handle), 1000)
            env["temperature_c"] = safe(
                nvml.nvmlDeviceGetTemperature, handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
            )
            env["persistence_mode"] = safe(nvml.nvmlDeviceGetPersistenceMode, handle)
            env["pstate"] = safe(nvml.nvmlDeviceGetPerformanceState, handle)
        except Exception as exc:
            env["nvml_error"] = repr(exc)
        finally:
            with contextlib.suppress(Exception):
                nvml.nvmlShutdown()
    return env


def _div(value: Any, by: float) -> float | None:
    return value / by if isinstance(value, int | float) else None


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1e3:.1f} ms"


def _w(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} W"


def _j(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} J"


def _r(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
