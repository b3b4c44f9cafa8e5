"""Durable runs: a run's state lives in DynamoDB (store.workflows), so any instance, in any later
process, can report it, resume it or mark it failed.

- start(): the published (or named) version, the inputs bound and checked, the run item created
  (status Running, a heartbeat, a deadline), then an Execution to consume (stream, wait, or hand
  to background/).
- resume(): an Interrupted run is claimed with a conditional write (one resume wins), its
  finished nodes are read back (one Query), and the engine continues after them with the answer.
- continue_run(): the background entry point (async runs, a retried invocation): it claims a
  Running run whose heartbeat is not fresh (or that nobody started yet) and continues it.
- refresh(): a Running run whose heartbeat is older than AGENTGATE_WORKFLOW_STALE_S, or that
  passed its deadline, has lost its process: it becomes Fail (a conditional write), so nothing
  stays Running forever.
While an Execution runs it writes the heartbeat every AGENTGATE_WORKFLOW_HEARTBEAT_S; the same
write returns the run's cancel flag, so a cancel from another instance stops it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from typing import Any, AsyncIterator, Callable

from agentgate.config import settings
from agentgate.ids import now_ms, now_s
from agentgate.protocols.sse import KEEPALIVE
from agentgate.store import workflows as store
from agentgate.workflows import definition as definitions
from agentgate.workflows.engine import Engine, Recorder, output_json
from agentgate.workflows.errors import Conflict, InputError, NotFound, WorkflowError
from agentgate.workflows.events import Completed, Failed, Interrupted, RunUsage

log = logging.getLogger(__name__)

RUN_SYNC, RUN_STREAM, RUN_ASYNC = 0, 1, 2
WORKFLOW_NOT_FOUND = "workflow not found"
NOT_PUBLISHED = "workflow not found or not published"
STALE_MESSAGE = "the run stopped: its process ended without finishing it (no heartbeat for {s:g} s)"
DEADLINE_MESSAGE = "the run exceeded its time limit of {s} s (AGENTGATE_WORKFLOW_MAX_RUN_S)"

_END = object()
_detached: set[asyncio.Future] = set()


# ----------------------------------------------------------------------------- definitions


_cache: OrderedDict[tuple, definitions.Definition] = OrderedDict()


def load_definition(workflow_id: str, version: int, document: str) -> definitions.Definition:
    """A published version never changes: parse it once per process."""
    key = (workflow_id, int(version))
    found = _cache.get(key)
    if found is not None:
        _cache.move_to_end(key)
        return found
    parsed = definitions.parse_json(document)
    _cache[key] = parsed
    while len(_cache) > 128:
        _cache.popitem(last=False)
    return parsed


# (owner, workflow) -> (expires, version, document) of the latest published version: a run
# starts without a read on a warm instance. Like the bot cache: a few seconds
# (AGENTGATE_WORKFLOW_CACHE_S, default 5; 0 = off), forgotten at once by a write in this process.
_heads: dict[tuple[str, str], tuple[float, int, str]] = {}


def forget(owner_id: str, workflow_id: str) -> None:
    _heads.pop((owner_id, workflow_id), None)


def _cache_s() -> float:
    import os

    try:
        return float(os.environ.get("AGENTGATE_WORKFLOW_CACHE_S", "5"))
    except ValueError:
        return 5.0


def _published(owner_id: str, workflow_id: str, version: Any) -> tuple[int, definitions.Definition]:
    import time

    if version in (None, "", 0, "0"):
        hit = _heads.get((owner_id, workflow_id))
        if hit is not None and hit[0] > time.monotonic():
            return hit[1], load_definition(workflow_id, hit[1], hit[2])
    head = store.get_workflow(owner_id, workflow_id)
    if head is None:
        raise NotFound(NOT_PUBLISHED)
    if version not in (None, "", 0, "0"):
        try:
            number = int(str(version).lstrip("v"))
        except ValueError:
            raise InputError("version must be a published version number", param="version") from None
        item = store.get_version(owner_id, workflow_id, number)
        if item is None:
            raise NotFound(f"workflow version {version} not found")
        return number, load_definition(workflow_id, number, item.online)
    if not head.online or not head.version:
        raise NotFound(NOT_PUBLISHED)
    ttl = _cache_s()
    if ttl > 0:
        if len(_heads) > 2048:
            _heads.clear()
        _heads[(owner_id, workflow_id)] = (time.monotonic() + ttl, int(head.version), head.online)
    return int(head.version), load_definition(workflow_id, int(head.version), head.online)


# ----------------------------------------------------------------------------- storage of outputs


def _put_s3(key: str, body: str) -> None:
    import boto3

    s = settings()
    boto3.client("s3", region_name=s.region, endpoint_url=s.s3_endpoint).put_object(
        Bucket=s.files_bucket, Key=key, Body=body.encode(), ContentType="application/json")


def read_s3(key: str) -> str:
    import boto3

    s = settings()
    obj = boto3.client("s3", region_name=s.region, endpoint_url=s.s3_endpoint).get_object(
        Bucket=s.files_bucket, Key=key)
    return obj["Body"].read().decode()


class OutputTooLarge(Exception):
    pass


def _stash(owner_id: str, execute_id: str, name: str, text: str) -> tuple[str, str | None]:
    """(inline text, S3 key): text above the inline limit goes to S3 (DynamoDB's 400 KB item)."""
    s = settings()
    size = len(text.encode())
    if size > s.workflow_max_output_bytes:
        raise OutputTooLarge(f"the output is {size} bytes; at most {s.workflow_max_output_bytes} are kept "
                             "(AGENTGATE_WORKFLOW_MAX_OUTPUT_BYTES)")
    if size <= s.workflow_inline_output_bytes:
        return text, None
    key = f"workflow-runs/{owner_id}/{execute_id}/{name}.json"
    _put_s3(key, text)
    return "", key


def run_output(run: store.WorkflowRun) -> str:
    if run.output_s3_key:
        return read_s3(run.output_s3_key)
    return run.output or ""


def node_output(node: store.WorkflowRun) -> str:
    if node.node_output_s3_key:
        return read_s3(node.node_output_s3_key)
    return node.node_output or ""


# ----------------------------------------------------------------------------- recorder


class StoreRecorder(Recorder):
    """Writes each finished node (status, input, output).

    Writes leave the engine's path: they queue, in order, to one writer task, so the next node
    (the model's first token) does not wait for the previous node's PutItem; `flush()` waits for
    every write, and the run's outcome is stored only after it. A process that dies in between
    loses at most the last records: a resume runs those nodes again.
    """

    def __init__(self, run: store.WorkflowRun):
        self.run = run
        self._queue: asyncio.Queue | None = None
        self._writer: asyncio.Future | None = None
        self.error: Exception | None = None

    async def node_done(self, *, node_execute_uuid, node, seq, status, node_input, output, error, loop_index,
                        started_at):
        if self._writer is None:
            self._queue = asyncio.Queue()
            self._writer = asyncio.ensure_future(self._write_all())
        self._queue.put_nowait((node_execute_uuid, node, seq, status, node_input, output, error, loop_index,
                                started_at))

    async def _write_all(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            try:
                await asyncio.to_thread(self._save, *item)
            except Exception as exc:  # noqa: BLE001 - reported by flush()
                log.exception("storing a node of run %s failed", self.run.execute_id)
                self.error = exc

    async def flush(self) -> None:
        if self._writer is not None:
            self._queue.put_nowait(None)
            await self._writer
            self._writer = None

    def _save(self, node_execute_uuid, node, seq, status, node_input, output, error, loop_index, started_at):
        text = output_json(output) if output is not None else ""
        try:
            inline, key = _stash(self.run.owner_id, self.run.execute_id, f"node-{node_execute_uuid}", text)
        except OutputTooLarge as exc:
            inline, key, status, error = "", None, "Fail", str(exc)
        store.save_node(self.run, node_execute_uuid=node_execute_uuid, node_id=node.id, node_type=node.kind,
                        title=node.title, seq=seq, status=status, node_input=_input_text(node_input),
                        node_output=inline, output_s3_key=key, error_message=error, loop_index=loop_index,
                        started_at=started_at)

    async def secret(self, name):
        from agentgate.workflows import secrets

        return await asyncio.to_thread(secrets.get, self.run.owner_id, name)


def _input_text(value: Any) -> str:
    text = output_json(value) if value is not None else ""
    return text if len(text) <= 50_000 else text[:50_000] + "...(truncated)"


# ----------------------------------------------------------------------------- execution


class Execution:
    """One attempt at a run: `events()` runs it (once) and yields the engine's events, keep-alives
    during silences, and the final event only after the outcome is stored."""

    def __init__(self, definition: definitions.Definition, run: store.WorkflowRun, *, inputs: dict,
                 done: dict | None = None, answers: dict | None = None, seq_start: int = 0,
                 create: bool = False):
        self.definition = definition
        self.run = run
        self._create = create  # the run item is written while the first nodes run
        self._created: asyncio.Future | None = None
        self.cancel = asyncio.Event()
        self.engine = Engine(definition, owner_id=run.owner_id, inputs=inputs, done=done, answers=answers,
                             recorder=StoreRecorder(run), cancel=self.cancel, seq_start=seq_start,
                             event_id=lambda node_id, seq: f"{run.execute_id}/{seq}", run_turn=_run_turn)
        self.final: Any = None
        self.disconnected = False
        self.on_final: Callable[[Any], None] | None = None  # called (in a thread) with the final event

    @property
    def execute_id(self) -> str:
        return self.run.execute_id

    def stop(self, reason: str = "disconnected") -> None:
        self.disconnected = reason == "disconnected"
        self.cancel.set()

    async def _produce(self, queue: asyncio.Queue) -> None:
        s = settings()
        remaining = max(0.1, (int(self.run.deadline_at or 0) - now_ms()) / 1000)
        try:
            async with asyncio.timeout(remaining):
                async for event in self.engine.events():
                    queue.put_nowait(event)
        except TimeoutError:
            self.cancel.set()
            queue.put_nowait(Failed(504, DEADLINE_MESSAGE.format(s=s.workflow_max_run_s), self.engine.usage))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the engine's last resort: the run fails, it never hangs Running
            log.exception("workflow run %s failed", self.run.execute_id)
            queue.put_nowait(Failed(500, f"internal error while running the workflow ({type(exc).__name__})",
                                    self.engine.usage))
        finally:
            queue.put_nowait(_END)

    async def _heartbeat(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self._beat)
            except store.LostRace:
                # Someone marked the run final (stale detection, a cancel): stop working on it.
                self.cancel.set()
                return
            except Exception:
                log.warning("the heartbeat of run %s failed", self.run.execute_id, exc_info=True)
            if int(self.run.cancel_requested or 0):
                self.cancel.set()

    def _beat(self) -> None:
        store.update_run(self.run, [store.WorkflowRun.heartbeat_at.set(now_ms())],
                         condition=store.WorkflowRun.status == store.RUNNING)

    async def _settle(self, item):
        """Every write of this attempt done (the run item, node records), then the outcome."""
        try:
            if self._created is not None:
                await self._created
            await self.engine.recorder.flush()
        except Exception:
            log.exception("storing run %s failed", self.run.execute_id)
            return Failed(500, "internal error: the run could not be stored", getattr(item, "usage", None))
        if self.on_final is None:
            return await asyncio.to_thread(self._finish, item)
        # The metering (policy.metering.run_meter) is written beside the outcome, not after it.
        final, _ = await asyncio.gather(asyncio.to_thread(self._finish, item), asyncio.to_thread(self._report, item))
        return final

    def _report(self, item) -> None:
        try:
            self.on_final(item)
        except Exception:
            log.warning("metering run %s failed", self.run.execute_id, exc_info=True)

    async def events(self) -> AsyncIterator[Any]:
        if self._create and self._created is None:
            self._created = asyncio.ensure_future(asyncio.to_thread(
                self.run.save, condition=store.WorkflowRun.execute_id.does_not_exist()))
        queue: asyncio.Queue = asyncio.Queue()
        producer = asyncio.ensure_future(self._produce(queue))
        s = settings()
        beat = asyncio.ensure_future(self._heartbeat(max(0.05, s.workflow_heartbeat_s)))
        keepalive = _keepalive_s()
        ended = False
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), keepalive) if keepalive > 0 else await queue.get()
                except TimeoutError:
                    yield KEEPALIVE
                    continue
                if item is _END:
                    break
                if isinstance(item, (Completed, Interrupted, Failed)):
                    if self.disconnected and isinstance(item, Failed) and item.code == 499:
                        item = Failed(499, "the client disconnected; the run stopped", item.usage)
                    beat.cancel()
                    item = await self._settle(item)
                    self.final = item
                    yield item
                    continue
                yield item
            ended = True
        finally:
            beat.cancel()
            if not ended:  # the consumer went away (client disconnected): stop and record it
                self.stop("disconnected")
                future = asyncio.ensure_future(self._drain(producer, queue))
                _detached.add(future)
                future.add_done_callback(_detached.discard)

    async def _drain(self, producer: asyncio.Future, queue: asyncio.Queue) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(producer), 30)
        except Exception:  # noqa: BLE001
            producer.cancel()
        final = None
        while not queue.empty():
            item = queue.get_nowait()
            if isinstance(item, (Completed, Interrupted, Failed)):
                final = item
        if self.final is None:
            if final is None or isinstance(final, Failed):
                final = Failed(499, "the client disconnected; the run stopped", self.engine.usage)
            await self._settle(final)

    async def collect(self) -> Any:
        """Run to the end without rendering; the final event."""
        async for _ in self.events():
            pass
        return self.final

    def _finish(self, event):
        """Store the outcome (conditional on the run still being ours); returns the event to send."""
        run = self.run
        usage = _usage_map(event.usage)
        W = store.WorkflowRun
        try:
            if isinstance(event, Completed):
                text = output_json(event.output)
                try:
                    inline, key = _stash(run.owner_id, run.execute_id, "output", text)
                except OutputTooLarge as exc:
                    event = Failed(413, str(exc), event.usage)
                else:
                    store.update_run(run, [W.status.set(store.SUCCESS), W.output.set(inline),
                                           W.output_s3_key.set(key) if key else W.output_s3_key.remove(),
                                           W.usage.set(usage), W.interrupt.remove(), W.error_code.set(0)],
                                     condition=W.status == store.RUNNING)
                    return event
            if isinstance(event, Interrupted):
                ttl = settings().workflow_resume_ttl_s
                store.update_run(run, [W.status.set(store.INTERRUPTED), W.usage.set(usage),
                                       W.interrupt.set({"event_id": event.event_id, "type": event.type,
                                                        "node_id": event.node_id, "title": event.title,
                                                        "question": event.question}),
                                       W.deadline_at.set(now_ms() + ttl * 1000)],
                                 condition=W.status == store.RUNNING)
                return event
            status = store.CANCELLED if event.code == 499 and not self.disconnected else store.FAIL
            store.update_run(run, [W.status.set(status), W.error_code.set(int(event.code)),
                                   W.error_message.set(event.message), W.usage.set(usage)],
                             condition=W.status == store.RUNNING)
            return event
        except store.LostRace:
            # Marked final elsewhere first (stale detection, cancel): report what is stored.
            fresh = store.get_run(run.owner_id, run.execute_id)
            if fresh is not None and fresh.status in (store.FAIL, store.CANCELLED) and not isinstance(event, Failed):
                return Failed(int(fresh.error_code or 500), fresh.error_message or "the run failed", event.usage)
            return event


