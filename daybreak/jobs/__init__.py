"""The job queue and its executors: ``daybreak submit``, ``daybreak agent``, ``daybreak jobs``.

From Python::

    from daybreak.jobs import submit
    jobs = submit("train.py", config={"lr": 0.1}, gpus=1, datasets=["pose@3"], sweep={"lr": [0.1, 0.01]})
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daybreak.jobs.runtime import job_config, job_datasets, job_id


def submit(
    entry: str, sweep: dict[str, list[Any]] | None = None, cwd: Path | None = None, **options: Any
) -> list[Any]:
    """Queue ``entry`` (a script, ``-m module`` or a command) with the options of
    ``daybreak submit`` (``config``, ``datasets``, ``gpus``, ``cpus``, ``memory``, ``priority``,
    ``retries``, ``timeout``, ``project``, ``name``, ``tags``, ``env``, ``executor``, ``code``);
    one job per sweep point. Returns the queued jobs."""
    from daybreak.config import get_settings
    from daybreak.jobs import service, spec

    settings = get_settings()
    options.setdefault("executor", settings.executor)
    return service.submit(settings, spec.build(entry, **options), sweep, cwd)


__all__ = ["job_config", "job_datasets", "job_id", "submit"]
