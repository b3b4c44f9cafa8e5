"""Lambda entry point of the background worker: asynchronous workflow runs and Coze's non-stream
chat turns, handed over by agentgate.background with an asynchronous invocation."""

from agentgate.background.worker import handler  # noqa: F401
