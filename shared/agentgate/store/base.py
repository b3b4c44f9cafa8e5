"""What every model shares: table names and endpoints from the environment.

Models read `Settings` when their module is imported. `configure_models()` re-reads them, so a
process that sets AGENTGATE_* variables late (tests, the local gateway) can point every model at
the right endpoint without re-importing anything.
"""

from __future__ import annotations

from typing import Callable

from pynamodb.models import Model

from agentgate.config import settings

# model class -> function returning its table name from Settings
_REGISTRY: dict[type[Model], Callable] = {}


def register(table_name: Callable):
    """Class decorator: bind a model to a Settings table-name field and configure it now."""

    def wrap(model: type[Model]) -> type[Model]:
        _REGISTRY[model] = table_name
        _apply(model)
        return model

    return wrap


def _apply(model: type[Model]) -> None:
    s = settings()
    wanted = (_REGISTRY[model](s), s.region, s.dynamodb_endpoint)
    if (model.Meta.table_name, getattr(model.Meta, "region", None), getattr(model.Meta, "host", None)) == wanted \
            and getattr(model, "_agentgate_configured", False):
        return  # unchanged: keep the cached connection (creating a botocore client is slow)
    model.Meta.table_name, model.Meta.region, model.Meta.host = wanted
    # PynamoDB caches the connection per model class; drop it so the new endpoint is used.
    model._connection = None  # indexes query through their model's connection
    model._agentgate_configured = True


def configure_models() -> None:
    for model in _REGISTRY:
        _apply(model)


def all_models() -> list[type[Model]]:
    return list(_REGISTRY)


def create_tables(wait: bool = True) -> None:
    """Create every table that does not exist yet (local development and tests)."""
    for model in _REGISTRY:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=wait)
