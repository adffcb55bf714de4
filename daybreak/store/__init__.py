"""The metadata database: SQLite by default, PostgreSQL by URL, migrated with Alembic.

Import ``daybreak.store.engine`` for the database itself; this package stays import-free so
the SDK can check a URL without loading SQLAlchemy.
"""
