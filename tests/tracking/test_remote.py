"""Remote mode against a real server on 127.0.0.1: sending, spooling while it is away, tokens."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import daybreak
from daybreak.config import get_settings
from daybreak.errors import AuthError, RemoteError
from daybreak.stack import ServerThread
from tests.conftest import free_port


def client_env(monkeypatch, tmp_path, url, token=""):
    """The SDK side: its own home (for the spool), pointed at the server."""
    monkeypatch.setenv("DAYBREAK_URL", url)
    monkeypatch.setenv("DAYBREAK_HOME", str(tmp_path / "client-home"))
    if token:
        monkeypatch.setenv("DAYBREAK_TOKEN", token)


def test_remote_run_arrives_whole(settings, server, monkeypatch, tmp_path):
    client_env(monkeypatch, tmp_path, server)
    run = daybreak.init(project="remote", name="r", config={"lr": 0.1}, system_metrics=False)
    for i in range(3000):
        run.log({"loss": 1.0 / (i + 1), "odd": math.nan if i == 5 else float(i)}, step=i)
    print("remote hello")
    checkpoint = run.save_checkpoint({"step": 2999}, step=2999)
    run.finish()

    view = daybreak.get_run(run.id)  # read over HTTP
    assert view.status == "finished" and view.config == {"lr": 0.1}
    history = view.history("loss")
    np.testing.assert_array_equal(history.values, 1.0 / (np.arange(3000) + 1))
    assert math.isnan(view.history("odd").values[5])
    assert view.metrics()["loss"].count == 3000
    assert "remote hello" in view.logs()
    assert run.latest_checkpoint().load() == {"step": 2999} == checkpoint.load()
    assert len(view.history("loss", max_points=100)) <= 100


def test_points_logged_before_the_run_is_registered_arrive(settings, server, monkeypatch, tmp_path):
    """The indexer registers the run after reading the environment; points synced by the
    writer meanwhile wait for the registration instead of being refused (404) and lost."""
    from daybreak.tracking import environment

    client_env(monkeypatch, tmp_path, server)
    monkeypatch.setenv("DAYBREAK_FSYNC_INTERVAL", "0.05")
    monkeypatch.setenv("DAYBREAK_FLUSH_INTERVAL", "0.02")
    read = environment.environment
    monkeypatch.setattr(environment, "environment", lambda: (time.sleep(1.5), read())[1])
    run = daybreak.init(project="remote", name="slow-start", system_metrics=False)
    for i in range(20):
        run.log({"loss": float(i)}, step=i)
        time.sleep(0.02)
    run.finish()

    view = daybreak.get_run(run.id)
    assert view.status == "finished"
    np.testing.assert_array_equal(view.history("loss").values, np.arange(20.0))
    assert not list((tmp_path / "client-home").rglob("*.rejected*"))


def test_server_down_spools_and_everything_arrives_later(settings, monkeypatch, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client_env(monkeypatch, tmp_path, url)
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent("""
        import daybreak
        run = daybreak.init(project="offline", name="o", system_metrics=False)
        for i in range(2000):
            run.log({"loss": float(i)}, step=i)
        print("trained", flush=True)
        run.finish(timeout=60)
        print("ID", run.id, flush=True)
    """)
    )
    monkeypatch.setenv("DAYBREAK_REMOTE_FINISH_GRACE", "1")
    env = {**__import__("os").environ}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "trained" in done.stdout, "training must go on while the server is away"
    assert "daybreak sync" in done.stderr
    run_id = done.stdout.split("ID")[1].split()[0]
    spooled = list((tmp_path / "client-home" / "spool" / run_id).glob("*.op"))
    assert spooled

    server = ServerThread(settings, "127.0.0.1", port).start()
    try:
        from typer.testing import CliRunner

        from daybreak.cli.main import app

        result = CliRunner().invoke(app, ["sync"])
        assert result.exit_code == 0, result.output
        view = daybreak.get_run(run_id)
        assert view.status == "finished"
        assert view.history("loss").values.tolist() == [float(i) for i in range(2000)]
        assert not list((tmp_path / "client-home" / "spool" / run_id).glob("*.op"))
    finally:
        server.stop()


def test_server_back_during_the_run_receives_everything(settings, monkeypatch, tmp_path):
    port = free_port()
    client_env(monkeypatch, tmp_path, f"http://127.0.0.1:{port}")
    run = daybreak.init(project="flaky", system_metrics=False, capture_output=False)
    for i in range(500):
        run.log({"loss": float(i)}, step=i)
    time.sleep(1.5)  # the writer tried, failed and spooled
    server = ServerThread(settings, "127.0.0.1", port).start()
    try:
        for i in range(500, 1000):
            run.log({"loss": float(i)}, step=i)
        run.finish()
        assert daybreak.get_run(run.id).history("loss").values.tolist() == [
            float(i) for i in range(1000)
        ]
    finally:
        server.stop()


def test_a_batch_resent_after_a_lost_reply_is_applied_once(settings, server, monkeypatch, tmp_path):
    from daybreak.tracking.http import HttpClient
    from daybreak.tracking.points import encode_batch, records_from

    client_env(monkeypatch, tmp_path, server)
    run = daybreak.init(project="dup", system_metrics=False, capture_output=False)
    run.flush()
    client = HttpClient(server)
    body = encode_batch({"x": records_from([1000], [time.time()], [7.0])})
    for _ in range(2):
        status, _, _ = client.request(
            "POST", f"/api/runs/{run.id}/points", body, {"X-Daybreak-Seq": str(10**20)}
        )
        assert status == 204
    run.finish()
    assert daybreak.get_run(run.id).metrics()["x"].count == 1


def test_token_is_required_and_checked(home, monkeypatch, tmp_path):
    settings = get_settings(token="s3cret")
    server = ServerThread(settings, "127.0.0.1", free_port()).start()
    try:
        client_env(monkeypatch, tmp_path, server.url, token="wrong")
        with pytest.raises(AuthError, match="token"):
            daybreak.get_run("anything")
        monkeypatch.setenv("DAYBREAK_TOKEN", "s3cret")
        run = daybreak.init(project="auth", system_metrics=False, capture_output=False)
        run.log({"loss": 1.0})
        run.finish()
        assert daybreak.get_run(run.id).status == "finished"
    finally:
        server.stop()


def test_unreachable_server_on_read_is_a_clear_error(home, monkeypatch, tmp_path):
    client_env(monkeypatch, tmp_path, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RemoteError, match="cannot reach the Daybreak server") as caught:
        daybreak.get_run("abc")
    assert "daybreak up" in caught.value.hint
