"""The conversations endpoint group: Coze's conversations and messages API (seed 002, cozepy).

Answers are Coze's envelope {code: 0, msg: "", data}. Writes need the `chat` scope, reads `read`.
Another owner's conversation or message is 404, like an unknown one. Every body is validated
in full before anything is written, so a refused request changes nothing.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal

from fastapi import Body, Depends, Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, ValidationInfo, field_validator

from agentgate import jsonlimits
from agentgate.api.app import create_app
from agentgate.policy import bindings
from agentgate.api.deps import requires
from agentgate.api.errors import ApiError, invalid, not_found
from agentgate.api.openapi import errors
from agentgate.auth.principal import Principal
from agentgate.auth.scopes import CHAT, READ
from agentgate.ids import coerce_id
from agentgate.store import conversations as store

app = create_app("conversations")

Writer = Annotated[Principal, Depends(requires(CHAT))]
Reader = Annotated[Principal, Depends(requires(READ))]

CONTENT_MAX = 100_000  # characters of one message
MESSAGES_MAX = 100  # initial messages of one conversation (Coze's additional_messages limit)
META_PAIRS_MAX = 16
META_KEY_MAX = 64
META_VALUE_MAX = 512
ID_PATTERN = r"^[0-9]{1,20}$"
# Conversations also hold the OpenAI surface's memory sessions ("sess_" + 32 hex digits).
CONVERSATION_ID_PATTERN = r"^(?:[0-9]{1,20}|sess_[0-9a-f]{32})$"
MESSAGE_TYPES = ("question", "answer", "function_call", "tool_output", "tool_response", "follow_up", "verbose")
DEFAULT_TYPE = {"user": "question", "assistant": "answer"}


# ----------------------------------------------------------------------------- request bodies


def _check_meta(value: dict | None) -> dict | None:
    if value is None:
        return None
    if len(value) > META_PAIRS_MAX:
        raise ValueError(f"at most {META_PAIRS_MAX} meta_data pairs")
    for key, item in value.items():
        if not 1 <= len(key) <= META_KEY_MAX:
            raise ValueError(f"meta_data keys must be 1 to {META_KEY_MAX} characters")
        if len(item) > META_VALUE_MAX:
            raise ValueError(f"meta_data values must be at most {META_VALUE_MAX} characters")
    return value


# Field before the validator: its pattern is then in the JSON schema too (it is checked after coerce_id).
Id = Annotated[StrictStr, Field(pattern=ID_PATTERN), BeforeValidator(coerce_id)]
MetaData = Annotated[dict[StrictStr, Annotated[StrictStr, Field(max_length=META_VALUE_MAX)]] | None, Field(
    default=None, json_schema_extra={"maxProperties": META_PAIRS_MAX,
                                     "propertyNames": {"minLength": 1, "maxLength": META_KEY_MAX}})]
Content = Annotated[StrictStr, Field(max_length=CONTENT_MAX)]
ContentType = Literal["text", "object_string", "card"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")

    _meta = field_validator("meta_data", check_fields=False)(_check_meta)


def _object_string(content: str | None, info: ValidationInfo) -> str | None:
    # object_string content is a JSON array of parts ({type: text|file|image, ...}).
    if content is None or info.data.get("content_type") != "object_string":
        return content
    try:
        parts = jsonlimits.loads(content)
    except jsonlimits.JsonTooDeep as exc:
        raise ValueError(f"content of type object_string is {exc}") from None
    except ValueError:
        raise ValueError("content of type object_string must be a JSON array") from None
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise ValueError("content of type object_string must be a JSON array of objects")
    return content


class EnterMessage(_Body):
    role: Literal["user", "assistant"]
    # cozepy sends "" for an unset type: the role's default then applies.
    type: Literal["", *MESSAGE_TYPES] | None = None
    content_type: ContentType = "text"  # before content: content's check reads it
    content: Content
    meta_data: MetaData

    _parts = field_validator("content")(_object_string)

    def stored(self) -> dict:
        return {"role": self.role, "type": self.type or DEFAULT_TYPE[self.role], "content": self.content,
                "content_type": self.content_type, "meta_data": self.meta_data or {}}


class CreateConversation(_Body):
    # Optional, as on Coze (cozepy's conversations.create() sends none): the first chat binds it.
    bot_id: Id | None = None
    user_id: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = None
    name: Annotated[StrictStr, Field(max_length=100)] | None = None
    messages: Annotated[list[EnterMessage], Field(max_length=MESSAGES_MAX)] | None = None
    meta_data: MetaData


class UpdateConversation(_Body):
    name: Annotated[StrictStr, Field(max_length=100)] | None = None
    meta_data: MetaData


class ModifyMessage(_Body):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"anyOf": [
        {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
        for name in ("content", "content_type", "meta_data")]})  # nothing to modify: 422
    content_type: ContentType | None = None
    content: Content | None = None
    meta_data: MetaData

    _parts = field_validator("content")(_object_string)

    def is_empty(self) -> bool:
        return self.content is None and self.content_type is None and self.meta_data is None


class ListMessages(_Body):
    order: Literal["asc", "desc"] | None = None
    chat_id: Id | None = None
    before_id: Id | None = None
    after_id: Id | None = None
    limit: Annotated[int, Field(ge=1, le=50)] | None = None


# ----------------------------------------------------------------------------- answers


def _ok(data) -> dict:
    return {"code": 0, "msg": "", "data": data}


def conversation_view(conv: store.Conversation) -> dict:
    return {
        "id": conv.conversation_id,
        "created_at": int(conv.created_at),
        "updated_at": int(conv.updated_at),
        "meta_data": store.plain(conv.meta_data),
        "last_section_id": conv.section_id,
        "name": conv.name or "",
        "bot_id": conv.bot_id or "",
        "user_id": conv.user_id or "",
    }


def message_view(msg: store.Message) -> dict:
    return {
        "id": msg.message_id,
        "conversation_id": msg.conversation_id,
        "bot_id": msg.bot_id or "",
        "chat_id": msg.chat_id or "",
        "section_id": msg.section_id or "",
        "role": msg.role,
        "type": msg.type,
        "content": msg.content,
        "content_type": msg.content_type,
        "meta_data": store.plain(msg.meta_data),
        "created_at": int(msg.created_at),
        "updated_at": int(msg.updated_at),
    }


# ----------------------------------------------------------------------------- lookups


def bot_is_published(owner_id: str, bot_id: str) -> bool | None:
    """Whether the owner has this bot online; None where the bots store is not deployed."""
    try:
        from agentgate.store.bots import resolve_online_bot
    except ImportError:
        return None
    return resolve_online_bot(owner_id, bot_id) is not None


def _checked(value: str, name: str, pattern: str = ID_PATTERN) -> str:
    value = value.strip()
    if not re.fullmatch(pattern, value):
        raise invalid(f"{name} must be a numeric id", param=name)
    return value


def _conversation(principal: Principal, conversation_id: str) -> store.Conversation:
    cid = _checked(conversation_id, "conversation_id", CONVERSATION_ID_PATTERN)
    conv = store.get_conversation(principal.owner_id, cid)
    if conv is None or not bindings.bot_id_allowed(principal, conv.bot_id):
        raise not_found(f"conversation not found: {cid}")  # another bot's, for a bound key: none
    return conv


def _path_conversation(principal: Principal, conversation_id: str) -> store.Conversation:
    # A path segment that cannot be an id names nothing: 404 rather than a validation error.
    if not re.fullmatch(CONVERSATION_ID_PATTERN, conversation_id):
        raise not_found(f"conversation not found: {conversation_id[:64]}")
    return _conversation(principal, conversation_id)


def _message(principal: Principal, conversation_id: str, message_id: str) -> tuple[store.Conversation,
                                                                                      store.Message]:
    conv = _conversation(principal, conversation_id)
    mid = _checked(message_id, "message_id")
    msg = store.get_message(principal.owner_id, conv.conversation_id, mid)
    if msg is None:
        raise not_found(f"message not found: {mid}")
    return conv, msg


# The id patterns are stated, and checked by the routes (a query id off the pattern is 422, a path
# segment off it names nothing: 404).
ConversationIdQ = Annotated[str, Query(min_length=1, max_length=64,
                                       json_schema_extra={"pattern": CONVERSATION_ID_PATTERN})]
MessageIdQ = Annotated[str, Query(min_length=1, max_length=64, json_schema_extra={"pattern": ID_PATTERN})]
ConversationIdP = Annotated[str, Path(json_schema_extra={"pattern": CONVERSATION_ID_PATTERN})]
NOT_FOUND = errors(404)


# ----------------------------------------------------------------------------- conversations


@app.post("/v1/conversation/create", responses=NOT_FOUND)
def create_conversation(body: CreateConversation, principal: Writer):
    if body.bot_id is not None and (bot_is_published(principal.owner_id, body.bot_id) is False
                                    or not bindings.bot_id_allowed(principal, body.bot_id)):
        raise ApiError(404, "bot not found or not published")
    conv = store.create_conversation(principal.owner_id, body.bot_id or "", user_id=body.user_id,
                                     meta_data=body.meta_data, name=body.name)
    if body.messages:
        store.add_messages(principal.owner_id, conv.conversation_id, [m.stored() for m in body.messages],
                           bot_id=conv.bot_id, section_id=conv.section_id)
    return _ok(conversation_view(conv))


@app.get("/v1/conversation/retrieve", responses=NOT_FOUND)
@app.post("/v1/conversation/retrieve", responses=NOT_FOUND)
def retrieve_conversation(principal: Reader, conversation_id: ConversationIdQ):
    return _ok(conversation_view(_conversation(principal, conversation_id)))


@app.get("/v1/conversations", responses=NOT_FOUND)
def list_conversations(
    principal: Reader,
    bot_id: Annotated[str, Query(min_length=1, max_length=20, json_schema_extra={"pattern": ID_PATTERN})],
    page_num: Annotated[int, Query(ge=1, le=10_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 50,
    user_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    sort_order: Annotated[str, Query(pattern=r"(?i)^(asc|desc)$")] = "desc",
):
    bot = _checked(bot_id, "bot_id")
    if not bindings.bot_id_allowed(principal, bot):
        raise ApiError(404, "bot not found or not published")
    items, has_more = store.list_conversations(principal.owner_id, bot, page_num, page_size, user_id,
                                               newest_first=sort_order.lower() == "desc")
    return _ok({"conversations": [conversation_view(c) for c in items], "has_more": has_more})


@app.get("/v1/conversations/{conversation_id}", responses=NOT_FOUND)
def get_conversation(conversation_id: ConversationIdP, principal: Reader):
    return _ok(conversation_view(_path_conversation(principal, conversation_id)))


@app.put("/v1/conversations/{conversation_id}", responses=NOT_FOUND)
def update_conversation(conversation_id: ConversationIdP, principal: Writer, body: UpdateConversation):
    conv = _path_conversation(principal, conversation_id)
    store.update_conversation(conv, name=body.name, meta_data=body.meta_data)
    return _ok(conversation_view(conv))


@app.post("/v1/conversations/{conversation_id}/clear", responses=NOT_FOUND)
def clear_conversation(conversation_id: ConversationIdP, principal: Writer):
    conv = store.clear_conversation(_path_conversation(principal, conversation_id))
    return _ok({"id": conv.section_id, "conversation_id": conv.conversation_id})


@app.delete("/v1/conversations/{conversation_id}", responses=NOT_FOUND)
def delete_conversation(conversation_id: ConversationIdP, principal: Writer):
    conv = _path_conversation(principal, conversation_id)
    store.delete_conversation(conv)
    # Turns streaming into it stop (the cancel path): here at once, on another instance through
    # its chat poll, which finds the chat gone; whatever they still write removes itself.
    from agentgate.chat import registry

    registry.cancel_conversation(principal.owner_id, conv.conversation_id, "deleted")
    return _ok({"conversation_id": conv.conversation_id, "deleted": True})


# ----------------------------------------------------------------------------- messages


@app.post("/v1/conversation/message/create", responses=NOT_FOUND)
def create_message(principal: Writer, conversation_id: ConversationIdQ, body: EnterMessage):
    conv = _conversation(principal, conversation_id)
    msg = store.add_message(principal.owner_id, conv.conversation_id, bot_id=conv.bot_id,
                            section_id=conv.section_id, **body.stored())
    store.touch_conversation(conv)
    return _ok(message_view(msg))


@app.get("/v1/conversation/message/retrieve", responses=NOT_FOUND)
@app.post("/v1/conversation/message/retrieve", responses=NOT_FOUND)
def retrieve_message(principal: Reader, conversation_id: ConversationIdQ, message_id: MessageIdQ):
    _, msg = _message(principal, conversation_id, message_id)
    return _ok(message_view(msg))


@app.post("/v1/conversation/message/modify", responses=NOT_FOUND)
def modify_message(principal: Writer, conversation_id: ConversationIdQ, message_id: MessageIdQ,
                   body: ModifyMessage):
    if body.is_empty():
        raise invalid("nothing to modify: give content, content_type and/or meta_data")
    _, msg = _message(principal, conversation_id, message_id)
    store.update_message(msg, content=body.content, content_type=body.content_type, meta_data=body.meta_data)
    view = message_view(msg)
    # cozepy reads the modified message from `message`; `data` for every other reader.
    return {"code": 0, "msg": "", "message": view, "data": view}


@app.post("/v1/conversation/message/delete", responses=NOT_FOUND)
def delete_message(principal: Writer, conversation_id: ConversationIdQ, message_id: MessageIdQ):
    _, msg = _message(principal, conversation_id, message_id)
    store.delete_message(msg)
    return _ok(message_view(msg))


@app.post("/v1/conversation/message/list", responses=NOT_FOUND)
def list_messages(principal: Reader, conversation_id: ConversationIdQ,
                  body: Annotated[ListMessages | None, Body()] = None):
    conv = _conversation(principal, conversation_id)
    body = body or ListMessages()
    items, has_more = store.list_messages(principal.owner_id, conv.conversation_id, order=body.order or "desc",
                                          chat_id=body.chat_id, before_id=body.before_id,
                                          after_id=body.after_id, limit=body.limit or 50)
    views = [message_view(m) for m in items]
    # cozepy's pager reads first_id / last_id / has_more beside `data` (not inside it).
    return {"code": 0, "msg": "", "data": views, "first_id": views[0]["id"] if views else "",
            "last_id": views[-1]["id"] if views else "", "has_more": has_more}
