"""The server is killed (SIGKILL) and started again while eight training processes log to it
over HTTP: every point of every run arrives exactly once and every run ends finished."""

from __future__ import annotations

import random
import time

import daybreak
from tests.conftest import free_port
from tests.faults.helpers import (
    ServerProcess,
    check_writer_run,
    spooled,
    start_together,
    writers,
)

WRITERS = 8
POINTS = 1500


def test_a_server_killed_mid_run_loses_no_point(home, tmp_path):
    server = ServerProcess(free_port(), tmp_path / "server.log").start()
    processes = writers(tmp_path, "remote", WRITERS, POINTS, server.url)
    try:
        run_ids = start_together(processes)
        time.sleep(random.uniform(0.8, 1.5))  # mid-way through ~3 s of logging
        server.kill()
        time.sleep(0.5)
        server.start()  # same port, same home and database
        for process in processes:
            assert process.finish()[-1] == "DONE"
    finally:
        for process in processes:
            process.close()
        server.stop()

    for process, run_id in zip(processes, run_ids, strict=True):
        assert "spooling" in process.stderr, "the writer never noticed the server was gone"
        assert "the server refused" not in process.stderr, process.stderr
        assert not spooled(process), "the SDK gave up and left batches for `daybreak sync`"
        check_writer_run(daybreak.get_run(run_id), POINTS)  # read from the server's store
