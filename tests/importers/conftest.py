"""Fixtures for the importers: an empty MLflow database (made once, copied per test) and
helpers that look at what an import left in the store."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daybreak.config import Settings
from daybreak.tracking.readers import LocalBackend


@pytest.fixture(autouse=True)
def _quick_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """An MLflow client that gives up at once instead of retrying for minutes."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow SQLite database (creating one takes seconds: do it once)."""
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow") / "template.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_db(mlflow_template: Path, tmp_path: Path) -> Iterator[Path]:
    """This test's own MLflow database file."""
    path = tmp_path / "mlflow" / "mlflow.db"
    path.parent.mkdir()
    shutil.copyfile(mlflow_template, path)
    yield path


State = Callable[[], tuple[list[str], list[str], list[str]]]


@pytest.fixture
def state(settings: Settings) -> State:
    """What is in the store: run ids in the database, run folders on disk, staging folders."""

    def look() -> tuple[list[str], list[str], list[str]]:
        ids = sorted(r.id for r in LocalBackend(settings).list_runs())
        runs = settings.runs_dir
        folders = sorted(p.name for p in runs.iterdir()) if runs.exists() else []
        staging = sorted(p.name for p in (settings.home / "tmp").glob("import-*"))
        return ids, folders, staging

    return look
