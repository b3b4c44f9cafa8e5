"""Stored OpenAI Responses (POST /v1/responses with `store`, the default).

Key design (every request path is a GetItem or a Query):
- StoredResponse: pk thread_id, sk seq. A thread is a tree of responses joined by
  previous_response_id; its first response's seq names it. `seq` is a fixed-width (20 digit),
  time-ordered number, so sort-key order is creation order.
- The public id is "resp_" + thread_id + seq (40 digits): retrieve, cancel, delete and
  input_items are one GetItem; the history behind previous_response_id is ONE Query of the
  thread up to that response (seq <= its seq), walked back along previous_seq (a thread may
  branch: siblings are skipped).
Every item carries owner_id; another owner's response is None here and 404 to the caller.
Input and output items are JSON text (their shapes are OpenAI's; the store does not read them).
"""

from __future__ import annotations

import json

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.models import Model

from agentgate.ids import new_id, now_s
from agentgate.store.base import register

PREFIX = "resp_"
SEQ_WIDTH = 20
# A DynamoDB item holds at most 400 KB; what a response keeps stays below this.
MAX_ITEM_BYTES = 350_000
# A history Query reads at most this many responses of a thread (a very long or bushy thread).
MAX_THREAD_ITEMS = 1000


@register(lambda s: s.responses_table)
class StoredResponse(Model):
    class Meta:
        table_name = "agentgate-responses"

    thread_id = UnicodeAttribute(hash_key=True)
    seq = UnicodeAttribute(range_key=True)
    owner_id = UnicodeAttribute()
    bot_id = UnicodeAttribute()
    model = UnicodeAttribute()  # as the caller named the bot (id or alias)
    previous_seq = UnicodeAttribute(null=True)
    # in_progress | completed | incomplete | failed | cancelled
    status = UnicodeAttribute(default="in_progress")
    input_items = UnicodeAttribute(default="[]")  # JSON: this request's input items, with ids
    output = UnicodeAttribute(default="[]")  # JSON: the output items
    instructions = UnicodeAttribute(null=True)
    params = UnicodeAttribute(default="{}")  # JSON: tools, tool_choice, temperature, ... as asked
    metadata = MapAttribute(default=dict)
    usage = MapAttribute(null=True)  # {input_tokens, output_tokens}
    error = MapAttribute(null=True)  # {code, message}
    incomplete_reason = UnicodeAttribute(null=True)
    cancel_requested = NumberAttribute(default=0)
    user = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    completed_at = NumberAttribute(null=True)

    @property
    def response_id(self) -> str:
        return public_id(self.thread_id, self.seq)

    @property
    def previous_response_id(self) -> str | None:
        return public_id(self.thread_id, self.previous_seq) if self.previous_seq else None

    def input_list(self) -> list[dict]:
        return _load_list(self.input_items)

    def output_list(self) -> list[dict]:
        return _load_list(self.output)

    def params_dict(self) -> dict:
        try:
            value = json.loads(self.params or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


def _load_list(raw: str | None) -> list[dict]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# ----------------------------------------------------------------------------- ids


def new_seq() -> str:
    return str(int(new_id())).zfill(SEQ_WIDTH)


def public_id(thread_id: str, seq: str) -> str:
    return f"{PREFIX}{thread_id}{seq}"


def parse_id(response_id: str) -> tuple[str, str] | None:
    """(thread_id, seq) of a public id, or None when it is not one of ours."""
    if not isinstance(response_id, str) or not response_id.startswith(PREFIX):
        return None
    body = response_id[len(PREFIX):]
    if len(body) != 2 * SEQ_WIDTH or not body.isdigit():
        return None
    return body[:SEQ_WIDTH], body[SEQ_WIDTH:]


# ----------------------------------------------------------------------------- reads


def get_response(owner_id: str, response_id: str, consistent: bool = True) -> StoredResponse | None:
    """The owner's response, or None (unknown, malformed or someone else's: callers answer 404)."""
    key = parse_id(response_id)
    if key is None:
        return None
    try:
        item = StoredResponse.get(*key, consistent_read=consistent)
    except DoesNotExist:
        return None
    return item if item.owner_id == owner_id else None


def chain(owner_id: str, response_id: str) -> list[StoredResponse] | None:
    """The response and every earlier one it continues, oldest first: one Query of its thread.

    None when the response is not the owner's. A response deleted from the middle of a chain
    ends the walk there (what came before it is forgotten, as with the deleted one).
    """
    key = parse_id(response_id)
    if key is None:
        return None
    thread_id, seq = key
    items = {item.seq: item for item in StoredResponse.query(
        thread_id, StoredResponse.seq <= seq, scan_index_forward=False, consistent_read=True,
        limit=MAX_THREAD_ITEMS)}
    head = items.get(seq)
    if head is None or head.owner_id != owner_id:
        return None
    out = [head]
    while out[-1].previous_seq and out[-1].previous_seq in items:
        prev = items[out[-1].previous_seq]
        if prev.owner_id != owner_id:
            break
        out.append(prev)
    return out[::-1]


# ----------------------------------------------------------------------------- writes


def new_response(owner_id: str, *, bot_id: str, model: str, previous: StoredResponse | None,
                 input_items: list[dict], instructions: str | None, params: dict, metadata: dict | None,
                 user: str | None) -> StoredResponse:
    """An unsaved response (its id is known at once; `save_response` writes it)."""
    seq = new_seq()
    return StoredResponse(
        thread_id=previous.thread_id if previous is not None else seq,
        seq=seq,
        owner_id=owner_id,
        bot_id=bot_id,
        model=model,
        previous_seq=previous.seq if previous is not None else None,
        status="in_progress",
        input_items=json.dumps(input_items, ensure_ascii=False),
        output="[]",
        instructions=instructions,
        params=json.dumps(params, ensure_ascii=False),
        metadata=dict(metadata or {}),
        cancel_requested=0,
        user=user,
        created_at=now_s(),
    )


def save_response(item: StoredResponse) -> StoredResponse:
    item.save()
    return item


def finish_response(item: StoredResponse, *, status: str, output: list[dict], usage: dict | None,
                    error: dict | None = None, incomplete_reason: str | None = None,
                    must_exist: bool = False) -> StoredResponse | None:
    """Write the outcome (the whole item: it may not have been written yet). With must_exist
    (its in-progress item was written), a response deleted meanwhile stays deleted: None."""
    item.status = status
    item.output = _bounded_output(output)
    item.usage = usage
    item.error = error
    item.incomplete_reason = incomplete_reason
    item.completed_at = now_s()
    try:
        item.save(condition=StoredResponse.seq.exists() if must_exist else None)
    except PutError as err:
        if err.cause_response_code != "ConditionalCheckFailedException":
            raise
        return None
    return item


def _bounded_output(output: list[dict]) -> str:
    """The output as JSON, cut to fit an item: an answer that long keeps its first part."""
    raw = json.dumps(output, ensure_ascii=False)
    if len(raw.encode()) <= MAX_ITEM_BYTES:
        return raw
    budget = MAX_ITEM_BYTES // 4  # characters: at most 4 bytes each
    cut = []
    for item in output:
        item = dict(item)
        if item.get("type") == "message":
            parts = []
            for part in item.get("content") or []:
                text = part.get("text", "")
                parts.append({**part, "text": text[:budget]})
                budget = max(0, budget - len(text))
            item["content"] = parts
        elif len(item.get("arguments", "")) > budget:
            item["arguments"] = item["arguments"][:budget]
        cut.append(item)
    return json.dumps(cut, ensure_ascii=False)


def request_cancel(item: StoredResponse) -> StoredResponse:
    """Flag an in-progress response: the instance generating it polls the flag and stops."""
    try:
        item.update(actions=[StoredResponse.cancel_requested.set(1)],
                    condition=StoredResponse.status == "in_progress")
    except UpdateError as err:
        if err.cause_response_code != "ConditionalCheckFailedException":
            raise
        item.refresh(consistent_read=True)
    return item


def cancel_requested(item: StoredResponse, consistent: bool = True) -> bool:
    """Whether a cancel landed on the stored item (one GetItem; the stream's poll reads it
    eventually consistently, for half the read units)."""
    try:
        fresh = StoredResponse.get(item.thread_id, item.seq, consistent_read=consistent,
                                   attributes_to_get=["cancel_requested"])
    except DoesNotExist:
        return False
    return bool(fresh.cancel_requested)


def delete_response(item: StoredResponse) -> None:
    item.delete()
