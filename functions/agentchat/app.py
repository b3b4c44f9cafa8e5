"""Lambda entry point of the AgentChat endpoint group (seed 001: users, agents, tools, dialogs)."""

from mangum import Mangum

from agentgate.api.agentchat import app

handler = Mangum(app, lifespan="off", api_gateway_base_path="/")
