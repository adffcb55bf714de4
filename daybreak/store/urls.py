"""Checking a database URL without importing SQLAlchemy (the SDK's start must stay fast)."""

from __future__ import annotations

from daybreak.errors import ConfigError

FORMS = "use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"


def check_url(url: str) -> str:
    """Fail fast, with a fix, on a database URL Daybreak cannot use."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        raise ConfigError(f"cannot parse database URL {url!r}", FORMS)
    backend, _, driver = scheme.partition("+")
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"unsupported database {backend!r} in {url!r}", FORMS)
    if backend == "postgresql" and driver != "psycopg":
        raise ConfigError(
            f"PostgreSQL driver {driver or 'psycopg2 (the default)'!r} is not supported",
            "write the URL as postgresql+psycopg://… and pip install 'daybreak[postgres]'",
        )
    if backend == "sqlite" and not rest.startswith("/"):
        raise ConfigError(f"SQLite URL {url!r} has no file path", "use sqlite:////absolute/path.db")
    return url
