"""Entry point of the chat endpoint group: the ASGI app that run.sh serves under the Lambda Web
Adapter (response streaming). `handler` serves the same app buffered, for `sam local` and tests.

Init work (agentgate.lifecycle; in Lambda it runs here, in the init phase, which the adapter's
readiness check waits for): chat.service.prime loads what the first turn would otherwise load on
the request path (the runner, the providers, the stores and their DynamoDB client, the openai SDK).
"""

from mangum import Mangum

from agentgate import lifecycle
from agentgate.api.chat import app
from agentgate.chat import service as chat_service
from agentgate.observability import instrument

lifecycle.at_init(chat_service.prime)

_asgi = Mangum(app, lifespan="off", api_gateway_base_path="/")


@instrument
def handler(event, context):
    return _asgi(event, context)
