"""The integration tests train real, tiny models on the CPU: one thread keeps them fast on 2 cores."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread() -> None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
