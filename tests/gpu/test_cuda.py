"""CUDA paths: logging GPU tensors without a sync, and NVML system metrics.

These need an NVIDIA GPU; on machines without one they are skipped with that reason (CI has
no GPU; they run on a lent GPU machine, see docs/benchmarks.md).
"""

from __future__ import annotations

import time

import pytest

import daybreak

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_cuda_tensors_are_logged_without_a_sync(home):
    run = daybreak.init(project="gpu", system_metrics=False, capture_output=False)
    x = torch.randn(4096, 4096, device="cuda")
    expected = []
    torch.cuda.set_sync_debug_mode("error")  # any synchronising call now raises
    try:
        for i in range(50):
            y = x @ x
            loss = y.mean()
            run.log({"loss": loss, "norm": y.norm(), "lr": 0.1}, step=i)
            expected.append(loss)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    run.finish()
    history = daybreak.get_run(run.id).history("loss")
    assert history.values.tolist() == pytest.approx([float(e) for e in expected], rel=1e-6)
    assert len(daybreak.get_run(run.id).history("norm")) == 50


def test_gpu_system_metrics(home):
    run = daybreak.init(project="gpu", capture_output=False, system_metrics_interval=0.3)
    x = torch.randn(8192, 8192, device="cuda")
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        x = (x @ x).clamp_(-1, 1)
    torch.cuda.synchronize()
    run.finish()
    keys = daybreak.get_run(run.id).metric_keys()
    assert {"sys/gpu0/util_percent", "sys/gpu0/mem_used_gb", "sys/gpu0/mem_percent"} <= set(keys)
    util = daybreak.get_run(run.id).history("sys/gpu0/util_percent").values
    assert util.max() > 0
