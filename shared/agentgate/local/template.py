"""Reads template.yaml into what the local gateway needs: routes, functions, the authorizer and
the Gateway Responses. The template stays the single source of truth for both worlds."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, !GetAtt ...) kept as plain data."""


def _cfn_tag(loader, tag_suffix, node):
    name = "Fn::" + tag_suffix if tag_suffix != "Ref" else "Ref"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


@dataclass
class Function:
    logical_id: str
    code_dir: Path
    handler: str  # "app.handler" or "run.sh"
    streaming: bool = False

    @property
    def is_asgi_script(self) -> bool:
        return self.handler.endswith(".sh")

    def asgi_target(self) -> tuple[str, str]:
        """(module, attribute) that run.sh starts with uvicorn, e.g. ("app", "app")."""
        script = (self.code_dir / self.handler).read_text()
        match = re.search(r"uvicorn\b.*?\s([A-Za-z_][\w.]*):([A-Za-z_]\w*)", script)
        if not match:
            raise ValueError(f"{self.handler} of {self.logical_id} does not start uvicorn module:app")
        return match.group(1), match.group(2)


@dataclass
class Route:
    path: str  # API Gateway resource path, e.g. /v1/bots/{bot_id} or /v3/chat/{proxy+}
    method: str  # GET, POST ... or ANY
    function: Function
    authorized: bool = True
    streaming: bool = False
    pattern: re.Pattern = field(init=False)
    specificity: tuple = field(init=False)

    def __post_init__(self):
        regex = ""
        for part in self.path.strip("/").split("/") if self.path != "/" else []:
            if part.startswith("{") and part.endswith("+}"):
                regex += "/(?P<%s>.+)" % part[1:-2]
            elif part.startswith("{") and part.endswith("}"):
                regex += "/(?P<%s>[^/]+)" % part[1:-1]
            else:
                regex += "/" + re.escape(part)
        self.pattern = re.compile("^" + (regex or "/") + "$")
        # Like API Gateway: literal segments beat {param}, which beats {proxy+}; exact methods beat ANY.
        parts = self.path.strip("/").split("/")
        self.specificity = (
            sum(1 for p in parts if not p.startswith("{")),
            -sum(1 for p in parts if p.endswith("+}")),
            len(parts),
            self.method != "ANY",
        )

    def match(self, method: str, path: str) -> dict | None:
        if self.method not in ("ANY", method):
            return None
        m = self.pattern.match(path)
        return m.groupdict() if m else None


@dataclass
class Authorizer:
    function: Function
    identity_headers: list[str]
    ttl_seconds: int


@dataclass
class GatewayResponse:
    status: int
    template: str
    headers: dict[str, str]


@dataclass
class Cors:
    """The API's Cors property, as API Gateway answers a preflight (values unquoted)."""

    allow_origin: str
    allow_headers: str = ""
    allow_methods: str = ""
    max_age: str = ""

    def preflight_headers(self) -> dict[str, str]:
        headers = {"access-control-allow-origin": self.allow_origin}
        if self.allow_headers:
            headers["access-control-allow-headers"] = self.allow_headers
        if self.allow_methods:
            headers["access-control-allow-methods"] = self.allow_methods
        if self.max_age:
            headers["access-control-max-age"] = self.max_age
        return headers


@dataclass
class LocalApi:
    routes: list[Route]
    authorizer: Authorizer | None
    responses: dict[str, GatewayResponse]
    binary_media_types: list[str]
    stage: str
    functions: dict[str, Function]
    cors: Cors | None = None

    def has_path(self, path: str) -> bool:
        """Whether any route serves this path, whatever its method."""
        return any(route.pattern.match(path) for route in self.routes)

    def methods_for(self, path: str) -> list[str]:
        """The methods the routes serving this path take (ANY for a route that takes any), sorted."""
        return sorted({route.method for route in self.routes if route.pattern.match(path)})

    def find(self, method: str, path: str) -> tuple[Route, dict] | tuple[None, None]:
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None, None


def _param_default(doc: dict, value, fallback):
    """Resolve a literal or a {"Ref": Parameter} to the parameter's default."""
    if isinstance(value, dict) and "Ref" in value:
        return (doc.get("Parameters") or {}).get(value["Ref"], {}).get("Default", fallback)
    return value if value is not None else fallback


