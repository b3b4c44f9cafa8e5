"""Model providers behind one interface, and the registry that maps "provider/model" to one.

Provider modules are imported on first use: the openai SDK and boto3 stay out of a cold start
that never calls them.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from typing import Any

from agentgate.config import settings

from agentgate.runner.providers.base import Provider, UnknownModel
from agentgate.runner.providers.config import ProviderConfig, load_providers

__all__ = ["Provider", "UnknownModel", "check_model", "get_provider", "known_providers", "model_aliases",
           "model_pattern", "tools_supported"]

# type -> (module, class); each class is built as cls(config).
_IMPLEMENTATIONS = {
    "echo": ("agentgate.runner.providers.echo", "EchoProvider"),
    "openai": ("agentgate.runner.providers.openai_compat", "OpenAIProvider"),
    "bedrock": ("agentgate.runner.providers.bedrock", "BedrockProvider"),
}

log = logging.getLogger(__name__)

_instances: dict[ProviderConfig, Any] = {}
_configs: tuple[str, dict[str, ProviderConfig]] | None = None
_aliases: tuple[str, dict[str, str]] | None = None


def _current_configs() -> dict[str, ProviderConfig]:
    # Re-parse only when the variable changes (tests and the local gateway change it).
    global _configs
    raw = os.environ.get("AGENTGATE_PROVIDERS", "")
    if _configs is None or _configs[0] != raw:
        _configs = (raw, load_providers(raw))
    return _configs[1]


def model_pattern() -> str:
    """A regular expression of the model names check_model accepts now (the OpenAPI documents state
    it): a configured provider's "provider/model" (an echo provider also bare), or a model alias."""
    import re

    parts = [re.escape(name) + (r"(?:/.*)?" if config.type == "echo" else r"/.*\S")
             for name, config in sorted(_current_configs().items())]
    for alias in sorted(model_aliases()):
        try:
            _resolve(alias)
        except UnknownModel:
            continue
        parts.append(re.escape(alias))
    return r"^\s*(?:" + "|".join(parts) + r")\s*$"


def known_providers() -> list[str]:
    return sorted(_current_configs())


def model_aliases() -> dict[str, str]:
    """AGENTGATE_MODEL_ALIASES: {"qwen-plus": "qwen/qwen-plus", "gpt-4": "openai/gpt-4", ...}.
    Entries that are not name -> string are skipped with a warning."""
    global _aliases
    raw = settings().model_aliases
    if _aliases is None or _aliases[0] != raw:
        parsed: dict[str, str] = {}
        if raw.strip():
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                log.warning("AGENTGATE_MODEL_ALIASES must be a JSON object of name -> provider/model; ignored")
                data = {}
            for name, target in data.items():
                if isinstance(target, str) and target.strip() and str(name).strip():
                    parsed[str(name).strip()] = target.strip()
                else:
                    log.warning("AGENTGATE_MODEL_ALIASES[%r] is not a provider/model string; skipped", name)
        _aliases = (raw, parsed)
    return _aliases[1]


def _resolve(model_name: str) -> tuple[ProviderConfig, str]:
    configs = _current_configs()
    given = (model_name or "").strip()
    name = model_aliases().get(given, given)
    prefix, _, model = name.partition("/")
    config = configs.get(prefix)
    if config is None:
        hint = "" if "/" in name else " (write it as 'provider/model', e.g. 'openai/gpt-4o-mini')"
        via = f" (alias of {given!r})" if name != given else ""
        aliases = sorted(model_aliases())
        alias_note = f"; model aliases: {', '.join(aliases)}" if aliases else ""
        raise UnknownModel(
            f"unknown model {name!r}{via}{hint}; known providers: {', '.join(sorted(configs))}{alias_note}"
        )
    if not model and config.type != "echo":
        raise UnknownModel(f"model {name!r} names provider {prefix!r} but no model: use '{prefix}/<model>'")
    return config, model


def check_model(model_name: str) -> str:
    """The provider/model `model_name` resolves to (through the aliases), or UnknownModel.
    Cheap: no provider SDK is imported."""
    config, model = _resolve(model_name)
    return f"{config.name}/{model}" if model else config.name


def get_provider(model_name: str) -> tuple[Provider, str]:
    """Resolve a model alias, split "provider/model" and return (provider, model).

    "openai/gpt-4o-mini" -> (openai provider, "gpt-4o-mini"); "echo" and "echo/anything" -> echo.
    Only the first "/" splits, so Bedrock ARNs and "org/model" names pass through whole.
    Raises UnknownModel (a ValueError) naming the known providers.
    """
    config, model = _resolve(model_name)
    provider = _instances.get(config)
    if provider is None:
        module, cls = _IMPLEMENTATIONS[config.type]
        provider = getattr(importlib.import_module(module), cls)(config)
        _instances[config] = provider
    return provider, model


def tools_supported(model_name: str) -> bool:
    """Whether the model's provider can call tools: every provider type can, unless the operator's
    AGENTGATE_PROVIDERS entry says `"tools": false` (an upstream model without function calling)."""
    try:
        config, _ = _resolve(model_name)
    except UnknownModel:
        return False
    return config.get("tools", True) is not False
