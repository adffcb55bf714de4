"""The watchdog: findings about runs (NaNs, divergence, spikes, no learning, overfitting,
stalls, crashes, slowdowns, idle GPUs, known errors), each with the step it could first be known.

    from daybreak.watchdog import diagnose
    findings = diagnose(run, now=None)  # a run id or daybreak.get_run(...); now: unix time
"""

from daybreak.watchdog.diagnose import diagnose
from daybreak.watchdog.findings import KINDS, Finding

__all__ = ["KINDS", "Finding", "diagnose"]
