"""System metrics every few seconds: CPU, RAM, process RSS, disk, and GPUs through NVML."""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from pathlib import Path
from typing import Any


class SystemSampler(threading.Thread):
    """Feeds ``sys/...`` keys into the run's queue on their own step counter."""

    def __init__(self, queue: collections.deque[Any], interval: float, disk_path: Path) -> None:
        super().__init__(name="daybreak-system-metrics", daemon=True)
        self.queue = queue
        self.interval = interval
        self.disk_path = disk_path
        self._stop_event = threading.Event()
        self._gpus: list[Any] | None = None

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        import psutil

        process = psutil.Process()
        psutil.cpu_percent(None)
        process.cpu_percent(None)
        step = 0
        while not self._stop_event.wait(self.interval):
            try:
                values = self.sample(psutil, process)
            except Exception:  # sampling is best effort; the run must go on
                continue
            self.queue.append((step, time.time(), values, False))
            step += 1

    def sample(self, psutil: Any, process: Any) -> dict[str, float]:
        memory = psutil.virtual_memory()
        values = {
            "sys/cpu_percent": float(psutil.cpu_percent(None)),
            "sys/ram_percent": float(memory.percent),
            "sys/ram_used_gb": memory.used / 2**30,
            "sys/proc_rss_gb": process.memory_info().rss / 2**30,
            "sys/proc_cpu_percent": float(process.cpu_percent(None)),
        }
        try:
            disk = psutil.disk_usage(
                str(self.disk_path if self.disk_path.exists() else Path.home())
            )
            values["sys/disk_percent"] = float(disk.percent)
        except OSError:
            pass
        values.update(self.sample_gpus())
        return values

    def sample_gpus(self) -> dict[str, float]:
        nvml = _nvml()
        if nvml is None:
            return {}
        if self._gpus is None:
            self._gpus = [
                nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())
            ]
        values: dict[str, float] = {}
        for index, handle in enumerate(self._gpus):
            prefix = f"sys/gpu{index}"
            util = nvml.nvmlDeviceGetUtilizationRates(handle)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            values[f"{prefix}/util_percent"] = float(util.gpu)
            values[f"{prefix}/mem_used_gb"] = memory.used / 2**30
            values[f"{prefix}/mem_percent"] = 100.0 * memory.used / max(memory.total, 1)
            values.update(_optional(nvml, handle, prefix))
        return values


def _optional(nvml: Any, handle: Any, prefix: str) -> dict[str, float]:
    """Power and temperature, which not every card reports."""
    out = {}
    with contextlib.suppress(Exception):
        out[f"{prefix}/power_w"] = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
    with contextlib.suppress(Exception):
        out[f"{prefix}/temp_c"] = float(
            nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
        )
    return out


_nvml_state: dict[str, Any] = {}


def _nvml() -> Any:
    """pynvml, initialised once; None on machines without an NVIDIA driver."""
    if "module" not in _nvml_state:
        try:
            import pynvml

            pynvml.nvmlInit()
            _nvml_state["module"] = pynvml
        except Exception:  # no library, no driver, no GPU: quietly nothing
            _nvml_state["module"] = None
    return _nvml_state["module"]
