"""Opening the metadata database by URL, with the settings each backend needs under load."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError

from daybreak.errors import ConfigError, StoreError
from daybreak.store.urls import check_url

_WRITE = "daybreak_write"


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url, connect_args={"timeout": 60, "check_same_thread": False}, pool_pre_ping=False
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A deferred transaction that upgrades to a write gets SQLITE_BUSY at once, without
        # waiting: writers take the lock up front so concurrent runs queue instead of failing.
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgres_engine(url: str) -> Engine:
    try:
        return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "the PostgreSQL driver is not installed", "pip install 'daybreak[postgres]'"
        ) from exc


class Database:
    """One engine per URL per process; ``read()`` and ``write()`` hand out transactions."""

    def __init__(self, url: str) -> None:
        self.url = check_url(url)
        self.backend = make_url(url).get_backend_name()
        self.engine = _sqlite_engine(url) if self.backend == "sqlite" else _postgres_engine(url)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with _translate_errors(self.url), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        with _translate_errors(self.url), self.engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()


@contextlib.contextmanager
def _translate_errors(url: str) -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        raise StoreError(
            f"cannot use the database at {shown}: {exc.orig}",
            "check that the server is running and DAYBREAK_DB is right",
        ) from exc


_databases: dict[str, Database] = {}
_lock = threading.Lock()


def get_database(url: str) -> Database:
    """The process-wide, migrated database for ``url``."""
    with _lock:
        db = _databases.get(url)
        if db is None:
            from daybreak.store.migrate import ensure_schema

            db = Database(url)
            ensure_schema(db)
            _databases[url] = db
        return db


def forget_databases() -> None:
    """Close every engine (tests, forked children)."""
    with _lock:
        for db in _databases.values():
            db.dispose()
        _databases.clear()
