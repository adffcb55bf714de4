"""The job queue and its executors: ``daybreak submit``, ``daybreak agent``, ``daybreak jobs``."""

from daybreak.jobs.runtime import job_config, job_datasets, job_id

__all__ = ["job_config", "job_datasets", "job_id"]
