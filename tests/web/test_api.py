"""The REST API over real runs, on a real server on 127.0.0.1."""

from __future__ import annotations

import math

import httpx
import numpy as np
import pytest

import daybreak


@pytest.fixture
def logged_run(home):
    run = daybreak.init(
        project="api",
        name="r1",
        config={"lr": 0.1},
        tags=["x"],
        system_metrics=False,
        capture_output=False,
    )
    values = np.sin(np.arange(100_000) / 500.0)
    values[50_000] = math.nan
    values[70_000] = 40.0  # a spike downsampling must keep
    for i, value in enumerate(values):
        run.log({"loss": float(value)}, step=i)
    run.finish()
    return run.id, values


def test_runs_and_projects(logged_run, server):
    run_id, _ = logged_run
    projects = httpx.get(f"{server}/api/projects").json()
    assert [(p["name"], p["runs"]) for p in projects] == [("api", 1)]
    runs = httpx.get(f"{server}/api/runs", params={"project": "api"}).json()
    assert [r["id"] for r in runs] == [run_id]
    assert httpx.get(f"{server}/api/runs", params={"status": "running"}).json() == []
    run = httpx.get(f"{server}/api/runs/{run_id[:4]}").json()
    assert run["config"] == {"lr": 0.1} and run["status"] == "finished"


def test_metric_series_downsampled_keeps_extremes_and_nan(logged_run, server):
    run_id, _ = logged_run
    body = httpx.get(f"{server}/api/runs/{run_id}/metrics/loss", params={"points": 500}).json()
    assert body["total"] == 100_000 and body["returned"] <= 500
    assert 40.0 in body["values"] and "NaN" in body["values"]
    assert body["steps"] == sorted(body["steps"])
    full = httpx.get(
        f"{server}/api/runs/{run_id}/metrics/loss", params={"points": 0, "format": "binary"}
    )
    assert full.headers["x-daybreak-total"] == "100000" and len(full.content) == 100_000 * 24
    index = httpx.get(f"{server}/api/runs/{run_id}/metrics").json()["keys"]["loss"]
    assert index["count"] == 100_000 and index["nonfinite"] == 1 and index["max"] == 40.0


def test_errors_are_json_with_fitting_status(logged_run, server):
    run_id, _ = logged_run
    missing = httpx.get(f"{server}/api/runs/nope")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "NotFoundError"
    bad = httpx.get(f"{server}/api/runs/{run_id}/metrics/loss", params={"points": -1})
    assert bad.status_code == 422 and "points" in bad.json()["error"]["message"]
    garbage = httpx.post(f"{server}/api/runs/{run_id}/points", content=b"not a batch")
    assert garbage.status_code == 422 and "malformed" in garbage.json()["error"]["message"]
    bad_finish = httpx.post(f"{server}/api/runs/{run_id}/finish", json={"status": "exploded"})
    assert bad_finish.status_code == 422


def test_oversized_upload_is_refused(home, monkeypatch, tmp_path):
    from daybreak.config import get_settings
    from daybreak.stack import ServerThread
    from tests.conftest import free_port

    run = daybreak.init(project="up", system_metrics=False, capture_output=False)
    run.flush()
    server = ServerThread(get_settings(max_upload_mb=1), "127.0.0.1", free_port()).start()
    try:
        response = httpx.put(
            f"{server.url}/api/runs/{run.id}/artifacts/big",
            params={"filename": "big.bin"},
            content=b"\0" * (2 * 2**20),
        )
        assert response.status_code == 413 and "MiB" in response.json()["error"]["message"]
    finally:
        server.stop()
        run.finish()
    assert daybreak.get_run(run.id).artifacts() == []


def test_output_artifacts_notes_patch_and_delete(home, server, tmp_path):
    run = daybreak.init(project="api", system_metrics=False)
    print("hello from the loop")
    path = tmp_path / "model.bin"
    path.write_bytes(b"weights")
    artifact = run.log_artifact(path)
    run.note("looks good")
    run.finish()
    output = httpx.get(f"{server}/api/runs/{run.id}/output").json()
    assert "hello from the loop" in output["text"] and output["next_offset"] == len(
        output["text"].encode()
    )
    assert (
        httpx.get(
            f"{server}/api/runs/{run.id}/output", params={"offset": output["next_offset"]}
        ).json()["text"]
        == ""
    )
    download = httpx.get(f"{server}/api/runs/{run.id}/artifacts/{artifact['id']}/download")
    assert download.content == b"weights"
    assert [n["body"] for n in httpx.get(f"{server}/api/runs/{run.id}/notes").json()] == [
        "looks good"
    ]
    patched = httpx.patch(
        f"{server}/api/runs/{run.id}", json={"tags": ["best"], "name": "renamed"}
    ).json()
    assert patched["tags"] == ["best"] and patched["name"] == "renamed"
    unchanged = httpx.patch(f"{server}/api/runs/{run.id}", json={})  # found by the fuzzer
    assert unchanged.status_code == 200 and unchanged.json()["name"] == "renamed"
    assert httpx.patch(f"{server}/api/runs/no-such-run", json={}).status_code == 404
    assert httpx.delete(f"{server}/api/runs/{run.id}").status_code == 204
    assert httpx.get(f"{server}/api/runs/{run.id}").status_code == 404
    assert not run.dir.exists()


def test_openapi_docs_are_served(home, server):
    schema = httpx.get(f"{server}/openapi.json").json()
    assert "/api/runs/{run_id}/metrics/{key}" in schema["paths"]
    assert httpx.get(f"{server}/docs").status_code == 200


def test_pages_need_the_token_cookie_when_a_token_is_set(home):
    from daybreak.config import get_settings
    from daybreak.stack import ServerThread
    from tests.conftest import free_port

    run = daybreak.init(project="secret", system_metrics=False, capture_output=False)
    run.finish()
    server = ServerThread(get_settings(token="tok"), "127.0.0.1", free_port()).start()
    try:
        with httpx.Client(base_url=server.url) as client:
            page = client.get(f"/runs/{run.id}")
            assert page.status_code == 303 and page.headers["location"].startswith("/login")
            assert client.get("/api/runs").status_code == 401
            assert client.get("/api/health").status_code == 200
            wrong = client.post("/login", data={"token": "nope", "next": f"/runs/{run.id}"})
            assert wrong.status_code == 401 and "wrong token" in wrong.text
            signed = client.post("/login", data={"token": "tok", "next": f"/runs/{run.id}"})
            assert signed.status_code == 303 and signed.headers["location"] == f"/runs/{run.id}"
            assert client.get(f"/runs/{run.id}").status_code == 200  # the cookie is kept
            assert client.get("/api/runs").json()[0]["id"] == run.id
    finally:
        server.stop()


def test_unknown_pages_are_html_and_unknown_api_paths_json(home, server):
    page = httpx.get(f"{server}/nope", headers={"accept": "text/html"})
    assert page.status_code == 404 and "<html" in page.text.lower()
    api = httpx.get(f"{server}/api/nope")
    assert api.status_code == 404 and api.json()["error"]["type"] == "HTTPError"


def test_output_never_splits_a_character(home, server):
    run = daybreak.init(project="utf", system_metrics=False)
    print("é" * 10)
    run.finish()
    text, offset = "", 0
    while True:  # read in 3-byte pieces: every second "é" (2 bytes) straddles a boundary
        body = httpx.get(
            f"{server}/api/runs/{run.id}/output", params={"offset": offset, "limit": 3}
        ).json()
        if body["next_offset"] == offset:
            break
        text, offset = text + body["text"], body["next_offset"]
    assert "é" * 10 in text and "\ufffd" not in text
