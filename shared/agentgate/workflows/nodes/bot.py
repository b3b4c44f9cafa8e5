"""bot: one turn of a published bot (by id or alias) through the runner, as chat runs it (no memory).

    {"id": "ask_bot", "type": "bot", "bot_id": "main", "prompt": "{{start.question}}"}

Output: `text`.
"""

from __future__ import annotations

from agentgate.workflows import refs
from agentgate.workflows.errors import DefinitionError, NodeFailed
from agentgate.workflows.nodes._turn import run_turn
from agentgate.workflows.nodes.base import NodeKind


class Bot(NodeKind):
    kind = "bot"

    def validate(self, node, ctx):
        bot_id = node.config.get("bot_id")
        if isinstance(bot_id, int) and not isinstance(bot_id, bool):
            node.config["bot_id"] = bot_id = str(bot_id)
        if not isinstance(bot_id, str) or not bot_id.strip():
            raise DefinitionError("'bot_id' is required (a published bot's id or alias)", node.id)
        ctx.template(node, "prompt", required=True)
        if not isinstance(node.config.get("variables", {}), dict):
            raise DefinitionError("'variables' must be an object", node.id)
        ctx.value_spec(node, "variables", node.config.get("variables", {}))
        if node.config.get("stream") not in (None, True, False):
            raise DefinitionError("'stream' must be true or false", node.id)

    def outputs(self, node, definition):
        return {"text"}

    async def run(self, node, rt):
        bot = await rt.published_bot(node.config["bot_id"])
        if bot is None:
            raise NodeFailed(f"bot '{node.config['bot_id']}' not found or not published", 404)
        spec = rt.bot_spec(bot)
        spec.memory_window = 0
        prompt = refs.render(node.config["prompt"], rt.values)
        variables = {k: refs.to_text(v) for k, v in refs.value(node.config.get("variables", {}), rt.values).items()}
        async for item in run_turn(node, rt, spec, prompt, variables=variables):
            yield item

    def recorded_input(self, node, rt):
        return {"bot_id": node.config["bot_id"], "prompt": refs.render(node.config["prompt"], rt.values)}
