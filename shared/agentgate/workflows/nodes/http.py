"""http: one request to a URL the definition names, with the owner's secrets by reference.

    {"id": "lookup", "type": "http", "method": "GET",
     "url": "https://ipinfo.io/{{start.ipAddress}}/json",
     "headers": {"Authorization": "Bearer {{secrets.IPINFO_TOKEN}}"}, "query": {"lang": "en"},
     "timeout_s": 5}

Safety (no SSRF): the host is literal in the definition (placeholders only after it, and their
values are URL-encoded); https only; a host that is, or resolves to, a private, loopback or
link-local address, in any spelling, is refused (agentgate.net.outbound, shared with HTTP tools and MCP);
redirects are not followed; the response stops at AGENTGATE_HTTP_MAX_RESPONSE_BYTES; the
timeout is at most AGENTGATE_HTTP_TIMEOUT_S. The operator's AGENTGATE_HTTP_ALLOW_HOSTS (empty by
default) names hosts exempt from the address check and allowed over plain http (a local service).
`{{secrets.NAME}}` (url, headers, query only) reads the owner's secret NAME; secrets never
appear in the run history. Output: `status_code`, `headers`, `body` (parsed JSON, or text).
"""

from __future__ import annotations

import json
from urllib.parse import quote

from agentgate.net import outbound
from agentgate.workflows import refs
from agentgate.workflows.errors import DefinitionError, NodeFailed
from agentgate.workflows.nodes.base import NodeKind, Output

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


def _host_part(url: str) -> str:
    rest = url.split("://", 1)[1] if "://" in url else url
    for stop in "/?#":
        rest = rest.split(stop, 1)[0]
    return rest


def _secret_names(*specs) -> set[str]:
    names = set()
    for spec in specs:
        for text in refs.iter_strings(spec):
            for node, path in refs.template_refs(text):
                if node == "secrets" and path:
                    names.add(path[0])
    return names


class Http(NodeKind):
    kind = "http"

    def validate(self, node, ctx):
        cfg = node.config
        method = str(cfg.get("method", "GET")).upper()
        if method not in METHODS:
            raise DefinitionError(f"'method' must be one of {', '.join(METHODS)}", node.id)
        url = ctx.template(node, "url", required=True, secrets=True)
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in ("https", "http"):
            raise DefinitionError("'url' must be an https:// URL", node.id)
        host = _host_part(url)
        if not host or "{{" in host or "@" in host:
            raise DefinitionError("the URL's host must be written out (no placeholders or user info in it)",
                                  node.id)
        for key in ("headers", "query"):
            value = cfg.get(key, {})
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise DefinitionError(f"'{key}' must be an object of name -> string", node.id)
            for name, text in value.items():
                try:
                    ctx.check_refs(node, refs.template_refs(text), secrets=True)
                except refs.BadReference as exc:
                    raise DefinitionError(f"'{key}.{name}': {exc}", node.id) from None
        if "body" in cfg:
            ctx.value_spec(node, "body", cfg["body"])
        timeout = cfg.get("timeout_s")
        if timeout is not None and (not isinstance(timeout, (int, float)) or isinstance(timeout, bool)
                                    or not 0 < timeout <= 60):
            raise DefinitionError("'timeout_s' must be a number of seconds, at most 60", node.id)
        if cfg.get("fail_on_status", True) not in (True, False):
            raise DefinitionError("'fail_on_status' must be true or false", node.id)

    def outputs(self, node, definition):
        return {"status_code", "headers", "body"}

    def recorded_input(self, node, rt):
        cfg = node.config
        masked = {**rt.values, "secrets": _Masked()}
        return {"method": str(cfg.get("method", "GET")).upper(),
                "url": refs.render(cfg["url"], masked),
                "headers": {k: refs.render(v, masked) for k, v in (cfg.get("headers") or {}).items()},
                "query": {k: refs.render(v, masked) for k, v in (cfg.get("query") or {}).items()}}

    async def run(self, node, rt):
        cfg = node.config
        s = rt.settings
        secrets = {}
        for name in _secret_names(cfg["url"], cfg.get("headers") or {}, cfg.get("query") or {}):
            value = await rt.secret(name)
            if value is None:
                raise NodeFailed(f"the secret '{name}' is not set for this owner", 400)
            secrets[name] = value
        values = {**rt.values, "secrets": secrets}
        url = refs.render(cfg["url"], values, escape=lambda t: quote(t, safe=""))
        headers = {k: refs.render(v, values) for k, v in (cfg.get("headers") or {}).items()}
        query = {k: refs.render(v, values) for k, v in (cfg.get("query") or {}).items()}
        body = refs.value(cfg["body"], rt.values) if "body" in cfg else None
        timeout = min(float(cfg.get("timeout_s") or s.http_timeout_s), s.http_timeout_s)
        try:
            response = await outbound.fetch(
                str(cfg.get("method", "GET")), url, headers=headers, params=query,
                json_body=body if body is not None and not isinstance(body, str) else None,
                body=body if isinstance(body, str) else None, timeout_s=timeout,
                max_bytes=s.http_max_response_bytes, size_hint=" (AGENTGATE_HTTP_MAX_RESPONSE_BYTES)")
        except outbound.OutboundRefused as exc:
            raise NodeFailed(str(exc), exc.status) from None
        text = response.text()
        parsed = text
        if "json" in response.headers.get("content-type", "") or text[:1] in ("{", "["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
        if response.status >= 400 and cfg.get("fail_on_status", True):
            raise NodeFailed(f"{_host_part(url)} answered HTTP {response.status}", 502)
        yield Output({"status_code": response.status, "body": parsed, "headers": dict(response.headers)})


class _Masked(dict):
    def get(self, key, default=None):
        return "***"

    def __contains__(self, key):
        return True
