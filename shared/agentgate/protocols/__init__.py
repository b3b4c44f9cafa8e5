"""Wire protocols: request parsing and rendering of neutral events (agentgate.runner.events) into
OpenAI chunks, Coze SSE events and AIFlowy frames. Nothing here calls a model or a table."""
