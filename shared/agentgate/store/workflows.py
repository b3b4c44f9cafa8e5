"""Workflows (definitions, drafts, numbered versions) and their runs (durable, node by node).

Workflows table (pk workflow_id, sk):
- "head": owner_id, name, description, the `draft` definition (JSON text), the latest published
  definition (`online`, JSON text, absent until the first publish) and its `version` number. A run
  reads one item. GSI owner_index (list_owner, workflow_id) lists an owner's workflows; only head
  items carry `list_owner`, so version items stay out of it.
- "v000001", "v000002", ...: each published version, frozen (what a run naming a version reads).

Runs table (pk execute_id, sk):
- "run": the run's state: status (Running | Interrupted | Success | Fail | Cancelled), inputs,
  output, error, usage, heartbeat_at, deadline_at, the pending interrupt, the cancel flag.
  GSI workflow_index (workflow_key = "owner#workflow", execute_id) lists a workflow's runs,
  newest first; only run items carry `workflow_key`.
- "node#<node_execute_uuid>": one node execution: its status, input and output, written as the
  node finishes, so a run resumes from its last node on any instance, and a history shows them all.
Every item carries owner_id; readers answer 404 for anyone else's.
"""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from agentgate.ids import new_id, now_ms, now_s
from agentgate.store.base import register

HEAD = "head"
RUN = "run"
NODE_PREFIX = "node#"

RUNNING = "Running"
INTERRUPTED = "Interrupted"
SUCCESS = "Success"
FAIL = "Fail"
CANCELLED = "Cancelled"
FINAL = (SUCCESS, FAIL, CANCELLED)


def version_key(version: int) -> str:
    return f"v{int(version):06d}"


class OwnerIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "owner_index"
        projection = AllProjection()

    list_owner = UnicodeAttribute(hash_key=True)
    workflow_id = UnicodeAttribute(range_key=True)


@register(lambda s: s.workflows_table)
class Workflow(Model):
    """Head and version items share this model (version items leave the head-only fields empty)."""

    class Meta:
        table_name = "agentgate-workflows"

    workflow_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    owner_id = UnicodeAttribute()
    list_owner = UnicodeAttribute(null=True)  # head items only (the GSI)
    name = UnicodeAttribute(default="")
    description = UnicodeAttribute(default="")
    mode = UnicodeAttribute(default="workflow")  # workflow | chatflow
    draft = UnicodeAttribute(null=True)  # head: the draft definition (JSON text)
    online = UnicodeAttribute(null=True)  # head: the latest published definition; version: its definition
    version = NumberAttribute(default=0)  # head: latest published (0 = never); version item: its number
    version_description = UnicodeAttribute(default="")
    draft_updated_at = NumberAttribute(default=0)
    published_at = NumberAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    revision = VersionAttribute(null=True)

    owner_index = OwnerIndex()


class WorkflowIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "workflow_index"
        projection = AllProjection()

    workflow_key = UnicodeAttribute(hash_key=True)
    execute_id = UnicodeAttribute(range_key=True)


@register(lambda s: s.workflow_runs_table)
class WorkflowRun(Model):
    """Run items (sk "run") and node items (sk "node#<uuid>") share this model."""

    class Meta:
        table_name = "agentgate-workflow-runs"

    execute_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    owner_id = UnicodeAttribute()
    workflow_id = UnicodeAttribute()
    workflow_key = UnicodeAttribute(null=True)  # run items only (the GSI)
    # --- run items
    version = NumberAttribute(null=True)
    run_mode = NumberAttribute(null=True)  # 0 sync, 1 stream, 2 async (cozepy's WorkflowRunMode)
    status = UnicodeAttribute(null=True)
    inputs = JSONAttribute(null=True)
    output = UnicodeAttribute(null=True)  # JSON text of the outputs (or "" when in S3)
    output_s3_key = UnicodeAttribute(null=True)
    error_code = NumberAttribute(null=True)
    error_message = UnicodeAttribute(null=True)
    usage = MapAttribute(null=True)  # {token_count, output_count, input_count}
    interrupt = MapAttribute(null=True)  # {event_id, node_id, type, seq}
    bot_id = UnicodeAttribute(null=True)
    conversation_id = UnicodeAttribute(null=True)
    cancel_requested = NumberAttribute(default=0)
    heartbeat_at = NumberAttribute(null=True)  # ms
    deadline_at = NumberAttribute(null=True)  # ms
    attempt = NumberAttribute(default=0)  # claims (a background retry picks the run up again)
    # --- node items
    node_id = UnicodeAttribute(null=True)
    node_type = UnicodeAttribute(null=True)
    title = UnicodeAttribute(null=True)
    seq = NumberAttribute(null=True)  # order of execution within the run
    loop_index = NumberAttribute(null=True)
    node_input = UnicodeAttribute(null=True)  # JSON text (secrets never resolved here)
    node_output = UnicodeAttribute(null=True)  # JSON text (or "" when in S3)
    node_output_s3_key = UnicodeAttribute(null=True)
    # --- both
    created_at = NumberAttribute()  # seconds
    updated_at = NumberAttribute()

    workflow_index = WorkflowIndex()

    @property
    def node_execute_uuid(self) -> str:
        return self.sk[len(NODE_PREFIX):]


