"""Lambda REQUEST authorizer: Authorization header -> MD5 -> one GetItem -> allow */* or deny."""

from agentgate import lifecycle
from agentgate.auth.authorizer import handle
from agentgate.observability import instrument
from agentgate.store import base

lifecycle.at_init(base.prime)  # the DynamoDB client, built in init rather than by the first request


@instrument  # never logs the event: it holds the key
def handler(event, context):
    return handle(event, context)
