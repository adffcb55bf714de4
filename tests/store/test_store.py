"""The metadata store: migrations, concurrency of first use, and clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from daybreak.errors import ConfigError, StoreError
from daybreak.store.engine import Database, get_database
from daybreak.store.migrate import HEAD, current_revision
from daybreak.store.urls import check_url


def test_migrations_build_exactly_the_declared_schema(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from daybreak.store.schema import metadata

    db = get_database(db_url)
    assert current_revision(db) == HEAD
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_many_processes_opening_a_new_database_at_once(db_url):
    code = f"from daybreak.store.engine import get_database; get_database({db_url!r}); print('ok')"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    for process in processes:
        out, err = process.communicate(60)
        assert process.returncode == 0 and out.strip() == "ok", err
    db = Database(db_url)
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
    db.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x/y", "unsupported database"),
        ("not a url", "cannot parse"),
        ("postgresql://u@h/db", "not supported"),
        ("sqlite://", "no file path"),
    ],
)
def test_bad_urls_say_how_to_fix_them(url, message):
    with pytest.raises(ConfigError, match=message) as caught:
        check_url(url)
    assert "sqlite:///" in caught.value.hint or "postgresql+psycopg" in caught.value.hint


def test_unreachable_postgres_is_a_store_error():
    with pytest.raises(StoreError, match="cannot use the database") as caught:
        get_database("postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    assert "secret" not in str(caught.value)
