"""Lambda entry point of the bots endpoint group (buffered, behind Mangum)."""

from mangum import Mangum

from agentgate.api.bots import app

handler = Mangum(app, lifespan="off", api_gateway_base_path="/")
