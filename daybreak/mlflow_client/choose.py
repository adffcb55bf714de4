"""Which store an http(s) tracking URI gets: the buffered one only for a Daybreak server."""

from __future__ import annotations

import base64
import functools
import json
import os
import sys
from typing import Any

from daybreak.errors import RemoteError
from daybreak.tracking.http import HttpClient

SWITCH = "DAYBREAK_MLFLOW_BUFFER"
PROBE_TIMEOUT_S = 3.0


def store_for(store_uri: str) -> Any:
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.utils.credentials import get_default_host_creds

    get_creds = functools.partial(get_default_host_creds, store_uri)
    if not _switched_on():
        return RestStore(get_creds)
    creds = get_creds()
    authorization = authorization_of(creds)
    if authorization is None or not answers_as_daybreak(creds.host):
        return RestStore(get_creds)
    from daybreak.mlflow_client.shipper import Shipper
    from daybreak.mlflow_client.store import BufferedRestStore

    return BufferedRestStore(get_creds, Shipper(creds.host))


def _switched_on() -> bool:
    value = os.environ.get(SWITCH, "1").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value not in ("1", "true", "yes", "on", ""):
        print(f"daybreak: {SWITCH}={value!r} is not 0 or 1; buffering stays on", file=sys.stderr)
    return True


def authorization_of(creds: Any) -> str | None:
    """The Authorization header MLflow would send; None for what only MLflow's client can do."""
    if (
        creds.aws_sigv4
        or creds.auth
        or creds.ignore_tls_verification
        or creds.client_cert_path
        or creds.server_cert_path
        or creds.use_databricks_sdk
    ):
        return None
    if creds.token:
        return f"Bearer {creds.token}"
    if creds.username and creds.password:
        pair = f"{creds.username}:{creds.password}".encode()
        return "Basic " + base64.standard_b64encode(pair).decode()
    return ""


def answers_as_daybreak(host: str) -> bool:
    """One unauthenticated GET of /api/health: MLflow's server answers 404 there."""
    try:
        client = HttpClient(host, timeout=PROBE_TIMEOUT_S)
    except RemoteError:
        return False
    try:
        status, data, _ = client.request("GET", "/api/health")
        body = json.loads(data) if status == 200 else {}
    except (RemoteError, ValueError):
        return False
    finally:
        client.close()
    return isinstance(body, dict) and body.get("server") == "daybreak"
