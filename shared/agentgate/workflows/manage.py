"""Managing workflows: create and update drafts (validated when saved), publish numbered
versions, read them. Store access for the routes, with the rules in one place."""

from __future__ import annotations

import json
from typing import Any

from agentgate.store import workflows as store
from agentgate.workflows import definition as definitions
from agentgate.workflows.errors import NotFound

NOT_FOUND = "workflow not found"


def create(owner_id: str, document: Any, publish: bool = False) -> store.Workflow:
    parsed = definitions.parse(document)
    head = store.create_workflow(owner_id, name=parsed.name, description=parsed.description, mode=parsed.mode,
                                 draft=parsed.to_json())
    if publish:
        head = store.publish(head)
    return head


def get(owner_id: str, workflow_id: str) -> store.Workflow:
    head = store.get_workflow(owner_id, workflow_id)
    if head is None:
        raise NotFound(NOT_FOUND)
    return head


def update(owner_id: str, workflow_id: str, document: Any, publish: bool = False) -> store.Workflow:
    head = get(owner_id, workflow_id)
    parsed = definitions.parse(document)
    head = store.update_draft(head, name=parsed.name, description=parsed.description, mode=parsed.mode,
                              draft=parsed.to_json())
    if publish:
        head = store.publish(head)
        _forget(owner_id, workflow_id)
    return head


def _forget(owner_id: str, workflow_id: str) -> None:
    from agentgate.workflows.runs import forget

    forget(owner_id, workflow_id)


def publish(owner_id: str, workflow_id: str, description: str = "") -> store.Workflow:
    head = get(owner_id, workflow_id)
    head = store.publish(head, description)
    _forget(owner_id, workflow_id)
    return head


def draft_document(head: store.Workflow) -> dict:
    return json.loads(head.draft) if head.draft else {}


def published_definition(owner_id: str, workflow_id: str) -> tuple[store.Workflow, definitions.Definition]:
    from agentgate.workflows.runs import load_definition

    head = store.get_workflow(owner_id, workflow_id)
    if head is None or not head.version or not head.online:
        raise NotFound("workflow not found or not published")
    return head, load_definition(workflow_id, int(head.version), head.online)
