"""``daybreak import mlflow http://...`` against a real ``mlflow server`` subprocess."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import daybreak
from daybreak.config import Settings
from daybreak.importers import mlflow as importer
from daybreak.importers.common import stable_id
from tests.conftest import free_port
from tests.importers.mlflow_runs import LONG, client, populate, uri

pytest.importorskip("mlflow")
START_TIMEOUT = 90.0  # mlflow server starts in ~10 s on an idle machine; far slower on a busy one


@pytest.fixture(scope="module")
def mlflow_server(
    mlflow_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """A real MLflow tracking server over a populated SQLite store: (URL, db, run ids)."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    db = folder / "mlflow.db"
    shutil.copyfile(mlflow_template, db)
    ids = populate(client(db))
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [str(mlflow), "server", "--backend-store-uri", uri(db), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url, process, folder / "server.log")
        yield url, db, ids
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        log.close()


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"mlflow server exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).close()
            return
        except OSError:
            time.sleep(0.25)
    pytest.skip(f"mlflow server did not answer within {START_TIMEOUT:.0f} s on this machine")


@pytest.mark.slow
def test_runs_come_from_a_real_mlflow_server(
    settings: Settings, mlflow_server: tuple[str, Path, dict[str, str]]
) -> None:
    url, db, ids = mlflow_server
    result = importer.import_mlflow(settings, url, ["vision"])

    assert sorted(r.name for r in result.imported) == ["broken", "killed", "live", "resnet"]
    resnet = daybreak.get_run(stable_id("mlflow", ids["resnet"]))
    loss = resnet.history("train/loss")
    assert len(loss) == LONG
    np.testing.assert_array_equal(loss.values, 1 / np.arange(1, LONG + 1))
    assert resnet.record.config["lr"] == 0.001
    assert resnet.record.tags == ["priority=high", "team=vision"]
    assert resnet.record.environment["imported"]["tracking_uri"] == url

    # the same runs read straight from the database are the same Daybreak runs
    again = importer.import_mlflow(settings, uri(db))
    assert sorted(r.name for r in again.imported) == ["bert", "bert-fold1"]
    assert sorted(s.id for s in again.skipped) == sorted(r.id for r in result.imported)