# ----------------------------------------------------------------------------- workflows


def create_workflow(owner_id: str, *, name: str, description: str, mode: str, draft: str) -> Workflow:
    now = now_s()
    head = Workflow(workflow_id=new_id(), sk=HEAD, owner_id=owner_id, list_owner=owner_id, name=name,
                    description=description, mode=mode, draft=draft, draft_updated_at=now, created_at=now,
                    updated_at=now)
    head.save(condition=Workflow.workflow_id.does_not_exist())
    return head


def get_workflow(owner_id: str, workflow_id: str) -> Workflow | None:
    """The owner's workflow head, or None (unknown or someone else's: callers answer 404)."""
    if not workflow_id or not workflow_id.isdigit() or len(workflow_id) > 24:
        return None
    try:
        head = Workflow.get(workflow_id, HEAD)
    except DoesNotExist:
        return None
    return head if head.owner_id == owner_id else None


def get_version(owner_id: str, workflow_id: str, version: int) -> Workflow | None:
    try:
        item = Workflow.get(workflow_id, version_key(version))
    except DoesNotExist:
        return None
    return item if item.owner_id == owner_id else None


def update_draft(head: Workflow, *, name: str, description: str, mode: str, draft: str) -> Workflow:
    now = now_s()
    head.update(actions=[Workflow.draft.set(draft), Workflow.name.set(name), Workflow.description.set(description),
                         Workflow.mode.set(mode), Workflow.draft_updated_at.set(now), Workflow.updated_at.set(now)])
    return head


def publish(head: Workflow, description: str = "") -> Workflow:
    """Freeze the draft as the next version (version item + head, one transaction)."""
    from pynamodb.transactions import TransactWrite

    now = now_s()
    number = int(head.version or 0) + 1
    version = Workflow(workflow_id=head.workflow_id, sk=version_key(number), owner_id=head.owner_id,
                       name=head.name, description=head.description, mode=head.mode, online=head.draft,
                       version=number, version_description=description, published_at=now, created_at=now,
                       updated_at=now)
    with TransactWrite(connection=Workflow._get_connection().connection) as tx:
        tx.save(version, condition=Workflow.workflow_id.does_not_exist())
        tx.update(head, actions=[Workflow.online.set(head.draft), Workflow.version.set(number),
                                 Workflow.published_at.set(now), Workflow.updated_at.set(now)],
                  condition=Workflow.version == int(head.version or 0))
    head.refresh()
    return head


def list_workflows(owner_id: str, page_num: int, page_size: int) -> tuple[list[Workflow], bool]:
    """One page of the owner's workflows, newest first, and whether more follow."""
    skip = (page_num - 1) * page_size
    items: list[Workflow] = []
    for item in Workflow.owner_index.query(owner_id, scan_index_forward=False, limit=skip + page_size + 1):
        items.append(item)
        if len(items) > skip + page_size:
            break
    return items[skip:skip + page_size], len(items) > skip + page_size


def list_versions(owner_id: str, workflow_id: str, limit: int, after: str | None) -> tuple[list[Workflow], bool]:
    """Published versions, newest first; `after` is the last version key of the previous page."""
    out: list[Workflow] = []
    for item in Workflow.query(workflow_id, Workflow.sk < (after or "w"), scan_index_forward=False,
                               limit=limit + 2):
        if not item.sk.startswith("v") or item.owner_id != owner_id:
            continue
        out.append(item)
        if len(out) > limit:
            break
    return out[:limit], len(out) > limit


