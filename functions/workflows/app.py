"""Entry point of the workflows endpoint group: the ASGI app that run.sh serves under the Lambda
Web Adapter (response streaming). `handler` serves the same app buffered, for `sam local` and tests.

Init work (agentgate.lifecycle): besides the stores' client (the app's own hook), what a model
node's first turn would load on the request path: chat.service.prime (the runner, the openai SDK).
"""

from mangum import Mangum

from agentgate import lifecycle
from agentgate.api.workflows import app
from agentgate.observability import instrument


def _prime() -> None:
    from agentgate.chat import service as chat_service

    chat_service.prime()


lifecycle.at_init(_prime)

_asgi = Mangum(app, lifespan="off", api_gateway_base_path="/")


@instrument
def handler(event, context):
    return _asgi(event, context)
