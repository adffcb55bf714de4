"""The runs table's filter syntax, parsed into plain conditions (no SQL here).

resnet                     name contains "resnet" (or the id starts with it)
project:vision             the project (repeat for several)
status:failed,crashed      one of these statuses
tag:baseline               has the tag (repeat: has them all)
config.lr>0.01             a config value: = != > >= < <= ~ (contains)
config.model=shapes-cnn
summary.best_acc>=0.9      a summary value
val/acc>=0.9               the last value of a metric (also metric.val/acc>=0.9)
duration>1h  started>=2024-05-01  host=gpu-1  name~cnn
"config.note=two words"    quotes keep spaces together
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import shlex
from typing import Any

from daybreak.errors import DaybreakError
from daybreak.tracking.records import STATUSES

SYNTAX_HINT = (
    "write filters like: project:vision status:running tag:baseline config.lr>0.01 "
    "config.model=shapes-cnn val/acc>=0.9 duration>1h (see docs/web.md)"
)
OPERATORS = (">=", "<=", "!=", "==", "=", ">", "<", "~", ":")
TOKEN = re.compile(r"^(?P<field>[^<>=!~:]+?)\s*(?P<op>>=|<=|!=|==|=|>|<|~|:)\s*(?P<value>.*)$")
RUN_FIELDS = {
    "name": "text",
    "project": "text",
    "status": "text",
    "tags": "text",
    "id": "text",
    "host": "text",
    "started": "time",
    "ended": "time",
    "duration": "seconds",
    "attempts": "number",
}
ALIASES = {"tag": "tags", "started_at": "started", "ended_at": "ended"}
GROUPABLE_RUN_FIELDS = ("project", "status", "host")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class RunFilterError(DaybreakError):
    """A runs-table filter, sort, column or group that does not parse."""

    http_status = 400


@dataclasses.dataclass(frozen=True)
class Field:
    """A column of the runs table: a run field, a config or summary path, or a metric key."""

    kind: str  # run | config | summary | metric
    key: str

    @property
    def id(self) -> str:
        return self.key if self.kind == "run" else f"{self.kind}.{self.key}"

    @property
    def path(self) -> list[str]:
        return self.key.split(".")


@dataclasses.dataclass(frozen=True)
class Condition:
    field: Field
    op: str  # = != > >= < <= ~
    value: Any  # float, bool, str (times and durations already in seconds)


@dataclasses.dataclass
class RunFilter:
    projects: list[str] = dataclasses.field(default_factory=list)
    statuses: list[str] = dataclasses.field(default_factory=list)
    tags: list[str] = dataclasses.field(default_factory=list)
    words: list[str] = dataclasses.field(default_factory=list)
    conditions: list[Condition] = dataclasses.field(default_factory=list)


def parse_field(text: str) -> Field:
    """``config.lr``, ``summary.best``, ``metric.val/acc``, a run field, or a bare metric key."""
    name = text.strip()
    if not name:
        raise RunFilterError("an empty column name", SYNTAX_HINT)
    name = ALIASES.get(name, name)
    if name in RUN_FIELDS:
        return Field("run", name)
    for kind in ("config", "summary", "metric"):
        if name.startswith(kind + "."):
            key = name[len(kind) + 1 :]
            if not key or (kind != "metric" and ('"' in key or "" in key.split("."))):
                raise RunFilterError(f"{name!r} is not a usable {kind} key", SYNTAX_HINT)
            return Field(kind, key)
    return Field("metric", name)


def parse_filter(text: str) -> RunFilter:
    """The filter typed in the table's filter bar; a clear error for what does not parse."""
    try:
        tokens = shlex.split(text or "")
    except ValueError as exc:
        raise RunFilterError(f"the filter does not parse: {exc}", "close every quote") from exc
    out = RunFilter()
    for token in tokens:
        match = TOKEN.match(token)
        if match is None:
            if token[0] in "<>=!~:":
                raise RunFilterError(f"{token!r} has no field before its operator", SYNTAX_HINT)
            out.words.append(token)
            continue
        _add(out, match["field"].strip(), match["op"], match["value"], token)
    return out


def _add(out: RunFilter, name: str, op: str, value: str, token: str) -> None:
    if value == "":
        raise RunFilterError(f"{token!r} has no value after {op!r}", SYNTAX_HINT)
    field = parse_field(name)
    op = {"==": "=", ":": "="}.get(op, op)
    if field == Field("run", "project") and op == "=":
        out.projects.extend(v for v in value.split(",") if v)
    elif field == Field("run", "status") and op == "=":
        out.statuses.extend(_statuses(value))
    elif field == Field("run", "tags") and op == "=":
        out.tags.append(value)
    else:
        out.conditions.append(Condition(field, op, _value(field, op, value, token)))


def _statuses(value: str) -> list[str]:
    wanted = [v.strip().lower() for v in value.split(",") if v.strip()]
    unknown = [v for v in wanted if v not in STATUSES]
    if unknown:
        raise RunFilterError(
            f"unknown status {unknown[0]!r}", f"statuses are {', '.join(STATUSES)}"
        )
    return wanted


def _value(field: Field, op: str, text: str, token: str) -> Any:
    kind = RUN_FIELDS.get(field.key, "text") if field.kind == "run" else field.kind
    if op == "~":
        if kind == "metric":
            raise RunFilterError(f"{token!r}: metrics compare as numbers", "use = != > >= < <=")
        return text
    if kind == "time":
        return parse_time(text, token)
    if kind == "seconds":
        return parse_seconds(text, token)
    if kind in ("number", "metric"):
        number = _number(text)
        if number is None:
            raise RunFilterError(
                f"{token!r}: {field.id} is compared with numbers, not {text!r}",
                "did you mean a run field (project:, status:, tag:) or config.KEY=TEXT?",
            )
        return number
    if kind == "text":
        if op not in ("=", "!=", "~"):
            raise RunFilterError(f"{token!r}: {field.id} compares with = != or ~", SYNTAX_HINT)
        return text
    value = _json_value(text)
    if op in (">", ">=", "<", "<=") and not isinstance(value, float):
        raise RunFilterError(f"{token!r}: {op} compares numbers, not {text!r}", "use = != or ~")
    return value


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _json_value(text: str) -> Any:
    """Config and summary values: numbers and true/false as such, anything else as text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    number = _number(text)
    return text if number is None or lowered in ("nan", "inf", "-inf", "infinity") else number


def parse_seconds(text: str, token: str = "") -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``1d`` or ``1h30m`` as seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip().lower())
    if not parts or "".join(n + u for n, u in parts) != text.strip().lower():
        raise RunFilterError(
            f"{token or text!r}: {text!r} is not a duration",
            "write durations like 90s, 15m, 2h, 1h30m",
        )
    return sum(float(n) * UNITS[u or "s"] for n, u in parts)


def parse_time(text: str, token: str = "") -> float:
    """An ISO date or date-time (local time unless it names a zone) as a Unix time."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError as exc:
        raise RunFilterError(
            f"{token or text!r}: {text!r} is not a date",
            "write dates like 2024-05-01 or 2024-05-01T09:30",
        ) from exc
    return moment.timestamp()
