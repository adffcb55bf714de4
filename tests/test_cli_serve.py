"""`daybreak server` / `daybreak up` / `daybreak sync` edge cases, through the real command."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.conftest import free_port


def daybreak_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daybreak.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_port_in_use_is_a_clear_error(home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = daybreak_cli("server", "--port", str(port))
    assert done.returncode != 0
    assert "cannot listen on 127.0.0.1" in done.stderr and "--port" in done.stderr


def test_sync_without_a_server_url_says_what_to_set(home):
    done = daybreak_cli("sync")
    assert done.returncode != 0 and "DAYBREAK_URL" in done.stderr


def test_sync_to_a_server_that_is_down_keeps_the_spool(home, monkeypatch, tmp_path):
    spool = home / "spool" / "abc123"
    spool.mkdir(parents=True)
    (spool / "0001.op").write_bytes(b'{"method": "POST", "path": "/api/runs/abc123/heartbeat"}\n')
    monkeypatch.setenv("DAYBREAK_URL", f"http://127.0.0.1:{free_port()}")
    done = daybreak_cli("sync")
    assert done.returncode != 0 and "still spooled" in done.stderr
    assert (spool / "0001.op").exists()


def test_wrong_flags_exit_with_usage(home):
    done = daybreak_cli("runs", "ls", "--no-such-flag")
    assert done.returncode == 2 and "No such option" in done.stderr


def test_the_sdk_works_without_torch(home, tmp_path):
    script = tmp_path / "no_torch.py"
    script.write_text(
        "import sys\n"
        "sys.modules['torch'] = None  # importing torch now fails, as on a machine without it\n"
        "import daybreak\n"
        "run = daybreak.init(project='plain', system_metrics=False)\n"
        "run.log({'loss': 0.5}, step=0)\n"
        "ckpt = run.save_checkpoint({'weights': [1, 2, 3]}, step=0)\n"
        "assert run.latest_checkpoint().load() == {'weights': [1, 2, 3]}\n"
        "run.finish()\n"
        "print(ckpt.format)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pkl"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [("TIMEZONE", "Mars/Olympus_Mons", "does not exist"), ("DAILYLOG_AT", "25:99", "time of day")],
)
def test_up_refuses_a_bad_time_zone_or_hour_before_starting(home, monkeypatch, name, value, says):
    monkeypatch.setenv(f"DAYBREAK_{name}", value)
    done = daybreak_cli("up", "--port", str(free_port()))
    assert done.returncode != 0 and says in done.stderr
    assert "Traceback" not in done.stderr