# ----------------------------------------------------------------------------- runs


def workflow_key(owner_id: str, workflow_id: str) -> str:
    return f"{owner_id}#{workflow_id}"


def create_run(owner_id: str, workflow_id: str, **kwargs) -> WorkflowRun:
    run = new_run(owner_id, workflow_id, **kwargs)
    run.save(condition=WorkflowRun.execute_id.does_not_exist())
    return run


def new_run(owner_id: str, workflow_id: str, *, version: int, run_mode: int, inputs: dict, deadline_ms: int,
            bot_id: str | None = None, conversation_id: str | None = None, execute_id: str | None = None,
            status: str = RUNNING) -> WorkflowRun:
    """A run item, not yet written."""
    now = now_s()
    return WorkflowRun(execute_id=execute_id or new_id(), sk=RUN, owner_id=owner_id, workflow_id=workflow_id,
                      workflow_key=workflow_key(owner_id, workflow_id), version=version, run_mode=run_mode,
                      status=status, inputs=inputs, bot_id=bot_id, conversation_id=conversation_id,
                      heartbeat_at=now_ms(), deadline_at=deadline_ms, created_at=now, updated_at=now)


def get_run(owner_id: str, execute_id: str, consistent: bool = True) -> WorkflowRun | None:
    if not execute_id or not execute_id.isdigit() or len(execute_id) > 24:
        return None
    try:
        run = WorkflowRun.get(execute_id, RUN, consistent_read=consistent)
    except DoesNotExist:
        return None
    return run if run.owner_id == owner_id else None


def run_nodes(execute_id: str) -> list[WorkflowRun]:
    """Every node execution of a run, in execution order (one Query)."""
    nodes = [i for i in WorkflowRun.query(execute_id, WorkflowRun.sk.startswith(NODE_PREFIX), consistent_read=True)]
    nodes.sort(key=lambda n: int(n.seq or 0))
    return nodes


def get_node(owner_id: str, execute_id: str, node_execute_uuid: str) -> WorkflowRun | None:
    if not node_execute_uuid or not node_execute_uuid.isdigit() or len(node_execute_uuid) > 24:
        return None
    try:
        node = WorkflowRun.get(execute_id, NODE_PREFIX + node_execute_uuid)
    except DoesNotExist:
        return None
    return node if node.owner_id == owner_id else None


def save_node(run: WorkflowRun, *, node_execute_uuid: str, node_id: str, node_type: str, title: str, seq: int,
              status: str, node_input: str, node_output: str, output_s3_key: str | None = None,
              error_message: str | None = None, loop_index: int | None = None, started_at: int | None = None
              ) -> WorkflowRun:
    now = now_s()
    item = WorkflowRun(execute_id=run.execute_id, sk=NODE_PREFIX + node_execute_uuid, owner_id=run.owner_id,
                       workflow_id=run.workflow_id, node_id=node_id, node_type=node_type, title=title, seq=seq,
                       status=status, node_input=node_input, node_output=node_output,
                       node_output_s3_key=output_s3_key, error_message=error_message, loop_index=loop_index,
                       created_at=started_at or now, updated_at=now)
    item.save()
    return item


def list_runs(owner_id: str, workflow_id: str, page_num: int, page_size: int) -> tuple[list[WorkflowRun], bool]:
    skip = (page_num - 1) * page_size
    items: list[WorkflowRun] = []
    for item in WorkflowRun.workflow_index.query(workflow_key(owner_id, workflow_id), scan_index_forward=False,
                                                 limit=skip + page_size + 1):
        items.append(item)
        if len(items) > skip + page_size:
            break
    return items[skip:skip + page_size], len(items) > skip + page_size


class LostRace(Exception):
    """A conditional write on a run lost: someone else changed its state first."""


def update_run(run: WorkflowRun, actions: list, condition=None) -> WorkflowRun:
    actions = list(actions) + [WorkflowRun.updated_at.set(now_s())]
    try:
        run.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            raise LostRace(str(exc)) from None
        raise
    return run


def is_conditional_failure(exc: Exception) -> bool:
    return isinstance(exc, (UpdateError, PutError)) and \
        getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"
