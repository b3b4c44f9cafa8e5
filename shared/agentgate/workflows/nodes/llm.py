"""llm: a prompt template over earlier outputs, answered by a model (or with a published bot's
settings), streaming its text.

    {"id": "greet", "type": "llm", "model": "echo", "system": "You are brief.",
     "prompt": "Say hello to {{start.name}}", "temperature": 0.2, "max_tokens": 200}

`model` is "provider/model" as for bots (default: AGENTGATE_DEFAULT_MODEL); `bot_id` instead takes
a published bot's model, system prompt and settings. Output: `text`.
"""

from __future__ import annotations

from agentgate.runner.types import BotSpec
from agentgate.workflows import refs
from agentgate.workflows.errors import DefinitionError, NodeFailed
from agentgate.workflows.nodes._turn import run_turn
from agentgate.workflows.nodes.base import NodeKind


def check_number(node, key, low, high, integer=False):
    value = node.config.get(key)
    if value is None:
        return
    ok = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool)
    if not ok or not (low <= value <= high):
        raise DefinitionError(f"'{key}' must be a number from {low} to {high}", node.id)


class Llm(NodeKind):
    kind = "llm"

    def validate(self, node, ctx):
        ctx.template(node, "prompt", required=True)
        ctx.template(node, "system")
        for key in ("model", "bot_id"):
            value = node.config.get(key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise DefinitionError(f"'{key}' must be a non-empty string", node.id)
        check_number(node, "temperature", 0, 2)
        check_number(node, "max_tokens", 1, 100_000, integer=True)
        if node.config.get("stream") not in (None, True, False):
            raise DefinitionError("'stream' must be true or false", node.id)

    def outputs(self, node, definition):
        return {"text"}

    async def run(self, node, rt):
        cfg = node.config
        prompt = refs.render(cfg["prompt"], rt.values)
        system = refs.render(cfg["system"], rt.values) if cfg.get("system") else None
        if cfg.get("bot_id"):
            bot = await rt.published_bot(cfg["bot_id"])
            if bot is None:
                raise NodeFailed(f"bot '{cfg['bot_id']}' not found or not published", 404)
            spec = rt.bot_spec(bot)
            spec.memory_window = 0
            if system is not None:
                spec.system_prompt = system
            if cfg.get("model"):
                spec.model = cfg["model"]
        else:
            spec = BotSpec(bot_id=f"workflow-{node.id}", name=node.title, model=cfg.get("model") or "",
                           system_prompt=system or "")
        if cfg.get("temperature") is not None:
            spec.temperature = float(cfg["temperature"])
        if cfg.get("max_tokens") is not None:
            spec.max_tokens = int(cfg["max_tokens"])
        async for item in run_turn(node, rt, spec, prompt):
            yield item

    def recorded_input(self, node, rt):
        return {"prompt": refs.render(node.config["prompt"], rt.values)}
