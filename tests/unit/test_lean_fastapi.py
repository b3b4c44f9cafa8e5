"""agentgate.api.lean_fastapi (issue 10, point 9): an entry import skips two pieces of FastAPI's
import-time work that no request needs, and what FastAPI serves and refuses stays the same.
Each check runs in a fresh process, since the deferral acts only when fastapi is not imported yet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ENTRY = r"""
import json, sys
sys.path[:0] = [sys.argv[1]]
if sys.argv[2] == "fastapi-first":
    import fastapi.openapi.models  # as a process that imported fastapi before agentgate: nothing deferred
import agentgate.api.bots as group
import fastapi.openapi.models as models
from fastapi._compat import shared
state = {"v1_imported": "pydantic.v1" in sys.modules, "info_built": models.Info.__pydantic_complete__,
         "check_wrapped": hasattr(shared.is_pydantic_v1_model_class, "__wrapped__")}
document = group.app.openapi()
print(json.dumps({"state": state, "document": document, "document_model_built": models.OpenAPI.__pydantic_complete__}))
"""

V1_REFUSED = r"""
import sys
sys.path[:0] = [sys.argv[1]]
import agentgate.api.lean_fastapi
from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import PydanticV1NotSupportedError
from pydantic import v1

class Old(v1.BaseModel):
    name: str

app = FastAPI()
refused = []
try:
    @app.post("/old")
    def old(body: Old) -> dict:
        return {}
except PydanticV1NotSupportedError:
    refused.append("route")
try:
    jsonable_encoder(Old(name="x"))
except PydanticV1NotSupportedError:
    refused.append("encoder")
print(",".join(refused))
"""


def _run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, "-c", script, str(ROOT / "shared"), *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def lean() -> dict:
    """A process that imported an agentgate app first, as a Lambda entry does."""
    return json.loads(_run(ENTRY, "agentgate-first"))


def test_an_entry_import_neither_builds_the_openapi_models_nor_imports_pydantic_v1(lean):
    out = lean
    assert out["state"] == {"v1_imported": False, "info_built": False, "check_wrapped": True}
    # The document is still validated by FastAPI's OpenAPI model, built on that first use.
    assert out["document_model_built"] is True
    assert out["document"]["info"]["title"] and out["document"]["paths"]


def test_the_openapi_document_is_the_one_fastapi_makes_without_the_deferral(lean):
    eager = json.loads(_run(ENTRY, "fastapi-first"))
    assert eager["state"]["info_built"] is True, "the models were imported before lean_fastapi, so built"
    assert lean["document"] == eager["document"]


def test_fastapi_still_refuses_pydantic_v1_models_once_v1_is_imported():
    assert _run(V1_REFUSED) == "route,encoder"
