"""What every model shares: table names and endpoints from the environment.

Models read `Settings` when their module is imported. `configure_models()` re-reads them, so a
process that sets AGENTGATE_* variables late (tests, the local gateway) can point every model at
the right endpoint without re-importing anything.
"""

from __future__ import annotations

from typing import Callable

from pynamodb.connection import Connection
from pynamodb.models import Model

from agentgate.config import settings

# model class -> function returning its table name from Settings
_REGISTRY: dict[type[Model], Callable] = {}
# (region, host) -> the one PynamoDB Connection (one botocore session and client) every model uses
_CONNECTIONS: dict[tuple, Connection] = {}


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
    _share_connection(model)
    model._agentgate_configured = True


def _share_connection(model: type[Model]) -> None:
    """Point the model's table connection at the process-wide Connection for its endpoint.

    PynamoDB gives every model class a Connection of its own, and each builds its own botocore
    session and client on first use (~10 MB and ~50 ms apiece): six models meant six clients.
    A Connection serves any table (it keys table metadata by name) and botocore clients are
    thread-safe, so one per endpoint is enough. Building the table connection here costs no I/O:
    the botocore client is still created lazily, on the first call.
    """
    table_connection = model._get_connection()
    key = (model.Meta.region, model.Meta.host)
    shared = _CONNECTIONS.get(key)
    if shared is None:
        _CONNECTIONS[key] = table_connection.connection
        return
    meta = table_connection.get_meta_table()
    try:
        known = shared.get_meta_table(meta.table_name)
    except Exception:  # noqa: BLE001 - TableError: this table is new to the shared connection
        shared.add_meta_table(meta)
    else:
        # Two models on one table (bots and their alias items): keep the schema naming more
        # indexes, so index queries of either model find their key names.
        if len(meta.data.get("GlobalSecondaryIndexes") or ()) > len(known.data.get("GlobalSecondaryIndexes") or ()):
            shared._tables[meta.table_name] = meta
    table_connection.connection = shared


def prime() -> None:
    """Build every endpoint's botocore client now (no I/O: credentials come from the environment
    in Lambda), so init pays for it instead of the first request."""
    for connection in list(_CONNECTIONS.values()):
        connection.client  # noqa: B018 - the property builds the client once and keeps it


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
