"""How models are served: sessions, threads, batching and limits (the ``daybreak serve`` flags)."""

from __future__ import annotations

import dataclasses
import os

from daybreak.errors import ConfigError

BATCHING = ("auto", "on", "off")


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    """``workers`` 0 means one session per core on CPU (one on a GPU); ``batching`` ``auto``
    batches only on a GPU, where it pays."""

    workers: int = 0
    threads: int = 1
    target: str | None = None
    batching: str = "auto"
    max_batch: int = 8
    batch_wait_ms: float = 2.0
    max_body_mb: float = 10.0
    reload_every: float = 2.0

    def __post_init__(self) -> None:
        if self.batching not in BATCHING:
            raise ConfigError(f"--batching {self.batching!r}", f"one of {', '.join(BATCHING)}")
        minimum = {"--workers": (self.workers, 0), "--threads": (self.threads, 1),
                   "--max-batch": (self.max_batch, 1), "--batch-wait-ms": (self.batch_wait_ms, 0),
                   "--max-body-mb": (self.max_body_mb, 0), "--reload-every": (self.reload_every, 0)}  # fmt: skip
        for flag, (value, least) in minimum.items():
            if value < least:
                raise ConfigError(f"{flag} {value} is too small", f"give at least {least}")

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    def sessions(self, gpu: bool) -> int:
        """How many sessions each model gets."""
        if self.workers:
            return self.workers
        return 1 if gpu else os.cpu_count() or 1

    def batches(self, gpu: bool) -> bool:
        return self.batching == "on" or (self.batching == "auto" and gpu)
