"""template.yaml as CloudFormation receives it: translated by samtranslator, as `sam build`,
`sam deploy` and CloudFormation's own transform do. Each test names the defect it keeps out;
lint passes on all of them, so only the translated template can show them."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
INTEGRATION_LIMIT_S = 29  # API Gateway's default (and buffered maximum) integration timeout
STREAM_LIMIT_MS = 15 * 60 * 1000  # API Gateway's ceiling for response-streaming integrations


def _sam_template() -> dict:
    from samcli.yamlhelper import yaml_parse  # the parser sam itself uses (short tags -> Fn::)

    doc = yaml_parse(TEMPLATE.read_text())
    for res in doc["Resources"].values():  # what `sam validate` does: local paths -> S3 URIs
        props = res.get("Properties") or {}
        if res["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://bucket/function.zip"
        elif res["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://bucket/layer.zip"
    return doc


def _translate(doc: dict) -> dict:
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    return Translator(managed_policy_map=None, sam_parser=Parser(), plugins=[]).translate(
        copy.deepcopy(doc), parameter_values={}, get_managed_policy_map=lambda: {})


@pytest.fixture(scope="module")
def sam() -> dict:
    return _sam_template()


@pytest.fixture(scope="module")
def cfn(sam) -> dict:
    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
    try:
        return _translate(sam)
    finally:
        mp.undo()


def _of_type(cfn: dict, kind: str) -> dict:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == kind}


def _functions(cfn: dict) -> dict:
    return _of_type(cfn, "AWS::Lambda::Function")


def _api_body(cfn: dict) -> dict:
    (api,) = _of_type(cfn, "AWS::ApiGateway::RestApi").values()
    return api["Properties"]["Body"]


def _methods(cfn: dict):
    for path, item in _api_body(cfn)["paths"].items():
        for verb, method in item.items():
            integration = method.get("x-amazon-apigateway-integration") if isinstance(method, dict) else None
            if integration and integration.get("type") == "aws_proxy":  # not the CORS preflight mocks
                yield path, verb, method


def _function_of(integration: dict) -> str:
    """The logical id of the function an aws_proxy integration invokes (alias or function)."""
    uri = integration["uri"]["Fn::Sub"]
    return re.search(r"\$\{(\w+?)(?:Alias\w+)?(?:\.Arn)?\}", uri).group(1)


# ---- a small evaluator for the intrinsics the template uses, per region -----------------------
def _evaluate(node, cfn: dict, region: str, partition: str):
    params = {"AWS::Region": region, "AWS::Partition": partition, "AWS::AccountId": "111122223333"}
    params |= {k: str(v.get("Default")) for k, v in (cfn.get("Parameters") or {}).items()}

    def cond(name):
        return ev(cfn["Conditions"][name])

    def ev(n):
        if isinstance(n, list):
            return [ev(x) for x in n]
        if not isinstance(n, dict):
            return n
        (fn, arg), = n.items()
        if fn == "Ref":
            return params.get(arg, f"<{arg}>")  # a resource stays a placeholder
        if fn == "Fn::Equals":
            return ev(arg[0]) == ev(arg[1])
        if fn == "Fn::Not":
            return not ev(arg[0])
        if fn == "Fn::If":
            return ev(arg[1]) if cond(arg[0]) else ev(arg[2])
        if fn == "Fn::FindInMap":
            return cfn["Mappings"][ev(arg[0])][ev(arg[1])][ev(arg[2])]
        if fn == "Fn::Join":
            values = ev(arg[1])
            return arg[0].join(values if isinstance(values, list) else str(values).split(","))
        if fn == "Fn::Split":
            return ev(arg[1]).split(arg[0])
        if fn == "Fn::Sub":
            text, local = (arg, {}) if isinstance(arg, str) else (arg[0], {k: ev(v) for k, v in arg[1].items()})
            return re.sub(r"\$\{([\w:]+)\}", lambda m: str(local.get(m.group(1), params.get(m.group(1)))), text)
        raise AssertionError(f"unexpected intrinsic {fn}")

    return ev(node)


# ---- 1. the Lambda Web Adapter layer is in the function's own region --------------------------
def test_no_region_is_written_into_the_template(cfn):
    # (Conditions name the China regions, whose adapter layer has accounts of its own.)
    text = json.dumps([cfn["Resources"], cfn["Outputs"]])
    assert not re.search(r"\b(us|eu|ap|sa|ca|me|af|il|cn)-[a-z]+-\d\b", text), "a region name is hard-coded"


@pytest.mark.parametrize("region, partition, expected", [
    ("eu-west-1", "aws", "arn:aws:lambda:eu-west-1:753240598075:layer:LambdaAdapterLayerX86:"),
    ("ap-southeast-2", "aws", "arn:aws:lambda:ap-southeast-2:753240598075:layer:LambdaAdapterLayerX86:"),
    ("cn-north-1", "aws-cn", "arn:aws-cn:lambda:cn-north-1:041581134020:layer:LambdaAdapterLayerX86:"),
    ("cn-northwest-1", "aws-cn", "arn:aws-cn:lambda:cn-northwest-1:069767869989:layer:LambdaAdapterLayerX86:"),
])
def test_streaming_functions_get_the_adapter_layer_of_their_region(cfn, region, partition, expected):
    streaming = {k: f for k, f in _functions(cfn).items() if f["Properties"]["Handler"].endswith(".sh")}
    assert streaming, "no streaming (Web Adapter) function found"
    for name, fn in streaming.items():
        layers = [_evaluate(layer, cfn, region, partition) for layer in fn["Properties"]["Layers"]]
        adapter = [layer for layer in layers if isinstance(layer, str) and "LambdaAdapterLayer" in layer]
        assert len(adapter) == 1 and adapter[0].startswith(expected), (name, layers)
        assert re.fullmatch(r".*:\d+", adapter[0]), "the adapter layer version is pinned"


# ---- 2. streaming routes may run as long as their function ------------------------------------
def test_streaming_integrations_wait_as_long_as_the_function_runs(cfn):
    functions = _functions(cfn)
    streamed = 0
    for path, verb, method in _methods(cfn):
        integration = method["x-amazon-apigateway-integration"]
        fn = functions[_function_of(integration)]["Properties"]
        streaming_uri = "response-streaming-invocations" in integration["uri"]["Fn::Sub"]
        if fn["Handler"].endswith(".sh"):
            # Every route of a Web Adapter function streams, with the function's whole run time.
            assert streaming_uri and integration.get("responseTransferMode") == "STREAM", (verb, path)
            assert integration.get("timeoutInMillis") == fn["Timeout"] * 1000, (verb, path)
            assert INTEGRATION_LIMIT_S * 1000 < integration["timeoutInMillis"] <= STREAM_LIMIT_MS
            streamed += 1
        else:
            assert not streaming_uri and "timeoutInMillis" not in integration, (verb, path)
    assert streamed >= 10


def test_sse_keepalives_stay_inside_the_regional_idle_timeout(monkeypatch):
    from agentgate.chat import service

    monkeypatch.delenv("AGENTGATE_SSE_KEEPALIVE_S", raising=False)
    assert 0 < service.keepalive_s() <= 60  # API Gateway drops a stream idle for 5 minutes


# ---- 3. Gateway Responses belong to the API definition (so every deployment carries them) -----
def test_gateway_responses_are_inside_the_api_definition(cfn):
    assert not _of_type(cfn, "AWS::ApiGateway::GatewayResponse"), "separate resources escape the deployment"
    responses = _api_body(cfn)["x-amazon-apigateway-gateway-responses"]
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "AUTHORIZER_FAILURE", "MISSING_AUTHENTICATION_TOKEN",
            "THROTTLED", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)


def test_changing_a_gateway_response_redeploys_the_api(sam, cfn, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    changed = copy.deepcopy(sam)
    api = next(r for r in changed["Resources"].values() if r["Type"] == "AWS::Serverless::Api")
    unauthorized = api["Properties"]["GatewayResponses"]["UNAUTHORIZED"]["ResponseTemplates"]
    unauthorized["application/json"] = unauthorized["application/json"].replace("missing", "absent")
    before = set(_of_type(cfn, "AWS::ApiGateway::Deployment"))
    after = set(_of_type(_translate(changed), "AWS::ApiGateway::Deployment"))
    assert before != after, "the deployment's hash must cover the Gateway Responses"


# ---- 4. one stage, and the key function may flush every stage of this API only ----------------
def test_the_api_has_a_single_stage(cfn):
    stages = _of_type(cfn, "AWS::ApiGateway::Stage")
    assert len(stages) == 1, sorted(stages)
    (stage,) = stages.values()
    assert stage["Properties"]["StageName"] == {"Ref": "StageName"}
    # A Deployment with a StageName creates a stage of its own (SAM's "Stage" without OpenApiVersion).
    for name, deployment in _of_type(cfn, "AWS::ApiGateway::Deployment").items():
        assert "StageName" not in deployment["Properties"], f"{name} creates an extra stage"


def _statements(cfn: dict, role_or_policy: str):
    res = cfn["Resources"][role_or_policy]
    props = res["Properties"]
    docs = [props["PolicyDocument"]] if res["Type"] == "AWS::IAM::Policy" else \
        [p["PolicyDocument"] for p in props.get("Policies", [])]
    for doc in docs:
        yield from doc["Statement"]


def _all_statements(cfn: dict):
    for name, res in cfn["Resources"].items():
        if res["Type"] in ("AWS::IAM::Role", "AWS::IAM::Policy"):
            for st in _statements(cfn, name):
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                yield name, st, actions


def test_the_authorizer_cache_flush_is_limited_to_this_api(cfn):
    granted = [(name, st) for name, st, actions in _all_statements(cfn)
               if any(a.startswith("apigateway:") for a in actions)]
    assert granted
    for name, st in granted:
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        for resource in resources:
            assert "${AgentgateApi}" in json.dumps(resource), (name, resource)
    actions = {a for _, st in granted for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    assert actions == {"apigateway:GET", "apigateway:DELETE"}  # list the stages, flush each one
    roles = {r["Ref"] for name, _ in granted for r in cfn["Resources"][name]["Properties"].get("Roles", [])}
    assert roles == {"KeysFunctionRole"}


# ---- 6. the authorizer is never the bottleneck ------------------------------------------------
def test_the_authorizer_has_memory_and_reserved_concurrency(cfn):
    props = cfn["Resources"]["AuthorizerFunction"]["Properties"]
    assert props["MemorySize"] >= 1024
    reserved = _evaluate(props["ReservedConcurrentExecutions"], cfn, "eu-west-1", "aws")
    assert int(reserved) >= 50


# ---- 7/8. every function logs JSON and is traced ----------------------------------------------
def test_every_function_logs_json_and_is_traced(cfn):
    for name, fn in _functions(cfn).items():
        props = fn["Properties"]
        assert props["LoggingConfig"]["LogFormat"] == "JSON", name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"], name
    stage = next(iter(_of_type(cfn, "AWS::ApiGateway::Stage").values()))["Properties"]
    assert stage["TracingEnabled"] is True
    access = json.loads(stage["AccessLogSetting"]["Format"])  # one JSON object per request
    assert access["key_id"] == "$context.authorizer.key_id" and access["status"] == "$context.status"


# ---- 11. hygiene -----------------------------------------------------------------------------
def test_cors_preflight_answers_without_a_key(cfn):
    paths = _api_body(cfn)["paths"]
    for path, item in paths.items():
        options = item.get("options")
        assert options is not None, f"no preflight for {path}"
        assert not options.get("security"), f"the preflight of {path} asks for a key"
        headers = options["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"]
        assert headers["method.response.header.Access-Control-Allow-Origin"] == {"Fn::Sub": "'${CorsAllowOrigin}'"}
        assert "Authorization" in headers["method.response.header.Access-Control-Allow-Headers"]
    assert "CorsAllowOrigin" in cfn["Parameters"]


def test_the_stage_throttles_by_default(cfn):
    stage = next(iter(_of_type(cfn, "AWS::ApiGateway::Stage").values()))["Properties"]
    (setting,) = stage["MethodSettings"]
    assert setting["ResourcePath"] == "/*" and setting["HttpMethod"] == "*"
    for key in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
        assert int(_evaluate(setting[key], cfn, "eu-west-1", "aws")) > 0


def test_the_files_bucket_refuses_plain_http(cfn):
    (policy,) = _of_type(cfn, "AWS::S3::BucketPolicy").values()
    (st,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert st["Action"] == "s3:*" and st["Principal"] == "*"
    assert policy["Properties"]["Bucket"] == {"Ref": "FilesBucket"}


def test_every_table_has_point_in_time_recovery_and_encryption(cfn):
    tables = _of_type(cfn, "AWS::DynamoDB::Table")
    assert tables
    for name, table in tables.items():
        props = table["Properties"]
        assert props.get("PointInTimeRecoverySpecification") == {"PointInTimeRecoveryEnabled": True}, name
        assert props.get("SSESpecification", {}).get("SSEEnabled") is True, name
        assert table.get("DeletionPolicy") == "Retain", name


def test_buffered_functions_answer_within_the_integration_timeout(cfn):
    functions = _functions(cfn)
    buffered = {_function_of(m["x-amazon-apigateway-integration"]) for _, _, m in _methods(cfn)
                if "timeoutInMillis" not in m["x-amazon-apigateway-integration"]}
    assert buffered
    for name in buffered:
        assert functions[name]["Properties"]["Timeout"] < INTEGRATION_LIMIT_S, name


def _body_with_placeholders(template: str) -> dict:
    # Plain substitution, as API Gateway does: messageString is already a JSON string.
    text = template.replace("$context.error.messageString", '"Invalid request body"')
    return json.loads(re.sub(r"\$context\.[A-Za-z.]+", "x", text))


def test_each_gateway_response_states_its_own_status(cfn):
    responses = _api_body(cfn)["x-amazon-apigateway-gateway-responses"]
    for kind, response in responses.items():
        status = response.get("statusCode")
        assert status and re.fullmatch(r"[1-5]\d\d", str(status)), f"{kind} has no literal status code"
        body = _body_with_placeholders(response["responseTemplates"]["application/json"])
        codes = {body["code"], body["error"]["code"], body["status_code"], body["errorCode"]}
        assert codes == {int(status)}, (kind, status, codes)
        assert "$context.path" not in response["responseTemplates"]["application/json"], kind
        assert response["responseParameters"]["gatewayresponse.header.x-tt-logid"] == "context.requestId"
    for kind, status in {"THROTTLED": 429, "UNAUTHORIZED": 401, "REQUEST_TOO_LARGE": 413,
                         "MISSING_AUTHENTICATION_TOKEN": 404, "INTEGRATION_TIMEOUT": 504}.items():
        assert int(responses[kind]["statusCode"]) == status, kind


def test_outputs_name_the_api_and_its_stage(cfn):
    outputs = cfn["Outputs"]
    assert outputs["ApiId"]["Value"] == {"Ref": "AgentgateApi"}
    assert outputs["ApiStage"]["Value"] == {"Ref": "StageName"}
    assert "ApiUrl" in outputs


def test_policies_grant_only_what_the_code_uses(cfn):
    deleters = set()
    for name, st, actions in _all_statements(cfn):
        assert st["Effect"] == "Allow" or name == "ApiGatewayCloudWatchRole"
        for action in actions:
            assert action not in ("*", "dynamodb:*", "s3:*", "bedrock:*", "apigateway:*"), (name, action)
            assert action != "dynamodb:Scan", f"{name} may Scan: no request path scans"
            if action == "dynamodb:DeleteItem":
                deleters.add(name)
        if any(a.startswith("bedrock:") for a in actions):
            resources = _evaluate(st["Resource"], cfn, "us-east-1", "aws")
            resources = resources if isinstance(resources, list) else [resources]
            assert all("foundation-model/" in r or "inference-profile/" in r for r in resources), resources
            assert not any(r.endswith("/*") or r == "*" for r in resources), resources
    # Only the groups that delete items: bots (a renamed alias), conversations, knowledge (bases and
    # documents; chunks go by BatchWriteItem) and AgentChat (deleted agents and tools, throttles).
    assert deleters == {"BotsFunctionRole", "ConversationsFunctionRole", "KnowledgeFunctionRole",
                        "AgentchatFunctionRole"}
