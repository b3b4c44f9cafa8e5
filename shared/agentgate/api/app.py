"""The app factory every endpoint group uses: error shapes, request IDs, no docs in Lambda."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.routing import APIRoute

from agentgate import __version__, jsonlimits
from agentgate.api.errors import install_error_handlers
from agentgate.api.middleware import RequestContextMiddleware


class _LimitedRequest(Request):
    """FastAPI parses declared bodies with `request.json()`: here with the JSON depth limit."""

    async def json(self):
        if not hasattr(self, "_json"):
            try:
                self._json = jsonlimits.loads(await self.body())
            except jsonlimits.JsonTooDeep as exc:
                raise HTTPException(400, f"the request body is {exc}") from None
        return self._json


class LimitedRoute(APIRoute):
    def get_route_handler(self):
        handler = super().get_route_handler()

        async def limited(request: Request):
            return await handler(_LimitedRequest(request.scope, request.receive, request._send))

        return limited


def create_app(title: str) -> FastAPI:
    app = FastAPI(title=f"agentgate {title}", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.router.route_class = LimitedRoute
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    return app
