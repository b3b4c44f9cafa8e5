"""cozepy, unchanged, against one ASGI app in-process (unit tests; no server, no network).

cozepy takes an httpx.Client, but Starlette's TestClient is built on `httpx2`, so it cannot be
handed over: an httpx transport forwards each request cozepy built to a TestClient instead. The
principal rides on the TestClient's default headers (cozepy's `send` skips a client's own).
"""

from __future__ import annotations

import httpx
from cozepy import Coze, SyncHTTPClient, TokenAuth
from fastapi.testclient import TestClient


class AppTransport(httpx.BaseTransport):
    def __init__(self, asgi_app, headers: dict | None = None):
        self._client = TestClient(asgi_app, headers=headers or {})

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in ("host", "content-length")]
        answer = self._client.request(request.method, str(request.url), content=request.read(), headers=headers)
        return httpx.Response(answer.status_code, headers=answer.headers.multi_items(), content=answer.content,
                              request=request)


def coze_for(asgi_app, headers: dict) -> Coze:
    """A cozepy client whose requests reach `asgi_app` as the principal in `headers`."""
    return Coze(auth=TokenAuth("pat_test"), base_url="http://testserver",
                http_client=SyncHTTPClient(transport=AppTransport(asgi_app, headers)))
