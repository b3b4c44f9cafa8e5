"""FastAPI without the import-time work that no request needs (a function's cold start, issue 10).

Imported by agentgate.api before anything imports fastapi; two pieces of FastAPI's import and
route registration serve no request of ours:

* fastapi.openapi.models: ~40 pydantic models of the OpenAPI document itself, whose validators
  are built at import (50-70 ms here, a sixth of a function's entry import) though only the
  making of /openapi.json validates them. They are imported here with pydantic's `defer_build`,
  so they are built the first time a document is made, and never in a function that serves none.
* FastAPI checks every route annotation and every object it encodes for a pydantic.v1 model only
  to refuse it, and imports pydantic.v1 (20-30 ms) to do so. No v1 model can exist while
  pydantic.v1 was never imported, so the check answers False then, and asks FastAPI's own
  function otherwise: what FastAPI accepts and refuses is unchanged.

If fastapi.openapi.models was imported first (a test process), its models are already built and
only the second piece applies.
FastAPI is pinned (shared/requirements.txt); tests/unit/test_lean_fastapi.py fails if a new
version moves what this relies on.
"""

from __future__ import annotations

import sys
from typing import Any

import pydantic


def _import_openapi_models_deferred() -> None:
    if "fastapi.openapi.models" in sys.modules:
        return
    # Every model class merges its bases' model_config when it is created, so the models made
    # during this import keep defer_build; models made afterwards (ours) are unaffected.
    base_config = pydantic.BaseModel.model_config
    pydantic.BaseModel.model_config = {**base_config, "defer_build": True}
    try:
        import fastapi.openapi.models  # noqa: F401
    finally:
        pydantic.BaseModel.model_config = base_config


def _skip_v1_checks_without_v1() -> None:
    from fastapi import encoders
    from fastapi._compat import shared

    if getattr(shared.is_pydantic_v1_model_class, "__wrapped__", None):
        return
    original_class, original_instance = shared.is_pydantic_v1_model_class, shared.is_pydantic_v1_model_instance

    def is_pydantic_v1_model_class(cls: Any) -> bool:
        return "pydantic.v1" in sys.modules and original_class(cls)

    def is_pydantic_v1_model_instance(obj: Any) -> bool:
        return "pydantic.v1" in sys.modules and original_instance(obj)

    is_pydantic_v1_model_class.__wrapped__ = original_class  # type: ignore[attr-defined]
    is_pydantic_v1_model_instance.__wrapped__ = original_instance  # type: ignore[attr-defined]
    # annotation_is_pydantic_v1 looks the class check up in its module; encoders imported the
    # instance check by name.
    shared.is_pydantic_v1_model_class = is_pydantic_v1_model_class
    shared.is_pydantic_v1_model_instance = is_pydantic_v1_model_instance
    encoders.is_pydantic_v1_model_instance = is_pydantic_v1_model_instance


_import_openapi_models_deferred()
_skip_v1_checks_without_v1()
