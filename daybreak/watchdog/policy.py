"""What the watchdog does about a finding, per project: notify, stop the job, or restart it
from the last good checkpoint before the onset with a change, at most N times.

A policy is a list of rules; the first rule whose kinds include the finding's kind (and whose
severity it reaches) decides. A project without a policy uses the ``*`` policy, and without
that the default: notify about everything.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import sqlalchemy as sa

from daybreak.errors import ConfigError, NotFoundError
from daybreak.store.engine import Database
from daybreak.store.schema import watch_policies
from daybreak.watchdog.findings import KINDS, SEVERITIES

ACTIONS = ("notify", "stop", "restart")
ANY_PROJECT = "*"


@dataclasses.dataclass(frozen=True)
class Rule:
    kinds: tuple[str, ...]  # finding kinds this rule covers; () = every kind
    action: str = "notify"  # notify | stop | restart
    min_severity: str = "warning"
    lr_scale: float | None = None  # restart: multiply the learning rate by this
    clip_grad: float | None = None  # restart: clip the gradient norm to this
    max_restarts: int = 2  # restart: at most this many per run, then stop

    def covers(self, kind: str, severity: str) -> bool:
        reaches = SEVERITIES.index(severity) >= SEVERITIES.index(self.min_severity)
        return reaches and (not self.kinds or kind in self.kinds)

    def describe(self) -> str:
        kinds = ",".join(self.kinds) or "any finding"
        text = f"{kinds} ({self.min_severity}+) → {self.action}"
        if self.action == "restart":
            changes = [f"lr x {self.lr_scale:g}"] if self.lr_scale else []
            changes += [f"clip grad {self.clip_grad:g}"] if self.clip_grad else []
            text += f" with {', '.join(changes) or 'no change'}, at most {self.max_restarts}x"
        return text

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["kinds"] = list(self.kinds)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        return make_rule(**{**data, "kinds": list(data.get("kinds") or [])})


DEFAULT = (Rule(kinds=(), action="notify"),)


def make_rule(
    kinds: list[str],
    action: str = "notify",
    min_severity: str = "warning",
    lr_scale: float | None = None,
    clip_grad: float | None = None,
    max_restarts: int = 2,
) -> Rule:
    """A checked rule: every bad value is named with what would be accepted."""
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ConfigError(
            f"unknown finding kind(s): {', '.join(unknown)}", f"use {', '.join(KINDS)}"
        )
    if action not in ACTIONS:
        raise ConfigError(f"unknown action {action!r}", f"use {', '.join(ACTIONS)}")
    if min_severity not in SEVERITIES:
        raise ConfigError(f"unknown severity {min_severity!r}", f"use {', '.join(SEVERITIES)}")
    if lr_scale is not None and not 0 < lr_scale <= 10:
        raise ConfigError(f"--lr-scale {lr_scale} is out of range", "use a factor like 0.5")
    if clip_grad is not None and clip_grad <= 0:
        raise ConfigError(f"--clip-grad {clip_grad} must be positive", "for example 1.0")
    if max_restarts < 0:
        raise ConfigError("--max-restarts cannot be negative", "use 0 to never restart")
    if action != "restart" and (lr_scale or clip_grad):
        raise ConfigError(
            "--lr-scale and --clip-grad only apply to --action restart", "drop them or restart"
        )
    return Rule(tuple(kinds), action, min_severity, lr_scale, clip_grad, max_restarts)


def set_policy(db: Database, project: str, rules: list[Rule], now: float | None = None) -> None:
    if not rules:
        raise ConfigError("a policy needs at least one rule", "or remove it with `policy rm`")
    values = {"rules": [r.to_dict() for r in rules], "updated_at": now or time.time()}
    with db.write() as conn:
        updated = conn.execute(
            watch_policies.update().where(watch_policies.c.project == project).values(**values)
        ).rowcount
        if not updated:
            conn.execute(watch_policies.insert().values(project=project, **values))


def remove_policy(db: Database, project: str) -> None:
    with db.write() as conn:
        gone = conn.execute(
            watch_policies.delete().where(watch_policies.c.project == project)
        ).rowcount
    if not gone:
        raise NotFoundError(f"project {project!r} has no policy", "see `daybreak watch policy ls`")


def policies(db: Database) -> dict[str, tuple[Rule, ...]]:
    """Every stored policy by project."""
    with db.read() as conn:
        rows = conn.execute(sa.select(watch_policies)).all()
    return {row.project: tuple(Rule.from_dict(r) for r in row.rules) for row in rows}


def rule_for(
    stored: dict[str, tuple[Rule, ...]], project: str, kind: str, severity: str
) -> Rule | None:
    """The rule that decides what to do about a finding in ``project``; None: do nothing."""
    for rule in stored.get(project) or stored.get(ANY_PROJECT) or DEFAULT:
        if rule.covers(kind, severity):
            return rule
    return None
