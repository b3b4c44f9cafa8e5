"""Lambda entry point of the conversations endpoint group (buffered, behind Mangum)."""

from mangum import Mangum

from agentgate.api.conversations import app

handler = Mangum(app, lifespan="off", api_gateway_base_path="/")
