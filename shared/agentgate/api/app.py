"""The app factory every endpoint group uses: error shapes, request IDs, no docs in Lambda."""

from __future__ import annotations

from fastapi import FastAPI

from agentgate import __version__
from agentgate.api.errors import install_error_handlers
from agentgate.api.middleware import RequestContextMiddleware


def create_app(title: str) -> FastAPI:
    app = FastAPI(title=f"agentgate {title}", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    return app
