"""Entry point of the chat endpoint group: the ASGI app that run.sh serves under the Lambda Web
Adapter (response streaming). `handler` serves the same app buffered, for `sam local` and tests."""

from mangum import Mangum

from agentgate.api.chat import app
from agentgate.observability import instrument

_asgi = Mangum(app, lifespan="off", api_gateway_base_path="/")


@instrument
def handler(event, context):
    return _asgi(event, context)
