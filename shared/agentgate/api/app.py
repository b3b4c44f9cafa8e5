"""The app factory every endpoint group uses: error shapes, request IDs, access lines and
metrics, no docs in Lambda, and the group's init work (agentgate.lifecycle)."""

from __future__ import annotations

from typing import Callable

from fastapi import FastAPI

from agentgate import __version__, lifecycle
from agentgate.api.errors import install_error_handlers
from agentgate.api.middleware import RequestContextMiddleware


def prime_store() -> None:
    """The default init work: the DynamoDB client every model shares, built before a request."""
    from agentgate.store import base

    base.prime()


def create_app(title: str, prime: Callable[[], None] = prime_store) -> FastAPI:
    """`prime` runs once before the first request (before the SnapStart snapshot, in Lambda's init
    phase otherwise; see agentgate.lifecycle): imports and clients the group's requests need."""
    app = FastAPI(title=f"agentgate {title}", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    lifecycle.at_init(prime)
    return app
