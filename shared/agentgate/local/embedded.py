"""The embedded stores: an in-process moto server standing in for DynamoDB and S3."""

from __future__ import annotations

import logging
import os


def start_moto(host: str = "127.0.0.1") -> tuple[str, object]:
    """Start moto's server on a free port; returns (endpoint URL, server)."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    bound_host, port = server.get_host_and_port()
    return f"http://{bound_host}:{port}", server


def use_endpoints(dynamodb_endpoint: str | None, s3_endpoint: str | None) -> None:
    """Point agentgate (and any boto3 client it makes) at these endpoints."""
    if dynamodb_endpoint:
        os.environ["AGENTGATE_DYNAMODB_ENDPOINT"] = dynamodb_endpoint
    if s3_endpoint:
        os.environ["AGENTGATE_S3_ENDPOINT"] = s3_endpoint


def fake_credentials() -> None:
    """moto accepts any credentials; set some so boto3 never looks for real ones."""
    os.environ["AWS_ACCESS_KEY_ID"] = "agentgate-local"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "agentgate-local"
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)


def ensure_storage() -> None:
    """Create every table and the files bucket if they do not exist yet."""
    import importlib
    import pkgutil

    import boto3

    import agentgate.store as store_pkg
    from agentgate.config import settings
    from agentgate.store import base

    for mod in pkgutil.iter_modules(store_pkg.__path__):
        importlib.import_module(f"agentgate.store.{mod.name}")
    base.configure_models()
    base.create_tables()
    s = settings()
    s3 = boto3.client("s3", region_name=s.region, endpoint_url=s.s3_endpoint)
    try:
        s3.head_bucket(Bucket=s.files_bucket)
    except Exception:  # noqa: BLE001 - missing bucket: create it
        kwargs = {} if s.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": s.region}}
        s3.create_bucket(Bucket=s.files_bucket, **kwargs)
