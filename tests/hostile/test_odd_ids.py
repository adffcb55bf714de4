"""Ids that look like numbers to Python but are not ASCII digits ('³', '٣') or are too big."""

from __future__ import annotations

import httpx
import pytest

ODD = ["%C2%B3", "%D9%A3", "99999999999999999999999", "-1", "1e3"]


@pytest.mark.parametrize("odd", ODD)
def test_odd_ids_get_a_clear_4xx(server: str, odd: str) -> None:
    for path in (
        f"/api/dailylogs/{odd}",
        f"/api/jobs/{odd}",
        f"/api/models/m/versions/{odd}",
        f"/api/2.0/mlflow/experiments/get?experiment_id={odd}",
        f"/api/tokens/{odd}",
    ):
        method = "DELETE" if path.startswith("/api/tokens") else "GET"
        answer = httpx.request(method, server + path)
        assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text[:200])
    made = httpx.post(
        f"{server}/api/2.0/mlflow/experiments/delete-experiment-tag",
        json={"experiment_id": httpx.URL("/" + odd).path[1:], "key": "k"},
    )
    assert 400 <= made.status_code < 500, made.text