def _usage_map(usage: RunUsage | None) -> dict:
    usage = usage or RunUsage()
    return {"token_count": usage.total_tokens, "output_count": usage.output_tokens, "input_count": usage.input_tokens}


def _keepalive_s() -> float:
    import os

    raw = os.environ.get("AGENTGATE_SSE_KEEPALIVE_S", "")
    try:
        return float(raw) if raw else 15.0
    except ValueError:
        return 15.0


def _run_turn(request, cancel):
    # The same indirection chat uses, so tests can swap the provider in one place.
    from agentgate.chat import service

    return service._run_turn(request, cancel)


# ----------------------------------------------------------------------------- entry points


async def start(owner_id: str, workflow_id: str, parameters: Any, *, run_mode: int, version: Any = None,
                bot_id: str | None = None, conversation_id: str | None = None) -> Execution:
    """Validate and create the run; raises WorkflowError (404 unknown/unpublished, 400 inputs).

    An asynchronous run's item is written before this returns (the background work reads it);
    otherwise the write overlaps the first nodes, and the outcome waits for it."""
    import time

    hit = _heads.get((owner_id, workflow_id))
    warm = hit is not None and hit[0] > time.monotonic() and version in (None, "", 0, "0")
    number, definition = (_published(owner_id, workflow_id, version) if warm  # no I/O: from the cache
                          else await asyncio.to_thread(_published, owner_id, workflow_id, version))
    inputs = definition.bind_inputs(parameters)
    deadline = now_ms() + settings().workflow_max_run_s * 1000
    run = store.new_run(owner_id, workflow_id, version=number, run_mode=run_mode, inputs=inputs,
                        deadline_ms=deadline, bot_id=bot_id, conversation_id=conversation_id)
    if run_mode == RUN_ASYNC:
        await asyncio.to_thread(run.save, condition=store.WorkflowRun.execute_id.does_not_exist())
        return Execution(definition, run, inputs=inputs)
    return Execution(definition, run, inputs=inputs, create=True)


