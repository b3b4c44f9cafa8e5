"""Settings read from the environment, in one place.

Lambda functions get these from template.yaml; the local gateway sets them before it imports any
function. Every value has a default that works for local development.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    try:
        return int(raw) if raw not in (None, "") else default
    except ValueError:
        return default


@dataclass(frozen=True)
class Settings:
    region: str = field(default_factory=lambda: _env("AWS_REGION") or _env("AWS_DEFAULT_REGION", "us-east-1"))
    # Endpoints for local stores (the embedded moto server, DynamoDB Local, LocalStack ...).
    dynamodb_endpoint: str | None = field(default_factory=lambda: _env("AGENTGATE_DYNAMODB_ENDPOINT") or None)
    s3_endpoint: str | None = field(default_factory=lambda: _env("AGENTGATE_S3_ENDPOINT") or None)

    keys_table: str = field(default_factory=lambda: _env("AGENTGATE_KEYS_TABLE", "agentgate-keys"))
    bots_table: str = field(default_factory=lambda: _env("AGENTGATE_BOTS_TABLE", "agentgate-bots"))
    conversations_table: str = field(
        default_factory=lambda: _env("AGENTGATE_CONVERSATIONS_TABLE", "agentgate-conversations")
    )
    messages_table: str = field(default_factory=lambda: _env("AGENTGATE_MESSAGES_TABLE", "agentgate-messages"))
    chats_table: str = field(default_factory=lambda: _env("AGENTGATE_CHATS_TABLE", "agentgate-chats"))
    files_table: str = field(default_factory=lambda: _env("AGENTGATE_FILES_TABLE", "agentgate-files"))
    responses_table: str = field(default_factory=lambda: _env("AGENTGATE_RESPONSES_TABLE", "agentgate-responses"))
    files_bucket: str = field(default_factory=lambda: _env("AGENTGATE_FILES_BUCKET", "agentgate-files"))

    # Keys
    key_name_max: int = field(default_factory=lambda: _env_int("AGENTGATE_KEY_NAME_MAX", 100))
    last_used_interval_ms: int = field(default_factory=lambda: _env_int("AGENTGATE_LAST_USED_INTERVAL_MS", 60_000))
    # Whether key changes flush API Gateway's authorizer cache (off when nothing caches).
    flush_authorizer_cache: bool = field(
        default_factory=lambda: _env("AGENTGATE_FLUSH_AUTHORIZER_CACHE", "true").lower() not in ("0", "false", "no")
    )

    # Files
    max_file_bytes: int = field(default_factory=lambda: _env_int("AGENTGATE_MAX_FILE_BYTES", 10 * 1024 * 1024))
    presign_ttl_s: int = field(default_factory=lambda: _env_int("AGENTGATE_PRESIGN_TTL_S", 3600))

    # Browsers: the origin every answer allows (the template's CorsAllowOrigin; empty = no CORS).
    cors_allow_origin: str = field(default_factory=lambda: _env("AGENTGATE_CORS_ALLOW_ORIGIN"))

    # Models
    default_model: str = field(default_factory=lambda: _env("AGENTGATE_DEFAULT_MODEL", "echo"))


def settings() -> Settings:
    """Fresh settings from the current environment (cheap; tests change the environment)."""
    return Settings()
