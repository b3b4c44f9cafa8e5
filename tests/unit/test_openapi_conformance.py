"""Every app's OpenAPI document is true: a bounded, derandomized schemathesis run per app.

In-process (schemathesis' ASGI transport, moto-backed tables as in every unit test), as a root
key (the authorizer's context header), ~25 generated requests per operation (positive and
negative data) plus the schema's examples. Any 5xx fails, and so does a status, content type or
JSON body the operation's OpenAPI document does not declare.
"""

from __future__ import annotations

import importlib
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from conftest import principal_header

# Every FastAPI app a function serves (functions/*/app.py import these).
APPS = ("agentchat", "bots", "chat", "conversations", "files", "keys", "knowledge", "workflows")
EXAMPLES = 25

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ROOT = principal_header("owner-fuzz", "root", key_id="1000000000000000009")

_stats = {"operations": 0, "requests": 0, "server_errors": 0, "started": None}


@pytest.fixture(scope="module")
def _report(request):
    _stats["started"] = time.monotonic()
    yield
    elapsed = time.monotonic() - _stats["started"]
    line = (f"openapi conformance: {_stats['operations']} operations, {_stats['requests']} requests, "
            f"{_stats['server_errors']} 5xx, {elapsed:.1f} s")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\n" + line)


def _schema(name: str):
    app = importlib.import_module(f"agentgate.api.{name}").app
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app
    schema.config.seed = 7
    # The schema's examples and generated data; the coverage phase (boundary values of every
    # keyword, hundreds of requests per operation) and stateful links are left out to bound the run.
    schema.config.phases.update(phases=["examples", "fuzzing"])
    return schema


def _conformance_test(name: str):
    schema = _schema(name)
    seen: set[str] = set()

    @schema.parametrize()
    # No shrinking: a failure is reported as found (the bound on run time holds when one fails too).
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def test(case, aws, _report):
        label = case.operation.label
        if label not in seen:
            seen.add(label)
            _stats["operations"] += 1
        response = case.call(headers=ROOT)
        _stats["requests"] += 1
        if response.status_code >= 500:
            _stats["server_errors"] += 1
        case.validate_response(response, checks=CHECKS)

    test.__name__ = f"test_{name}_conforms"
    return test


for _name in APPS:
    globals()[f"test_{_name}_conforms"] = _conformance_test(_name)
