"""PostgreSQL restarted under load (``pg_ctl restart -m fast`` cuts every connection): the
server and the training processes reconnect by themselves, no point is lost, and the server
answers again without being restarted."""

from __future__ import annotations

import random
import threading
import time

import daybreak
from tests.conftest import free_port
from tests.faults.helpers import (
    ServerProcess,
    check_whole,
    check_writer_run,
    spooled,
    start_together,
    wait_until,
    writers,
)
from tests.faults.postgres import Cluster

POINTS = 1500
BUSY = {"DAYBREAK_INDEX_INTERVAL": "0.2", "DAYBREAK_HEARTBEAT_INTERVAL": "0.2"}


def test_postgres_restarted_under_load_loses_no_point(
    home, tmp_path, monkeypatch, pg_cluster: Cluster
):
    monkeypatch.setenv("DAYBREAK_DB", pg_cluster.url)  # server, local writers and this test
    server = ServerProcess(free_port(), tmp_path / "server.log").start()
    processes = [
        *writers(tmp_path, "remote", 3, POINTS, server.url),  # through the server
        *writers(tmp_path, "local", 2, POINTS, env=BUSY),  # straight to PostgreSQL
    ]
    try:
        run_ids = start_together(processes)
        time.sleep(random.uniform(0.8, 1.5))
        pid = server.process.pid if server.process else None
        pg_cluster.restart(down_for=1.0)
        wait_until(server.answers, 20, "the server answering after the restart", every=0.2)
        assert server.process is not None and server.process.pid == pid
        for process in processes:
            assert process.finish()[-1] == "DONE"
        assert server.answers() and server.process.poll() is None
    finally:
        for process in processes:
            process.close()
        server.stop()

    noticed = [p.name for p in processes if "spooling" in p.stderr or "could not" in p.stderr]
    assert noticed, "no writer touched the database while it was down: the test tested nothing"
    for process, run_id in zip(processes, run_ids, strict=True):
        assert not spooled(process), "the SDK gave up and left batches for `daybreak sync`"
        check_writer_run(daybreak.get_run(run_id), POINTS)


def test_a_run_that_ends_while_postgres_is_down_is_recorded_finished(
    home, monkeypatch, pg_cluster: Cluster
):
    monkeypatch.setenv("DAYBREAK_DB", pg_cluster.url)
    run = daybreak.init(project="faults", system_metrics=False, capture_output=False)
    for i in range(100):
        run.log({"loss": 1.0 / (i + 1), "i": float(i)}, step=i)
    run.flush()
    pg_cluster.stop()
    back = threading.Timer(1.5, pg_cluster.start)
    back.start()
    try:
        run.finish()  # waits for the database, within its grace period
    finally:
        back.join()
    view = daybreak.get_run(run.id)
    assert view.status == "finished"
    check_whole(view.history("loss"), 100, lambda s: 1.0 / (s + 1))
    assert view.metrics()["loss"].count == 100