def _resolve(doc: dict, value):
    """A literal, a {"Ref": Parameter} or a {"Fn::Sub": "...${Parameter}..."} with the
    parameters' defaults (all that the API's properties use)."""
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        params = doc.get("Parameters") or {}
        return re.sub(r"\$\{([A-Za-z0-9]+)\}",
                      lambda m: str((params.get(m.group(1)) or {}).get("Default", "")), value["Fn::Sub"])
    return _param_default(doc, value, "")


def _unquote(expr: str) -> str:
    expr = expr.strip()
    return expr[1:-1] if len(expr) >= 2 and expr[0] == expr[-1] == "'" else expr


def load(template_path: str | Path) -> LocalApi:
    template_path = Path(template_path)
    root = template_path.parent
    doc = yaml.load(template_path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    resources = doc.get("Resources") or {}
    globals_fn = (doc.get("Globals") or {}).get("Function") or {}

    functions: dict[str, Function] = {}
    for logical_id, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties") or {}
        functions[logical_id] = Function(
            logical_id=logical_id,
            code_dir=(root / props.get("CodeUri", globals_fn.get("CodeUri", "."))).resolve(),
            handler=props.get("Handler", globals_fn.get("Handler", "app.handler")),
        )

    api_props: dict = {}
    for res in resources.values():
        if res.get("Type") == "AWS::Serverless::Api":
            api_props = res.get("Properties") or {}
            break

    authorizer = None
    auth = api_props.get("Auth") or {}
    default_name = auth.get("DefaultAuthorizer")
    if default_name:
        spec = (auth.get("Authorizers") or {})[default_name]
        arn = spec.get("FunctionArn") or {}
        fn_id = arn.get("Fn::GetAtt", [None])[0] if isinstance(arn, dict) else None
        identity = spec.get("Identity") or {}
        authorizer = Authorizer(
            function=functions[fn_id],
            identity_headers=list(identity.get("Headers") or []),
            ttl_seconds=int(_param_default(doc, identity.get("ReauthorizeEvery"), 300)),
        )

    routes: list[Route] = []
    for fn_id, res in resources.items():
        if fn_id not in functions:
            continue
        for event in ((res.get("Properties") or {}).get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            props = event.get("Properties") or {}
            auth_spec = props.get("Auth") or {}
            streaming = props.get("ResponseTransferMode") == "RESPONSE_STREAM"
            functions[fn_id].streaming = functions[fn_id].streaming or streaming
            routes.append(Route(
                path=props["Path"],
                method=str(props.get("Method", "ANY")).upper(),
                function=functions[fn_id],
                authorized=bool(default_name) and auth_spec.get("Authorizer") != "NONE",
                streaming=streaming,
            ))
    routes.sort(key=lambda r: r.specificity, reverse=True)

    # The API's own GatewayResponses property (SAM writes it into the API definition).
    responses: dict[str, GatewayResponse] = {}
    for response_type, spec in (api_props.get("GatewayResponses") or {}).items():
        spec = spec or {}
        params = spec.get("ResponseParameters") or {}
        responses[response_type] = GatewayResponse(
            status=int(_resolve(doc, spec.get("StatusCode")) or 0),
            template=(spec.get("ResponseTemplates") or {}).get("application/json", ""),
            headers={name: str(_resolve(doc, expr)) for name, expr in (params.get("Headers") or {}).items()},
        )

    cors = None
    cors_spec = api_props.get("Cors")
    if isinstance(cors_spec, (str, dict)):
        cors_spec = {"AllowOrigin": cors_spec} if isinstance(cors_spec, str) or "Fn::Sub" in cors_spec else cors_spec
        cors = Cors(
            allow_origin=_unquote(str(_resolve(doc, cors_spec.get("AllowOrigin")))),
            allow_headers=_unquote(str(_resolve(doc, cors_spec.get("AllowHeaders")) or "")),
            allow_methods=_unquote(str(_resolve(doc, cors_spec.get("AllowMethods")) or "")),
            max_age=_unquote(str(_resolve(doc, cors_spec.get("MaxAge")) or "")),
        )

    return LocalApi(
        routes=routes,
        authorizer=authorizer,
        responses=responses,
        binary_media_types=[t.replace("~1", "/") for t in api_props.get("BinaryMediaTypes") or []],
        stage=str(_param_default(doc, api_props.get("StageName"), "prod")),
        functions=functions,
        cors=cors,
    )