def _done_nodes(execute_id: str) -> tuple[dict, int]:
    done: dict = {}
    seq = 0
    for node in store.run_nodes(execute_id):
        seq = max(seq, int(node.seq or 0))
        if node.status == "Success" and node.loop_index is None:
            text = node_output(node)
            done[node.node_id] = json.loads(text) if text else {}
    return done, seq


def parse_event_id(event_id: Any) -> str:
    if isinstance(event_id, int) and not isinstance(event_id, bool):
        event_id = str(event_id)
    if not isinstance(event_id, str) or "/" not in event_id:
        raise NotFound("unknown event_id")
    execute_id = event_id.split("/", 1)[0]
    if not execute_id.isdigit():
        raise NotFound("unknown event_id")
    return execute_id


async def resume(owner_id: str, workflow_id: str, event_id: Any, resume_data: Any, interrupt_type: Any) -> Execution:
    execute_id = parse_event_id(event_id)
    run = await asyncio.to_thread(store.get_run, owner_id, execute_id)
    if run is None or run.workflow_id != workflow_id:
        raise NotFound("unknown event_id: no interrupted run of this workflow has it")
    run = await asyncio.to_thread(refresh, run)
    interrupt = store_plain(run.interrupt)
    if run.status != store.INTERRUPTED:
        raise Conflict(f"the run is not interrupted (its status is {coze_status(run.status)})", status=400)
    if interrupt.get("event_id") != event_id:
        raise NotFound("unknown event_id: the run waits for another event")
    if interrupt_type is not None and str(interrupt_type) != str(interrupt.get("type")):
        raise InputError(f"interrupt_type must be {interrupt.get('type')} for this event", param="interrupt_type")
    if not isinstance(resume_data, str):
        if resume_data is None:
            raise InputError("resume_data is required (the answer)", param="resume_data")
        resume_data = json.dumps(resume_data, ensure_ascii=False) if not isinstance(resume_data, (int, float)) \
            else str(resume_data)
    W = store.WorkflowRun
    number = int(run.version or 0)
    item = await asyncio.to_thread(store.get_version, owner_id, workflow_id, number)
    if item is None:
        raise NotFound(f"workflow version {number} not found")
    definition = load_definition(workflow_id, number, item.online)
    attempt = int(run.attempt or 0)
    try:
        await asyncio.to_thread(
            store.update_run, run,
            [W.status.set(store.RUNNING), W.interrupt.remove(), W.heartbeat_at.set(now_ms()),
             W.deadline_at.set(now_ms() + settings().workflow_max_run_s * 1000), W.attempt.set(attempt + 1),
             W.run_mode.set(RUN_STREAM)],
            (W.status == store.INTERRUPTED) & (W.attempt == attempt))
    except store.LostRace:
        raise Conflict("the run was resumed already", status=409) from None
    done, seq = await asyncio.to_thread(_done_nodes, execute_id)
    return Execution(definition, run, inputs=dict(run.inputs or {}), done=done,
                     answers={interrupt["node_id"]: resume_data}, seq_start=seq)


