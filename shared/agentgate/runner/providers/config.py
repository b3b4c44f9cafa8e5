"""Which providers exist: the built-in ones plus named upstreams from AGENTGATE_PROVIDERS.

AGENTGATE_PROVIDERS is JSON mapping a provider name to its settings, e.g.
  {"qwen":   {"type": "openai", "base_url": "https://dashscope.aliyuncs.com/compatible-mode/v1",
              "api_key_env": "DASHSCOPE_API_KEY"},
   "ollama": {"type": "openai", "base_url": "http://localhost:11434/v1", "api_key": "none"},
   "claude": {"type": "bedrock", "region": "us-west-2"}}
so "qwen/qwen-plus" goes to that upstream. An entry named "openai" or "bedrock" overrides the
built-in defaults. Keys are read from the environment at call time and never logged.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

PROVIDER_TYPES = ("echo", "openai", "bedrock")


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    type: str  # one of PROVIDER_TYPES
    options: tuple[tuple[str, Any], ...] = ()  # hashable, so providers can be cached per config

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)


def _builtins() -> dict[str, ProviderConfig]:
    return {t: ProviderConfig(t, t) for t in PROVIDER_TYPES}


def load_providers(raw: str | None = None) -> dict[str, ProviderConfig]:
    """Built-in providers merged with AGENTGATE_PROVIDERS (bad entries are skipped with a warning,
    so one typo does not take every bot down)."""
    out = _builtins()
    raw = os.environ.get("AGENTGATE_PROVIDERS", "") if raw is None else raw
    if not raw.strip():
        return out
    try:
        data = json.loads(raw)
    except ValueError:
        log.warning("AGENTGATE_PROVIDERS is not valid JSON; using the built-in providers only")
        return out
    if not isinstance(data, dict):
        log.warning("AGENTGATE_PROVIDERS must be a JSON object; ignored")
        return out
    for name, entry in data.items():
        if not isinstance(entry, dict):
            log.warning("AGENTGATE_PROVIDERS[%r] is not an object; skipped", name)
            continue
        ptype = str(entry.get("type", "openai"))
        if ptype not in PROVIDER_TYPES:
            log.warning("AGENTGATE_PROVIDERS[%r] has unknown type %r; skipped", name, ptype)
            continue
        options = tuple(sorted((str(k), v) for k, v in entry.items() if k != "type" and _hashable(v)))
        out[str(name)] = ProviderConfig(str(name), ptype, options)
    return out


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
