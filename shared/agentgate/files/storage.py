"""The bytes in S3: keys under the owner's prefix, puts, gets, and expiring GET URLs.

The boto3 client is created on first use and cached per (region, endpoint): importing boto3
costs cold-start time, and a client per request would cost a credentials lookup each time.
"""

from __future__ import annotations

import threading
from urllib.parse import quote, unquote, urlsplit

from agentgate.config import settings

_clients: dict[tuple[str, str | None], object] = {}
_lock = threading.Lock()


def s3_client():
    s = settings()
    cache_key = (s.region, s.s3_endpoint)
    client = _clients.get(cache_key)
    if client is None:
        import boto3
        from botocore.config import Config

        # SigV4 always (its URLs carry X-Amz-Expires); path style for local endpoints (moto, MinIO).
        config = Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"},
                        s3={"addressing_style": "path" if s.s3_endpoint else "virtual"})
        with _lock:
            client = _clients.get(cache_key)
            if client is None:
                client = boto3.client("s3", region_name=s.region, endpoint_url=s.s3_endpoint, config=config)
                _clients[cache_key] = client
    return client


def reset_client() -> None:
    """Forget cached clients (tests switch endpoints and mocks)."""
    _clients.clear()


def object_key(owner_id: str, file_id: str, safe_name: str) -> str:
    # The owner id is quoted so that no owner id can reach into another's prefix.
    return f"{quote(owner_id, safe='-_.@')}/{file_id}/{safe_name}"


def parse_key(key: str) -> tuple[str, str, str] | None:
    """(owner_id, file_id, name) of a key made by object_key, else None."""
    parts = key.split("/")
    if len(parts) != 3 or not all(parts):
        return None
    return unquote(parts[0]), parts[1], parts[2]


def put(key: str, data: bytes, content_type: str) -> None:
    s3_client().put_object(Bucket=settings().files_bucket, Key=key, Body=data, ContentType=content_type)


def get(key: str) -> bytes:
    return s3_client().get_object(Bucket=settings().files_bucket, Key=key)["Body"].read()


def delete(key: str) -> None:
    s3_client().delete_object(Bucket=settings().files_bucket, Key=key)


def presigned_get_url(key: str, *, content_type: str, display_name: str, ttl_s: int | None = None) -> str:
    """A GET URL that expires after ttl_s (settings().presign_ttl_s); it downloads under the display name.

    Signed with the function's role credentials: it also stops working when those expire.
    """
    disposition = f"inline; filename*=UTF-8''{quote(display_name, safe='')}"
    return s3_client().generate_presigned_url(
        "get_object",
        Params={"Bucket": settings().files_bucket, "Key": key, "ResponseContentType": content_type,
                "ResponseContentDisposition": disposition},
        ExpiresIn=ttl_s if ttl_s is not None else settings().presign_ttl_s,
    )


def key_from_url(url: str) -> str | None:
    """The object key if `url` points into our files bucket (virtual-hosted or path style), else None.

    Only the location is checked: the caller then proves the key belongs to the right owner.
    """
    try:
        return _key_from_url(url)
    except ValueError:  # not a URL at all ("http://[::1", a port out of range): not ours
        return None


def _key_from_url(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    s = settings()
    bucket = s.files_bucket
    host = parts.hostname.lower()
    path = parts.path
    if s.s3_endpoint:
        endpoint = urlsplit(s.s3_endpoint)
        ours = host == (endpoint.hostname or "").lower() and parts.port == endpoint.port
        if ours and path.startswith(f"/{bucket}/"):
            return unquote(path[len(bucket) + 2:])
        return None
    if not _is_aws_s3_host(host.removeprefix(f"{bucket}.")):
        return None
    if host.startswith(f"{bucket}."):
        return unquote(path[1:]) or None
    if path.startswith(f"/{bucket}/"):
        return unquote(path[len(bucket) + 2:])
    return None


def _is_aws_s3_host(host: str) -> bool:
    # s3.amazonaws.com, s3.<region>.amazonaws.com, s3-<region>.amazonaws.com (and .com.cn).
    return host.startswith(("s3.", "s3-")) and host.endswith((".amazonaws.com", ".amazonaws.com.cn"))
