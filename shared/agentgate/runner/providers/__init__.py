"""Model providers behind one interface, and the registry that maps "provider/model" to one.

Provider modules are imported on first use: the openai SDK and boto3 stay out of a cold start
that never calls them.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from agentgate.runner.providers.base import Provider, UnknownModel
from agentgate.runner.providers.config import ProviderConfig, load_providers

__all__ = ["Provider", "UnknownModel", "get_provider", "known_providers", "tools_supported"]

# type -> (module, class); each class is built as cls(config).
_IMPLEMENTATIONS = {
    "echo": ("agentgate.runner.providers.echo", "EchoProvider"),
    "openai": ("agentgate.runner.providers.openai_compat", "OpenAIProvider"),
    "bedrock": ("agentgate.runner.providers.bedrock", "BedrockProvider"),
}

_instances: dict[ProviderConfig, Any] = {}
_configs: tuple[str, dict[str, ProviderConfig]] | None = None


def _current_configs() -> dict[str, ProviderConfig]:
    # Re-parse only when the variable changes (tests and the local gateway change it).
    global _configs
    raw = os.environ.get("AGENTGATE_PROVIDERS", "")
    if _configs is None or _configs[0] != raw:
        _configs = (raw, load_providers(raw))
    return _configs[1]


def known_providers() -> list[str]:
    return sorted(_current_configs())


def get_provider(model_name: str) -> tuple[Provider, str]:
    """Split "provider/model" and return (provider, model).

    "openai/gpt-4o-mini" -> (openai provider, "gpt-4o-mini"); "echo" and "echo/anything" -> echo.
    Only the first "/" splits, so Bedrock ARNs and "org/model" names pass through whole.
    Raises UnknownModel (a ValueError) naming the known providers.
    """
    configs = _current_configs()
    name = (model_name or "").strip()
    prefix, _, model = name.partition("/")
    config = configs.get(prefix)
    if config is None:
        hint = "" if "/" in name else " (write it as 'provider/model', e.g. 'openai/gpt-4o-mini')"
        raise UnknownModel(
            f"unknown model {name!r}{hint}; known providers: {', '.join(sorted(configs))}"
        )
    if not model and config.type != "echo":
        raise UnknownModel(f"model {name!r} names provider {prefix!r} but no model: use '{prefix}/<model>'")
    provider = _instances.get(config)
    if provider is None:
        module, cls = _IMPLEMENTATIONS[config.type]
        provider = getattr(importlib.import_module(module), cls)(config)
        _instances[config] = provider
    return provider, model


def tools_supported(model_name: str) -> bool:
    """Whether the model's provider can call tools: every provider type can, unless the operator's
    AGENTGATE_PROVIDERS entry says `"tools": false` (an upstream model without function calling)."""
    prefix = (model_name or "").strip().partition("/")[0]
    config = _current_configs().get(prefix)
    return config is not None and config.get("tools", True) is not False