def refresh(run: store.WorkflowRun) -> store.WorkflowRun:
    """Mark a run whose process is gone (stale heartbeat) or that passed its deadline as Fail."""
    s = settings()
    now = now_ms()
    W = store.WorkflowRun
    message = None
    if run.status == store.RUNNING:
        if now - int(run.heartbeat_at or 0) > s.workflow_stale_s * 1000:
            message = STALE_MESSAGE.format(s=s.workflow_stale_s)
        elif now > int(run.deadline_at or 0) + 1000 * max(s.workflow_stale_s, 1):
            message = DEADLINE_MESSAGE.format(s=s.workflow_max_run_s)
        condition = (W.status == store.RUNNING) & (W.heartbeat_at == run.heartbeat_at)
    elif run.status == store.INTERRUPTED and now > int(run.deadline_at or 0):
        message = "the run waited too long for an answer (AGENTGATE_WORKFLOW_RESUME_TTL_S)"
        condition = W.status == store.INTERRUPTED
    if message is None:
        return run
    try:
        store.update_run(run, [W.status.set(store.FAIL), W.error_code.set(500), W.error_message.set(message)],
                         condition=condition)
    except store.LostRace:
        fresh = store.get_run(run.owner_id, run.execute_id)
        return fresh or run
    return run


async def continue_run(owner_id: str, execute_id: str, on_final: Callable[[Any], None] | None = None) -> Any:
    """Background work: claim the run and run it to its end (or its next interrupt)."""
    run = await asyncio.to_thread(store.get_run, owner_id, execute_id)
    if run is None or run.status != store.RUNNING:
        return None
    s = settings()
    attempt = int(run.attempt or 0)
    fresh = now_ms() - int(run.heartbeat_at or 0) < s.workflow_stale_s * 1000
    if attempt > 0 and fresh:
        return None  # another worker is on it
    W = store.WorkflowRun
    try:
        await asyncio.to_thread(store.update_run, run, [W.attempt.set(attempt + 1), W.heartbeat_at.set(now_ms())],
                                (W.status == store.RUNNING) & (W.attempt == attempt))
    except store.LostRace:
        return None
    item = await asyncio.to_thread(store.get_version, owner_id, run.workflow_id, int(run.version or 0))
    if item is None:
        return None
    definition = load_definition(run.workflow_id, int(run.version), item.online)
    done, seq = await asyncio.to_thread(_done_nodes, execute_id)
    execution = Execution(definition, run, inputs=dict(run.inputs or {}), done=done, seq_start=seq)
    execution.on_final = on_final
    return await execution.collect()


