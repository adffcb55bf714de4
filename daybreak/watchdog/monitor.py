"""The continuous watchdog: passes over the live runs inside ``daybreak up`` (or ``daybreak
watch run``), each reading only the points appended since the last pass, storing what it
finds and acting on new findings by the project's policy."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any

from daybreak.config import Settings
from daybreak.store.engine import get_database
from daybreak.tracking.records import RunRecord
from daybreak.tracking.service import list_live_runs
from daybreak.watchdog import alerts, policy, remedy, store
from daybreak.watchdog.cache import RunCache
from daybreak.watchdog.diagnose import ranked, series_findings, state_findings
from daybreak.watchdog.findings import Finding
from daybreak.watchdog.roles import find_roles, gpu_util_keys

log = logging.getLogger("daybreak.watchdog")
LOOK_BACK = 24 * 3600.0  # the first pass also settles runs that ended this long ago


@dataclasses.dataclass
class PassReport:
    runs: int = 0  # runs looked at
    diagnosed: int = 0  # runs whose points changed, so their rules ran
    new_findings: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    actions: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    alerts: list[threading.Thread] = dataclasses.field(default_factory=list)  # still sending
    seconds: float = 0.0


@dataclasses.dataclass
class _Watched:
    cache: RunCache
    series: list[Finding] = dataclasses.field(default_factory=list)
    loss: Any = None
    status: str = ""
    stored: dict[str, tuple[Any, ...]] | None = None  # what the store holds: kind → signature


class Watchdog:
    """Remembers each live run between passes; call :meth:`run_pass` every few seconds."""

    def __init__(self, settings: Settings, act: bool = True) -> None:
        self.settings = settings
        self.act = act
        self.db = get_database(settings.db_url)
        self.watched: dict[str, _Watched] = {}
        self._since: float | None = None

    def run_pass(self, now: float | None = None) -> PassReport:
        started = time.perf_counter()
        now = time.time() if now is None else now
        report = PassReport()
        records = self._records(now)
        rules = policy.policies(self.db) if self.act else {}
        for record in records:
            report.runs += 1
            try:
                self._watch(record, now, rules, report)
            except Exception as exc:  # one broken run must not stop the watch over the rest
                log.exception("watchdog: run %s", record.id)
                report.errors.append(f"{record.id}: {exc}")
        for run_id in set(self.watched) - {r.id for r in records if r.status == "running"}:
            del self.watched[run_id]  # ended and settled: nothing more will arrive
        self._since = now
        report.seconds = time.perf_counter() - started
        return report

    def _records(self, now: float) -> list[RunRecord]:
        """The running runs, and those that ended since the last pass (to settle them)."""
        since = now - LOOK_BACK if self._since is None else self._since - 1.0
        records = list_live_runs(self.db, since)
        if self._since is None:  # the first pass: only ended runs not settled before
            settled = {f["run_id"] for f in store.list_findings(self.db, since=since)}
            records = [r for r in records if r.status == "running" or r.id not in settled]
        return records

    def _watch(
        self, record: RunRecord, now: float, rules: dict[str, Any], report: PassReport
    ) -> None:
        watched = self.watched.get(record.id)
        if watched is None:
            watched = self.watched[record.id] = _Watched(
                RunCache(self.settings.runs_dir / record.id)
            )
        cache = watched.cache
        keys = cache.refresh_keys()
        roles = find_roles(keys, record.config if isinstance(record.config, dict) else {})
        changed = cache.update(sorted(set(roles.values()) | set(gpu_util_keys(keys))))
        if changed or watched.status != record.status or watched.stored is None:
            watched.series, watched.loss = series_findings(record, keys, cache.history, now)
            report.diagnosed += 1
        watched.status = record.status
        found = ranked(watched.series + state_findings(record, watched.loss, cache.log_tail, now))
        signature = {f.kind: (f.severity, f.step, f.message) for f in found}
        if signature == watched.stored:
            return
        new = store.record_findings(self.db, record.id, found, now)
        watched.stored = signature
        report.new_findings += new
        for finding in new:
            rule = policy.rule_for(rules, record.project, finding["kind"], finding["severity"])
            if self.act and rule is not None:
                action = remedy.act(self.settings, finding, rule)
                report.actions.append(action)
                report.alerts.append(alerts.alert(self.settings, finding, action))


class WatchdogThread(threading.Thread):
    """The watchdog's passes in the background of ``daybreak up``."""

    def __init__(self, settings: Settings, every: float | None = None) -> None:
        super().__init__(name="daybreak-watchdog", daemon=True)
        self.watchdog = Watchdog(settings)
        self.every = settings.watch_interval if every is None else every
        self.last: PassReport | None = None
        self.completed_pass_began = 0.0  # unix time the last completed pass began
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            began = time.time()
            try:
                self.last = self.watchdog.run_pass(began)
                self.completed_pass_began = began
            except Exception:  # a locked or unreachable database: try again next time
                log.exception("watchdog pass failed")
            self._stop_event.wait(self.every)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(10)
