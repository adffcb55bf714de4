"""What happens to a run when its process ends badly: killed, crashed, interrupted, terminated."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import daybreak
from daybreak.tracking.readers import LocalBackend


def start_script(tmp_path: Path, body: str, name: str = "train.py") -> subprocess.Popen[str]:
    script = tmp_path / name
    script.write_text(textwrap.dedent(body))
    return subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    """A shell's background job ignores SIGINT, and Python then never raises KeyboardInterrupt:
    give the script the default, as a terminal would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_line(process: subprocess.Popen[str], prefix: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(prefix):
            return line
        if not line and process.poll() is not None:
            raise AssertionError(
                f"process ended early: {process.stderr.read() if process.stderr else ''}"
            )
    raise AssertionError(f"no line starting with {prefix!r}")


def wait_registered(run_id: str, timeout: float = 60) -> None:
    """Registration runs on a background thread: under load it can take a moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            daybreak.get_run(run_id)
            return
        except daybreak.DaybreakError:
            time.sleep(0.2)
    raise AssertionError(f"run {run_id} was never registered")


LOOP = """
    import sys, time, daybreak
    run = daybreak.init(project="p", name="victim", system_metrics=False, capture_output=False)
    print("ID", run.id, flush=True)
    i = 0
    while True:
        run.log({"loss": float(i), "t": time.time()}, step=i)
        i += 1
        if i % 20 == 0:
            time.sleep(0.001)  # a heavy but real loop: up to ~40k points/s
"""


def test_sigkill_loses_nothing_logged_more_than_a_second_before(home, tmp_path):
    process = start_script(tmp_path, LOOP)
    run_id = wait_for_line(process, "ID").split()[1]
    time.sleep(2.5)
    killed_at = time.time()
    process.send_signal(signal.SIGKILL)
    process.wait(10)

    backend = LocalBackend(daybreak.config.get_settings())
    from daybreak.tracking import points

    stamps = points.read_records(backend.run_dir(run_id), "t")["value"]
    steps = points.read_records(backend.run_dir(run_id), "loss")["step"]
    assert len(stamps) > 1000
    assert stamps.max() > killed_at - 1.0, "points logged more than 1 s before the kill were lost"
    assert steps.tolist() == list(range(len(steps))), "a point in the middle went missing"


def test_a_killed_run_is_marked_crashed(home, tmp_path, monkeypatch):
    process = start_script(tmp_path, LOOP)
    run_id = wait_for_line(process, "ID").split()[1]
    wait_registered(run_id)
    assert daybreak.get_run(run_id).status == "running"
    process.kill()
    process.wait(10)
    # same host: a dead pid is noticed on the next check without waiting for the heartbeat
    view = daybreak.get_run(run_id)
    assert view.status == "crashed" and "heartbeat" in view.error


def test_stale_heartbeat_from_another_host_is_crashed_by_the_monitor(home):
    from daybreak.stack import HeartbeatMonitor
    from daybreak.store.engine import get_database
    from daybreak.store.schema import runs
    from daybreak.tracking import service
    from daybreak.tracking.records import RunRecord

    settings = daybreak.config.get_settings(stale_after=1.0)
    db = get_database(settings.db_url)
    now = time.time()
    service.create_run(
        db,
        RunRecord(
            id="far",
            project="p",
            name="far",
            host="elsewhere",
            pid=1,
            started_at=now - 100,
            last_heartbeat=now - 5,
        ),
    )
    service.create_run(
        db,
        RunRecord(
            id="alive",
            project="p",
            name="alive",
            host="elsewhere",
            pid=1,
            started_at=now,
            last_heartbeat=now + 60,
        ),
    )
    monitor = HeartbeatMonitor(settings, every=0.1)
    monitor.start()
    time.sleep(0.5)
    monitor.stop()
    assert monitor.crashed == ["far"]
    with db.read() as conn:
        statuses = dict(
            conn.execute(runs.select().with_only_columns(runs.c.id, runs.c.status)).all()
        )
    assert statuses == {"far": "crashed", "alive": "running"}


def test_uncaught_exception_marks_failed_with_traceback(home, tmp_path):
    process = start_script(
        tmp_path,
        """
        import daybreak
        run = daybreak.init(project="p", system_metrics=False)
        print("ID", run.id, flush=True)
        run.log({"loss": 1.0})
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        """,
    )
    run_id = wait_for_line(process, "ID").split()[1]
    process.wait(30)
    assert process.returncode == 1
    assert "RuntimeError" in process.stderr.read()
    view = daybreak.get_run(run_id)
    assert view.status == "failed"
    assert "CUDA out of memory" in view.error and "Traceback" in view.error
    assert "CUDA out of memory" in view.logs()


@pytest.mark.parametrize(
    ("sig", "status", "reason"),
    [(signal.SIGINT, "stopped", "Ctrl-C"), (signal.SIGTERM, "stopped", "SIGTERM")],
)
def test_interrupt_and_terminate_mark_stopped(home, tmp_path, sig, status, reason):
    process = start_script(tmp_path, LOOP)
    run_id = wait_for_line(process, "ID").split()[1]
    time.sleep(1.0)
    process.send_signal(sig)
    process.wait(30)
    view = daybreak.get_run(run_id)
    assert view.status == status and reason in view.error
    assert len(view.history("loss")) > 100


def test_normal_exit_without_finish_marks_finished_and_captures_output(home, tmp_path):
    process = start_script(
        tmp_path,
        """
        import sys, daybreak
        run = daybreak.init(project="p", system_metrics=False)
        print("ID", run.id, flush=True)
        print("epoch 1 done")
        print("a warning", file=sys.stderr)
        run.log({"loss": 0.5})
        """,
    )
    run_id = wait_for_line(process, "ID").split()[1]
    assert process.wait(30) == 0
    view = daybreak.get_run(run_id)
    assert view.status == "finished"
    assert "epoch 1 done" in view.logs() and "a warning" in view.logs()
    assert view.record.command.endswith("train.py")
    assert view.record.environment["python"] == sys.version.split()[0]


def test_eight_runs_at_full_rate_lose_nothing(home, tmp_path):
    body = """
        import sys, time, daybreak
        run = daybreak.init(project="load", name=sys.argv[1], system_metrics=False, capture_output=False)
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < 3.0:
            run.log({"a": float(i), "b": 1.0, "c": 2.0, "d": 3.0}, step=i)
            i += 1
        run.finish()
        print(run.id, i, flush=True)
    """
    script = tmp_path / "load.py"
    script.write_text(textwrap.dedent(body))
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), f"w{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(120)
        assert process.returncode == 0, err
        assert "could not" not in err and "locked" not in err, err
        run_id, count = out.split()
        results.append((run_id, int(count)))
    for run_id, count in results:
        view = daybreak.get_run(run_id)
        assert view.status == "finished"
        metrics = view.metrics()
        assert {k: metrics[k].count for k in "abcd"} == dict.fromkeys("abcd", count)
        assert view.history("a").values.tolist() == [float(i) for i in range(count)]


def test_system_metrics_are_sampled(home):
    run = daybreak.init(project="p", capture_output=False, system_metrics_interval=0.2)
    time.sleep(1.0)
    run.finish()
    keys = daybreak.get_run(run.id).metric_keys()
    assert {"sys/cpu_percent", "sys/ram_percent", "sys/proc_rss_gb", "sys/disk_percent"} <= set(
        keys
    )
    rss = daybreak.get_run(run.id).history("sys/proc_rss_gb").values
    assert len(rss) >= 2 and 0.01 < rss.max() < 64
