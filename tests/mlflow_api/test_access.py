"""Tokens on the MLflow API: missing, wrong, expired and wrong-role tokens are refused."""

from __future__ import annotations

import base64
import time

import httpx
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from daybreak.access import tokens, users
from daybreak.config import Settings
from daybreak.store.engine import get_database

PASSWORD = "correct horse battery"
API = "/api/2.0/mlflow"


@pytest.fixture
def team(settings: Settings) -> dict[str, str]:
    db = get_database(settings.db_url)
    made = {}
    for name, role in (("mo", "member"), ("vi", "viewer")):
        users.add_user(db, name, role, PASSWORD)
        made[name] = tokens.create_token(db, "api", name).secret
    made["old"] = tokens.create_token(db, "api", "mo", expires_in=1, now=time.time() - 60).secret
    made["kiosk"] = tokens.create_token(db, "kiosk").secret
    return made


@pytest.mark.parametrize("mlflow_uri", ["buffered", "stock"], indirect=True)
def test_member_token_logs_and_others_are_refused(
    mlflow_uri: str, team: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", team["mo"])
    member = MlflowClient()
    exp_id = member.create_experiment("guarded")
    run_id = member.create_run(exp_id).info.run_id
    member.log_metric(run_id, "loss", 0.5)

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", team["vi"])
    viewer = MlflowClient()
    assert viewer.get_run(run_id).data.metrics == {"loss": 0.5}
    assert [r.info.run_id for r in viewer.search_runs([exp_id])] == [run_id]  # a POST that reads
    with pytest.raises(MlflowException, match="PERMISSION_DENIED"):
        viewer.log_metric(run_id, "loss", 0.1)
    with pytest.raises(MlflowException, match="PERMISSION_DENIED"):
        viewer.create_experiment("not-mine")

    for who, code in (("old", "UNAUTHENTICATED"), ("kiosk", "PERMISSION_DENIED")):
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", team[who])
        with pytest.raises(MlflowException, match=code):
            MlflowClient().get_run(run_id)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "dbk_wrong")
    with pytest.raises(MlflowException, match="UNAUTHENTICATED"):
        MlflowClient().search_experiments()
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    with pytest.raises(MlflowException, match="UNAUTHENTICATED"):
        MlflowClient().get_run(run_id)


def test_refusals_on_the_wire_and_basic_auth(server: str, team: dict[str, str]) -> None:
    nobody = httpx.post(f"{server}{API}/experiments/create", json={"name": "x"})
    assert nobody.status_code == 401
    assert nobody.json()["error_code"] == "UNAUTHENTICATED"
    artifacts = httpx.get(f"{server}/api/2.0/mlflow-artifacts/artifacts", params={"path": "1"})
    assert artifacts.status_code == 401
    basic = base64.b64encode(f"mo:{team['mo']}".encode()).decode()
    made = httpx.post(
        f"{server}{API}/experiments/create",
        json={"name": "via-basic"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert made.status_code == 200 and made.json()["experiment_id"]
    wrong = base64.b64encode(b"mo:not-a-token").decode()
    refused = httpx.get(
        f"{server}{API}/experiments/get-by-name",
        params={"experiment_name": "via-basic"},
        headers={"Authorization": f"Basic {wrong}"},
    )
    assert refused.status_code == 401 and refused.json()["error_code"] == "UNAUTHENTICATED"
