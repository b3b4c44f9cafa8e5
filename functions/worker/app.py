"""Lambda entry point of the background worker: asynchronous workflow runs and Coze's non-stream
chat turns, handed over by agentgate.background with an asynchronous invocation."""

from agentgate import lifecycle
from agentgate.background.worker import handler as _work
from agentgate.observability import instrument
from agentgate.store import base

lifecycle.at_init(base.prime)  # the DynamoDB client, built in init rather than by the first job


@instrument
def handler(event, context):
    return _work(event, context)