async def run_job(payload: dict) -> None:
    """background/'s entry for kind "workflow_run"; payload["meter"]: policy.metering.run_meter's
    arguments (the key that asked for the run)."""
    on_final = None
    if payload.get("meter"):
        from agentgate.policy import metering

        on_final = metering.run_meter(**payload["meter"])
    await continue_run(payload["owner_id"], payload["execute_id"], on_final)


async def request_cancel(owner_id: str, execute_id: str) -> store.WorkflowRun:
    run = await asyncio.to_thread(store.get_run, owner_id, execute_id)
    if run is None:
        raise NotFound("run not found")
    W = store.WorkflowRun
    if run.status == store.INTERRUPTED:
        await asyncio.to_thread(store.update_run, run, [W.status.set(store.CANCELLED), W.error_code.set(499),
                                                       W.error_message.set("the run was cancelled"),
                                                       W.interrupt.remove()], W.status == store.INTERRUPTED)
        return run
    if run.status != store.RUNNING:
        raise Conflict(f"the run is {coze_status(run.status)}; only a running run can be cancelled", status=400)
    await asyncio.to_thread(store.update_run, run, [W.cancel_requested.set(1)])
    return run


# ----------------------------------------------------------------------------- views


def store_plain(value) -> dict:
    if value is None:
        return {}
    as_dict = getattr(value, "as_dict", None)
    return as_dict() if callable(as_dict) else dict(value)


def coze_status(status: str | None) -> str:
    """Coze knows Running, Success and Fail; an interrupted run is still running (waiting)."""
    if status in (store.SUCCESS,):
        return "Success"
    if status in (store.FAIL, store.CANCELLED):
        return "Fail"
    return "Running"


__all__ = ["start", "resume", "refresh", "continue_run", "Execution", "WorkflowError"]
