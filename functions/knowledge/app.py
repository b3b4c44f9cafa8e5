"""Lambda entry point of the knowledge endpoint group (buffered, behind Mangum).

The same function also runs its own background work: an asynchronous invocation whose event is a
knowledge task (agentgate.knowledge.background) indexes a large document.
"""

from mangum import Mangum

from agentgate.api.knowledge import app
from agentgate.knowledge import background
from agentgate.observability import instrument

_http = Mangum(app, lifespan="off", api_gateway_base_path="/")


@instrument
def handler(event, context):
    if background.is_task(event):
        background.run(event[background.TASK_KEY])
        return {"ok": True}
    return _http(event, context)
