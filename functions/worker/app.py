"""Lambda entry point of the background worker: asynchronous workflow runs and Coze's non-stream
chat turns, handed over by agentgate.background with an asynchronous invocation."""

from agentgate import lifecycle
from agentgate.background.worker import handler as _work
from agentgate.observability import instrument


def _prime() -> None:
    """Init work (agentgate.lifecycle): what the first job would load otherwise: the stores and
    their DynamoDB client, the runner and the openai SDK (chat.service.prime)."""
    from agentgate.chat import service as chat_service
    from agentgate.store import workflows  # noqa: F401 - the runs' tables, before the client is built

    chat_service.prime()


lifecycle.at_init(_prime)


@instrument
def handler(event, context):
    return _work(event, context)
