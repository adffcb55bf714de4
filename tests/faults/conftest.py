"""Fixtures for the fault tests."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.helpers import unavailable
from tests.faults.postgres import Cluster, bin_dir


@pytest.fixture
def pg_cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster on 127.0.0.1 that only this test uses; removed afterwards."""
    binaries = bin_dir()
    if binaries is None:
        unavailable("PostgreSQL binaries not found in /usr/lib/postgresql/*/bin")
        raise AssertionError("unreachable")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed (pip install 'daybreak[postgres]')")
    root = Path(tempfile.mkdtemp(prefix="dbk-pg-", dir="/tmp"))  # socket paths stay short
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            unavailable("running as root and there is no postgres user to run PostgreSQL as")
            raise AssertionError("unreachable") from None
        os.chown(root, user.pw_uid, user.pw_gid)
    cluster = Cluster(binaries, root)
    try:
        cluster.init().start()
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
