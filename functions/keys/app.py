"""Lambda entry point of the keys endpoint group (buffered, behind Mangum)."""

from mangum import Mangum

from agentgate.api.keys import app

handler = Mangum(app, lifespan="off", api_gateway_base_path="/")
