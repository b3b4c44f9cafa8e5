"""The app factory every endpoint group uses: error shapes, request IDs, access lines and
metrics, no docs in Lambda (app.openapi() still builds the document: agentgate.api.openapi), and
the group's init work (agentgate.lifecycle)."""

from __future__ import annotations

from typing import Callable

from fastapi import FastAPI, HTTPException, Request
from fastapi.routing import APIRoute

from agentgate import __version__, jsonlimits, lifecycle
from agentgate.api import openapi
from agentgate.api.errors import install_error_handlers
from agentgate.api.middleware import RequestContextMiddleware


def prime_store() -> None:
    """The default init work: the DynamoDB client every model shares, built before a request."""
    from agentgate.store import base

    base.prime()


class _LimitedRequest(Request):
    """FastAPI parses declared bodies with `request.json()`: here with the JSON depth limit."""

    async def json(self):
        if not hasattr(self, "_json"):
            try:
                self._json = jsonlimits.loads(await self.body(), integral_floats=True)
            except jsonlimits.JsonTooDeep as exc:
                raise HTTPException(400, f"the request body is {exc}") from None
        return self._json


class LimitedRoute(APIRoute):
    def get_route_handler(self):
        handler = super().get_route_handler()

        async def limited(request: Request):
            return await handler(_LimitedRequest(request.scope, request.receive, request._send))

        return limited


def create_app(title: str, prime: Callable[[], None] = prime_store) -> FastAPI:
    """`prime` runs once before the first request (before the SnapStart snapshot, in Lambda's init
    phase otherwise; see agentgate.lifecycle): imports and clients the group's requests need."""
    app = FastAPI(title=f"agentgate {title}", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.router.route_class = LimitedRoute
    install_error_handlers(app)
    openapi.install(app)  # app.openapi(): a document true to what the routes answer
    app.add_middleware(RequestContextMiddleware)
    lifecycle.at_init(prime)
    return app
