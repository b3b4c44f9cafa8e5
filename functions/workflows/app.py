"""Entry point of the workflows endpoint group: the ASGI app that run.sh serves under the Lambda
Web Adapter (response streaming). `handler` serves the same app buffered, for `sam local` and tests."""

from mangum import Mangum

from agentgate.api.workflows import app

handler = Mangum(app, lifespan="off", api_gateway_base_path="/")
