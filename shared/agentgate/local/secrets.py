"""Secrets the local gateway makes for itself, kept beside its data (never a built-in default)."""

from __future__ import annotations

import os
from pathlib import Path


def ensure_jwt_secret(directory: Path) -> str:
    """The AgentChat JWT signing secret: generated at first start, reused after (mode 600)."""
    from agentgate.auth.jwt_tokens import new_secret

    path = Path(directory) / "jwt-secret"
    if path.exists():
        value = path.read_text().strip()
        if len(value) >= 32:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = new_secret()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value
