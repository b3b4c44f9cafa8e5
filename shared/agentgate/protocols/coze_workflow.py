"""Coze workflow wire formats: the stream_run / stream_resume SSE, the run answer, run histories,
workflow and version objects (cozepy.workflows parses exactly these).

The SSE: every event is three lines, `id: <n>`, `event: <Name>`, `data: <json>` (cozepy's
parser reads exactly these three fields and raises on anything else, comments included, so the
keep-alive is a `PING` event). Names are case-sensitive: Message, Error, Done, Interrupt, PING.
"""

from __future__ import annotations

import json
from typing import Any

from agentgate.protocols.sse import KeepAlive, dumps
from agentgate.workflows.events import (
    Completed, Delta, Failed, Interrupted, NodeFinished, NodeMessage, RunUsage,
)

DEBUG_URL = "https://www.coze.cn/work_flow?execute_id={execute_id}&workflow_id={workflow_id}"


def debug_url(workflow_id: str, execute_id: str) -> str:
    # There is no debug UI here; the URL names the run the way Coze's does.
    return DEBUG_URL.format(execute_id=execute_id, workflow_id=workflow_id)


def usage_dict(usage: RunUsage | None) -> dict:
    usage = usage or RunUsage()
    return {"token_count": usage.total_tokens, "output_count": usage.output_tokens, "input_count": usage.input_tokens}


class StreamRenderer:
    """Neutral workflow events -> Coze workflow SSE frames (bytes, one send each)."""

    def __init__(self, *, workflow_id: str, execute_id: str):
        self.workflow_id = workflow_id
        self.execute_id = execute_id
        self._id = 0
        self._node_seq: dict[str, int] = {}

    def _frame(self, event: str, data: Any) -> bytes:
        frame = f"id: {self._id}\nevent: {event}\ndata: {data if isinstance(data, str) else dumps(data)}\n\n"
        self._id += 1
        return frame.encode()

    def _message(self, title: str, content: str, finished: bool, usage: dict | None = None,
                 node_id: str | None = None) -> bytes:
        seq = self._node_seq.get(title, 0)
        self._node_seq[title] = seq + 1
        data = {"content": content, "node_title": title, "node_seq_id": str(seq), "node_is_finish": finished}
        if node_id:
            data["node_id"] = node_id
        if usage is not None:
            data["usage"] = usage
        return self._frame("Message", data)

    def render(self, event) -> bytes:
        kind = type(event)
        if kind is Delta:
            return self._message(event.title, event.text, False)
        if kind is NodeMessage:
            return self._message(event.title, event.content, event.finished, node_id=event.node_id)
        if kind is NodeFinished:
            if event.streamed and event.stream_title == event.title:
                return self._message(event.title, "", True, node_id=event.node_id)
            return b""
        if kind is KeepAlive:
            return self._frame("PING", {})
        if kind is Completed:
            return self._frame("Done", {"debug_url": debug_url(self.workflow_id, self.execute_id),
                                        "execute_id": self.execute_id, "usage": usage_dict(event.usage)})
        if kind is Interrupted:
            return self._frame("Interrupt", {"interrupt_data": {"event_id": event.event_id, "type": event.type},
                                             "node_title": event.title, "content": event.question,
                                             "execute_id": self.execute_id})
        if kind is Failed:
            return self._frame("Error", {"error_code": int(event.code), "error_message": event.message,
                                         "execute_id": self.execute_id})
        return b""

    def error(self, code: int, message: str) -> bytes:
        return self._frame("Error", {"error_code": int(code), "error_message": message})


def run_answer(workflow_id: str, execute_id: str, final, *, is_async: bool = False) -> dict:
    """POST /v1/workflow/run: {code, msg, data (JSON text of the outputs), execute_id, debug_url, usage}."""
    body = {"code": 0, "msg": "", "execute_id": execute_id, "debug_url": debug_url(workflow_id, execute_id)}
    if is_async:
        body["data"] = ""
        return body
    body["data"] = json.dumps(final.output, ensure_ascii=False) if isinstance(final, Completed) else ""
    body["usage"] = usage_dict(getattr(final, "usage", None))
    if isinstance(final, Interrupted):
        body["interrupt_data"] = {"event_id": final.event_id, "type": final.type, "node_title": final.title,
                                  "content": final.question}
    return body


def run_history(run, *, output: str, nodes: list | None = None) -> dict:
    """One WorkflowRunHistory (cozepy's fields)."""
    from agentgate.workflows.runs import coze_status, store_plain

    usage = store_plain(run.usage) or {"token_count": 0, "output_count": 0, "input_count": 0}
    item = {
        "execute_id": run.execute_id,
        "execute_status": coze_status(run.status),
        "bot_id": run.bot_id or "0",
        "connector_id": "1024",
        "connector_uid": run.owner_id,
        "run_mode": int(run.run_mode or 0),
        "logid": run.execute_id,
        "create_time": int(run.created_at),
        "update_time": int(run.updated_at),
        "output": output,
        "error_code": int(run.error_code or 0) if run.status in ("Fail", "Cancelled") else 0,
        "error_message": run.error_message or "" if run.status in ("Fail", "Cancelled") else "",
        "debug_url": debug_url(run.workflow_id, run.execute_id),
        "usage": {k: int(usage.get(k) or 0) for k in ("token_count", "output_count", "input_count")},
        "is_output_trimmed": False,
        "workflow_id": run.workflow_id,
        "status": run.status,  # this gateway's own, finer status (Interrupted, Cancelled)
    }
    interrupt = store_plain(run.interrupt)
    if interrupt:
        item["interrupt_data"] = {"event_id": interrupt.get("event_id"), "type": int(interrupt.get("type") or 2),
                                  "node_title": interrupt.get("title"), "content": interrupt.get("question")}
    if nodes is not None:
        item["node_execute_status"] = {
            _node_key(n): {"node_id": n.node_id, "is_finish": n.status in ("Success", "Fail"),
                           "update_time": int(n.updated_at), "node_execute_uuid": n.node_execute_uuid,
                           "loop_index": int(n.loop_index) if n.loop_index is not None else None,
                           "node_status": n.status}
            for n in nodes
        }
    return item


def _node_key(node) -> str:
    return node.node_id if node.loop_index is None else f"{node.node_id}#{int(node.loop_index)}"


def node_history(node, output: str) -> dict:
    return {"is_finish": node.status in ("Success", "Fail"), "node_output": output, "node_id": node.node_id,
            "node_type": node.node_type, "node_title": node.title, "node_status": node.status,
            "node_input": node.node_input or "", "error_message": node.error_message or "",
            "node_execute_uuid": node.node_execute_uuid}


def workflow_basic(head) -> dict:
    return {"workflow_id": head.workflow_id, "workflow_name": head.name, "description": head.description or "",
            "icon_url": "", "app_id": "", "created_at": int(head.created_at), "updated_at": int(head.updated_at),
            "creator": {"id": head.owner_id, "name": head.owner_id},
            "version": str(int(head.version or 0)), "is_published": bool(head.version), "mode": head.mode}


def version_info(item) -> dict:
    return {"version": str(int(item.version)), "description": item.version_description or item.description or "",
            "created_at": str(int(item.created_at)), "updated_at": str(int(item.updated_at)),
            "workflow_id": item.workflow_id, "creator": {"id": item.owner_id, "name": item.owner_id}}
