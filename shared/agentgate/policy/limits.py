"""Rate limits: requests and tokens per window, concurrent streams; defaults per scope.

A key's `rate_limits` ({"rpm": n, "tpm": n, "concurrency": n}) overrides its scope's default
field by field; 0 means unlimited. The window is AGENTGATE_RATE_WINDOW_S seconds (60: "per
minute"; tests shorten it). Defaults (AGENTGATE_RATE_LIMIT_DEFAULTS, JSON, same shape per scope):
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from agentgate.auth import scopes as scope_rules

FIELDS = ("rpm", "tpm", "concurrency")
MAX_VALUE = 10_000_000_000  # a limit above this is a typo, not a policy
DEFAULTS = {
    # the operator's keys are never limited by default
    scope_rules.ROOT: {"rpm": 0, "tpm": 0, "concurrency": 0},
    # tokens unlimited by default: counting them costs a write per turn; set tpm where it matters
    scope_rules.ADMIN: {"rpm": 600, "tpm": 0, "concurrency": 50},
    scope_rules.CHAT: {"rpm": 300, "tpm": 0, "concurrency": 20},
    scope_rules.READ: {"rpm": 300, "tpm": 0, "concurrency": 10},
}
__doc__ += "\n".join(f"    {scope}: {values}" for scope, values in DEFAULTS.items())


@dataclass(frozen=True)
class Limits:
    rpm: int = 0
    tpm: int = 0
    concurrency: int = 0

    @property
    def unlimited(self) -> bool:
        return not (self.rpm or self.tpm or self.concurrency)


def window_s() -> int:
    try:
        return max(1, int(os.environ.get("AGENTGATE_RATE_WINDOW_S") or 60))
    except ValueError:
        return 60


def enabled() -> bool:
    return os.environ.get("AGENTGATE_RATE_LIMITS", "on").lower() not in ("0", "off", "false", "no")


def _defaults() -> dict:
    raw = os.environ.get("AGENTGATE_RATE_LIMIT_DEFAULTS")
    if not raw:
        return DEFAULTS
    try:
        loaded = json.loads(raw)
    except ValueError:
        return DEFAULTS
    merged = {scope: dict(values) for scope, values in DEFAULTS.items()}
    for scope, values in (loaded or {}).items() if isinstance(loaded, dict) else ():
        if isinstance(values, dict):
            merged.setdefault(scope, {}).update({k: int(v) for k, v in values.items() if k in FIELDS})
    return merged


def scope_default(scopes) -> dict:
    """The most generous default among the key's scopes (root > admin > chat > read)."""
    table = _defaults()
    for scope in (scope_rules.ROOT, scope_rules.ADMIN, scope_rules.CHAT, scope_rules.READ):
        if scope in scopes:
            return dict(table.get(scope) or {})
    return dict(table.get(scope_rules.READ) or {})


def for_principal(principal) -> Limits:
    base = scope_default(principal.scopes)
    values = {}
    for name in FIELDS:
        own = getattr(principal, name, -1)
        values[name] = int(own) if own is not None and own >= 0 else int(base.get(name, 0))
    return Limits(**values)


def normalise(value) -> dict | None:
    """A create/update request's `rate_limits`: None (the scope's default) or a validated dict.
    Raises ValueError."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError('rate_limits is an object: {"rpm": n, "tpm": n, "concurrency": n}')
    unknown = [k for k in value if k not in FIELDS]
    if unknown:
        raise ValueError(f"rate_limits: unknown field(s) {', '.join(map(str, unknown))}; known: {', '.join(FIELDS)}")
    out = {}
    for name, v in value.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > MAX_VALUE:
            raise ValueError(f"rate_limits.{name} is a whole number from 0 (unlimited) to {MAX_VALUE}")
        out[name] = v
    return out
