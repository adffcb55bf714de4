"""Settings and their one precedence order.

flag (keyword override) > ``DAYBREAK_*`` environment > project file (``./daybreak.toml``)
> user file (``~/.config/daybreak/config.toml``) > default.

A plain dataclass plus ``tomllib`` keeps ``import daybreak`` fast; pydantic-settings would
cost a tenth of a second on every training script start.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from daybreak.errors import ConfigError

PROJECT_FILE = "daybreak.toml"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything configurable, resolved once per use."""

    home: Path = dataclasses.field(default_factory=lambda: Path("~/.daybreak").expanduser())
    db: str = ""
    url: str = ""
    token: str = ""
    blobs: str = ""
    host: str = "127.0.0.1"
    port: int = 8765
    flush_interval: float = 0.5
    fsync_interval: float = 1.0
    index_interval: float = 5.0
    heartbeat_interval: float = 5.0
    stale_after: float = 30.0
    system_metrics_interval: float = 5.0
    capture_output: bool = True
    max_upload_mb: int = 2048
    remote_finish_grace: float = 15.0
    job_slots: int = 0  # CPU jobs run at once by the local executor; 0: one per core
    executor: str = "local"  # where `daybreak submit` sends jobs: local or ray://HOST:PORT
    timezone: str = ""  # the team's IANA time zone ("Europe/Berlin"); empty: this machine's
    dailylog_at: str = "09:30"  # local time the Daily Log is built and sent; empty: never
    watch_interval: float = 5.0  # seconds between the watchdog's passes in `daybreak up`

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.home / 'daybreak.db'}"

    @property
    def blobs_url(self) -> str:
        return self.blobs or str(self.home / "blobs")

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def spool_dir(self) -> Path:
        return self.home / "spool"

    @property
    def remote(self) -> bool:
        return bool(self.url)


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(base) / "daybreak" / "config.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot parse {path}: {exc}", "fix the TOML syntax or remove the file"
        ) from exc
    section = data.get("daybreak", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [daybreak] must be a table", "write settings as key = value")
    return section


def _env_values(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _FIELDS:
        raw = env.get(f"DAYBREAK_{name.upper()}")
        if raw is not None and raw != "":
            values[name] = raw
    return values


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = _FIELDS[name].type
    try:
        if kind == "Path":
            return Path(str(value)).expanduser()
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        return str(value)
    except ValueError as exc:
        raise ConfigError(
            f"setting {name!r} from {source} has a bad value {value!r}",
            f"expected a {kind}",
        ) from exc


def get_settings(**overrides: Any) -> Settings:
    """Resolve settings; ``overrides`` (from flags or arguments) win over everything."""
    layers: list[tuple[str, Mapping[str, Any]]] = [
        (str(user_config_path()), _read_toml(user_config_path())),
        (PROJECT_FILE, _read_toml(Path.cwd() / PROJECT_FILE)),
        ("the environment", _env_values(os.environ)),
        ("a flag", {k: v for k, v in overrides.items() if v is not None}),
    ]
    resolved: dict[str, Any] = {}
    for source, layer in layers:
        for name, value in layer.items():
            if name not in _FIELDS:
                raise ConfigError(
                    f"unknown setting {name!r} in {source}",
                    f"known settings: {', '.join(sorted(_FIELDS))}",
                )
            resolved[name] = _coerce(name, value, source)
    return Settings(**resolved)
