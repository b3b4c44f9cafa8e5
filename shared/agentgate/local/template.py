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
class LocalApi:
    routes: list[Route]
    authorizer: Authorizer | None
    responses: dict[str, GatewayResponse]
    binary_media_types: list[str]
    stage: str
    functions: dict[str, Function]

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

    responses: dict[str, GatewayResponse] = {}
    for res in resources.values():
        if res.get("Type") != "AWS::ApiGateway::GatewayResponse":
            continue
        props = res.get("Properties") or {}
        headers = {}
        for key, value in (props.get("ResponseParameters") or {}).items():
            if key.startswith("gatewayresponse.header."):
                headers[key[len("gatewayresponse.header."):]] = str(value)
        responses[props["ResponseType"]] = GatewayResponse(
            status=int(props.get("StatusCode") or 0),
            template=(props.get("ResponseTemplates") or {}).get("application/json", ""),
            headers=headers,
        )

    return LocalApi(
        routes=routes,
        authorizer=authorizer,
        responses=responses,
        binary_media_types=[t.replace("~1", "/") for t in api_props.get("BinaryMediaTypes") or []],
        stage=str(_param_default(doc, api_props.get("StageName"), "prod")),
        functions=functions,
    )
