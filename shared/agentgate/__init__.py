"""agentgate: publish AI agents and workflows as a secure, streaming HTTP API."""

__version__ = "0.1.0"
SERVICE_NAME = "agentgate"
