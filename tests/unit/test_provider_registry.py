"""Model names -> providers, named upstreams from AGENTGATE_PROVIDERS, and a lean import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agentgate.runner.providers import UnknownModel, get_provider, known_providers
from agentgate.runner.providers.bedrock import BedrockProvider
from agentgate.runner.providers.echo import EchoProvider
from agentgate.runner.providers.openai_compat import OpenAIProvider


def test_provider_prefix_selects_the_provider_and_the_rest_is_the_model():
    provider, model = get_provider("openai/gpt-4o-mini")
    assert isinstance(provider, OpenAIProvider) and model == "gpt-4o-mini"
    provider, model = get_provider("bedrock/arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude")
    assert isinstance(provider, BedrockProvider) and model == "arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude"


@pytest.mark.parametrize("name, model", [("echo", ""), ("echo/slow", "slow"), ("echo/anything", "anything")])
def test_echo_names(name, model):
    provider, got = get_provider(name)
    assert isinstance(provider, EchoProvider) and got == model


def test_unknown_provider_is_a_clear_value_error():
    with pytest.raises(UnknownModel) as info:
        get_provider("mystery/model-1")
    assert isinstance(info.value, ValueError)
    assert "mystery/model-1" in str(info.value)
    assert "echo" in str(info.value) and "openai" in str(info.value) and "bedrock" in str(info.value)


def test_a_bare_model_name_asks_for_a_prefix():
    with pytest.raises(UnknownModel, match="provider/model"):
        get_provider("gpt-4o-mini")
    with pytest.raises(UnknownModel, match="no model"):
        get_provider("openai")


def test_named_providers_come_from_configuration(monkeypatch):
    monkeypatch.setenv("AGENTGATE_PROVIDERS", json.dumps({
        "qwen": {"type": "openai", "base_url": "https://dashscope.example/v1", "api_key_env": "DASHSCOPE_API_KEY"},
        "ollama": {"type": "openai", "base_url": "http://localhost:11434/v1", "api_key": "none"},
        "broken": {"type": "nope"},
    }))
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash")
    provider, model = get_provider("qwen/qwen-plus")
    assert isinstance(provider, OpenAIProvider) and model == "qwen-plus"
    assert provider.endpoint() == ("https://dashscope.example/v1", "sk-dash")
    assert get_provider("ollama/llama3")[0].endpoint() == ("http://localhost:11434/v1", "none")
    assert "qwen" in known_providers() and "broken" not in known_providers()


def test_builtin_openai_reads_the_standard_variables(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://upstream.example/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert get_provider("openai/gpt-4o")[0].endpoint() == ("http://upstream.example/v1", "sk-test")


def test_bad_configuration_json_keeps_the_builtins(monkeypatch):
    monkeypatch.setenv("AGENTGATE_PROVIDERS", "{not json")
    assert isinstance(get_provider("echo")[0], EchoProvider)


def test_importing_the_runner_loads_no_heavy_sdk():
    code = ("import sys, agentgate.runner, agentgate.runner.providers.openai_compat, "
            "agentgate.runner.providers.bedrock; "
            "print(sorted(m for m in ('openai', 'boto3', 'botocore') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
