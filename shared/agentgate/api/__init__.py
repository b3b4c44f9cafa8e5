"""One FastAPI app per endpoint group; thin routes joining auth, store, runner and protocols."""

from agentgate.api import lean_fastapi  # noqa: F401  (before any route module imports fastapi)
