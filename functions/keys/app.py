"""Lambda entry point of the keys endpoint group (buffered, behind Mangum; SnapStart)."""

from mangum import Mangum

from agentgate.api.keys import app
from agentgate.observability import instrument

_asgi = Mangum(app, lifespan="off", api_gateway_base_path="/")


@instrument
def handler(event, context):
    return _asgi(event, context)
