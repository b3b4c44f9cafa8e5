"""The owner's secrets that http nodes reference as {{secrets.NAME}}: SSM Parameter Store
SecureString parameters at <AGENTGATE_SECRETS_PREFIX>/<owner_id>/<NAME> (KMS-encrypted at rest,
never in a definition, a run history or a log). Set them with `agentgate workflows secret set`
or the AWS console/CLI."""

from __future__ import annotations

import re

from agentgate.config import settings

NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


def _client():
    import boto3

    s = settings()
    return boto3.client("ssm", region_name=s.region, endpoint_url=s.dynamodb_endpoint if s.dynamodb_endpoint else None)


def parameter_name(owner_id: str, name: str) -> str:
    if not NAME.match(name):
        raise ValueError("a secret name is 1-128 letters, digits, _ . -")
    owner = re.sub(r"[^A-Za-z0-9_.\-]", "_", owner_id)
    return f"{settings().secrets_prefix.rstrip('/')}/{owner}/{name}"


def get(owner_id: str, name: str) -> str | None:
    try:
        path = parameter_name(owner_id, name)
    except ValueError:
        return None
    client = _client()
    try:
        return client.get_parameter(Name=path, WithDecryption=True)["Parameter"]["Value"]
    except client.exceptions.ParameterNotFound:
        return None


def put(owner_id: str, name: str, value: str) -> None:
    _client().put_parameter(Name=parameter_name(owner_id, name), Value=value, Type="SecureString", Overwrite=True)
