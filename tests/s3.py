"""A real S3-compatible server on 127.0.0.1 (moto's) for the S3 paths."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import free_port


@pytest.fixture
def s3_blobs(home, monkeypatch) -> Iterator[str]:
    """Point DAYBREAK_BLOBS at a fresh bucket on a local S3 server; yields the blobs URL.

    Credentials and the endpoint go through the standard AWS variables, which both s3fs
    (artifacts, dataset rows) and Lance (the lake tables) read."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    import boto3

    bucket = f"daybreak-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/team"
    monkeypatch.setenv("DAYBREAK_BLOBS", url)
    yield url
    server.stop()
