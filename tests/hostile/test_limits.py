"""Oversized bodies are refused early with 413; slow clients cannot tie the server up."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from daybreak.config import Settings
from daybreak.stack import ServerThread
from daybreak.web import limits
from tests.conftest import free_port


@pytest.fixture
def small_server(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A server that takes bodies up to 1 MiB, gives up on request heads after 1 s and on
    stalled bodies after 1 s."""
    monkeypatch.setattr(limits, "HEAD_TIMEOUT_S", 1.0)
    monkeypatch.setattr(limits, "BODY_IDLE_TIMEOUT_S", 1.0)
    small = Settings(**{**settings.__dict__, "max_upload_mb": 1})
    thread = ServerThread(small, "127.0.0.1", free_port()).start()
    yield thread.url
    thread.stop()


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_declared_huge_body_is_refused_before_it_is_sent(small_server: str) -> None:
    with _connect(small_server) as sock:
        started = time.monotonic()
        sock.sendall(
            b"PUT /api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/big.bin HTTP/1.1\r\n"
            b"Host: x\r\nContent-Length: 10737418240\r\n\r\n"
        )
        answer = _read_all(sock)  # the server answers and closes without reading any body
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"REQUEST_LIMIT_EXCEEDED" in answer
    assert time.monotonic() - started < 5


def test_a_streamed_body_is_cut_off_at_the_limit(small_server: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536  # 2.5 MiB, sent without a Content-Length

    notes = httpx.post(f"{small_server}/api/runs/abc/notes", content=chunks())
    assert notes.status_code == 413
    assert notes.json()["error"]["type"] == "PayloadTooLargeError"
    batch = httpx.post(f"{small_server}/api/2.0/mlflow/runs/log-batch", content=chunks())
    assert batch.status_code == 413
    assert batch.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    fine = httpx.post(f"{small_server}/api/2.0/mlflow/experiments/create", json={"name": "ok"})
    assert fine.status_code == 200


def test_a_stalled_body_gets_408(small_server: str) -> None:
    with _connect(small_server) as sock:
        sock.sendall(
            b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: x\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name": '
        )
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_slowloris_connections_are_dropped_and_others_are_served(small_server: str) -> None:
    slow = []
    for _ in range(150):
        sock = _connect(small_server)
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(sock)
    started = time.monotonic()
    assert httpx.get(f"{small_server}/api/health").status_code == 200
    assert time.monotonic() - started < 2
    time.sleep(1.5)
    closed = 0
    for sock in slow:
        sock.settimeout(5)
        try:
            closed += sock.recv(1) == b""
        except OSError:
            closed += 1
        sock.close()
    assert closed == len(slow)
    assert httpx.get(f"{small_server}/api/health").status_code == 200
