"""Artifact paths from the MLflow API cannot leave the run: '..', absolute paths, odd bytes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from mlflow.tracking import MlflowClient

from daybreak.mlflow_api.artifacts import safe_relative

ROOT = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.mark.parametrize(
    "path",
    ["../x", "a/../../x", "/etc/passwd", "a/./b", "C:/windows", "a\\..\\b", "a\x00b", "a\nb"],
)
def test_unsafe_paths_are_refused(path: str) -> None:
    with pytest.raises(Exception, match="artifact path"):
        safe_relative(path)


def test_safe_paths_are_kept() -> None:
    assert safe_relative("plots//loss curve.png") == "plots/loss curve.png"
    assert safe_relative("é/ü.txt") == "é/ü.txt"


def test_uploads_that_try_to_escape_change_nothing(
    mlflow_uri: str, home: Path, tmp_path: Path
) -> None:
    client = MlflowClient()
    exp_id = client.create_experiment("escape")
    run_id = client.create_run(exp_id).info.run_id
    base = f"{mlflow_uri}{ROOT}/{exp_id}/{run_id}/artifacts"
    before = sorted(p for p in home.rglob("*") if p.is_file())
    for tail in ("%2e%2e/%2e%2e/%2e%2e/pwned.txt", "..%2f..%2fpwned.txt", "%2Fetc%2Fpwned"):
        answer = httpx.put(f"{base}/{tail}", content=b"evil")
        assert answer.status_code == 400, (tail, answer.text)
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    other = httpx.put(f"{mlflow_uri}{ROOT}/{exp_id}/not-a-run/artifacts/x.txt", content=b"x")
    assert other.status_code == 404
    after = sorted(p for p in home.rglob("*") if p.is_file())
    assert [p for p in after if "pwned" in p.name] == []
    assert not (tmp_path / "pwned.txt").exists()
    assert len(after) - len(before) <= 3  # only the database's own files may have changed
    fine = httpx.put(f"{base}/odd%20name%C3%A9.txt", content=b"ok")
    assert fine.status_code == 200
    assert [a.path for a in client.list_artifacts(run_id)] == ["odd nameé.txt"]
    assert httpx.get(f"{base}/odd%20name%C3%A9.txt").content == b"ok"
