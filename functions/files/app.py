"""Lambda entry point of the files endpoint group (buffered, behind Mangum)."""

from mangum import Mangum

from agentgate.api.files import app

handler = Mangum(app, lifespan="off", api_gateway_base_path="/")
