"""The bots endpoint group: Coze's bot API (create, update, publish, unpublish, list, retrieve).

Edits change a bot's draft; publish freezes the draft as the next online version, which is what
chat serves. Admin keys manage bots and see drafts; chat and read keys see published bots only.
Bodies follow cozepy (prompt_info, model_info_config, ...) plus agentgate's flat extensions
(model, temperature, max_tokens, memory_window, variables, aliases, icon_url).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Body, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from agentgate.api.app import create_app
from agentgate.policy import bindings
from agentgate.api.deps import requires
from agentgate.api.errors import ApiError
from agentgate.api.openapi import errors
from agentgate.auth.principal import Principal
from agentgate.auth.scopes import ADMIN, READ
from agentgate.ids import coerce_id
from agentgate.store import bots as store
from agentgate.store.bots import BotSnapshot

app = create_app("bots")

NOT_PUBLISHED = "bot not found or not published"  # seed 002's 404
NOT_FOUND = "bot not found"

REF_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"  # a bot id (digits) or an alias
# "provider/model" (model part may hold '.', ':', '@', '/', e.g. Bedrock ids) or a bare provider.
MODEL_PATTERN = r"^[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_.:@+/-]{1,200})?$"
VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"

# ---------------------------------------------------------------------------------------- input


Name = Annotated[StrictStr, Field(min_length=1, max_length=100)]
Ref = Annotated[StrictStr, Field(pattern=REF_PATTERN)]
LooseId = Annotated[StrictStr, Field(min_length=1, max_length=128)]
def _known_model(schema: dict) -> None:
    # ... and it must resolve to a configured provider (or model alias): a 400 otherwise.
    from agentgate.runner.providers import model_pattern

    schema["allOf"] = [{"pattern": model_pattern()}]


ModelName = Annotated[StrictStr, Field(pattern=MODEL_PATTERN, json_schema_extra=_known_model)]
Temperature = Annotated[float, Field(ge=0, le=2, strict=True)]
MaxTokens = Annotated[StrictInt, Field(ge=1, le=32000)]
MemoryWindow = Annotated[StrictInt, Field(ge=0, le=200)]
# ... not all digits (it would read as a bot id: a 422 from _check_aliases).
Alias = Annotated[StrictStr, Field(pattern=REF_PATTERN, json_schema_extra={"pattern": r"^(?![0-9]+$)[A-Za-z0-9_.-]{1,64}$"})]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PromptInfo(_Body):
    prompt: Annotated[StrictStr, Field(max_length=20000)] = ""


class OnboardingInfo(_Body):
    prologue: Annotated[StrictStr, Field(max_length=5000)] = ""
    suggested_questions: Annotated[list[Annotated[StrictStr, Field(max_length=500)]], Field(max_length=10)] | None = None


class ModelInfoConfig(_Body):
    model_id: ModelName | None = None
    temperature: Temperature | None = None
    max_tokens: MaxTokens | None = None
    context_round: Annotated[StrictInt, Field(ge=0, le=100)] | None = None  # Coze: turns remembered

    _id = field_validator("model_id", mode="before")(coerce_id)


class PluginIdInfo(_Body):
    plugin_id: LooseId
    api_id: LooseId

    _ids = field_validator("plugin_id", "api_id", mode="before")(coerce_id)


class PluginIdList(_Body):
    id_list: Annotated[list[PluginIdInfo], Field(max_length=50)] | None = None


class WorkflowIdInfo(_Body):
    id: LooseId

    _id = field_validator("id", mode="before")(coerce_id)


class WorkflowIdList(_Body):
    ids: Annotated[list[WorkflowIdInfo], Field(max_length=50)] | None = None


class BotKnowledge(_Body):
    """Coze's knowledge object: the bound datasets (auto_call and search_strategy are accepted)."""

    dataset_ids: Annotated[list[LooseId], Field(max_length=10)] | None = None
    auto_call: bool | None = None
    search_strategy: StrictInt | None = None

    _ids = field_validator("dataset_ids", mode="before")(lambda v: [coerce_id(x) for x in v] if isinstance(v, list) else v)


class BotFields(_Body):
    """What create and update share. None means "not given" (cozepy drops None values)."""

    name: Name | None = None
    description: Annotated[StrictStr, Field(max_length=2000)] | None = None
    icon_url: Annotated[StrictStr, Field(max_length=2048)] | None = None
    icon_file_id: LooseId | None = None
    prompt_info: PromptInfo | None = None
    prompt: Annotated[StrictStr, Field(max_length=20000)] | None = None  # seed 002's flat field
    onboarding_info: OnboardingInfo | None = None
    model_info_config: ModelInfoConfig | None = None
    plugin_id_list: PluginIdList | None = None
    workflow_id_list: WorkflowIdList | None = None
    # agentgate extensions (they win over the Coze-shaped ones)
    model: ModelName | None = None
    temperature: Temperature | None = None
    max_tokens: MaxTokens | None = None
    memory_window: MemoryWindow | None = None
    variables: Annotated[
        dict[Annotated[str, Field(pattern=VARIABLE_PATTERN)], Annotated[StrictStr, Field(max_length=2000)]],
        Field(max_length=50, json_schema_extra={"additionalProperties": False}),
    ] | None = None
    aliases: Annotated[list[Alias], Field(max_length=10)] | None = None
    knowledge: BotKnowledge | None = None  # Coze
    knowledge_ids: Annotated[list[LooseId], Field(max_length=10)] | None = None  # seed 001's agents

    _icon = field_validator("icon_file_id", mode="before")(coerce_id)
    _knowledge = field_validator("knowledge_ids", mode="before")(
        lambda v: [coerce_id(x) for x in v] if isinstance(v, list) else v)

    @field_validator("name")
    @classmethod
    def _strip_name(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("name must not be blank")
        return v.strip() if v is not None else v

    @field_validator("aliases")
    @classmethod
    def _check_aliases(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        for alias in v:
            if alias.isdigit():
                raise ValueError(f"alias '{alias}' is all digits and would read as a bot id")
        return list(dict.fromkeys(v))  # duplicates collapse, order kept


class CreateBot(BotFields):
    name: Name
    space_id: LooseId | None = None  # one space per owner: accepted, not used

    _space = field_validator("space_id", mode="before")(coerce_id)


class UpdateBot(BotFields):
    bot_id: Ref

    _bot = field_validator("bot_id", mode="before")(coerce_id)


class PublishBot(_Body):
    bot_id: Ref
    connector_ids: list[StrictStr | StrictInt] | None = None  # channels; agentgate has one (API)

    _bot = field_validator("bot_id", mode="before")(coerce_id)


class UnpublishBot(_Body):
    connector_id: StrictStr | StrictInt | None = None
    unpublish_reason: Annotated[StrictStr, Field(max_length=1024)] | None = None


def _draft_values(body: BotFields) -> dict:
    """The store's draft fields from a request body; flat extensions win over Coze's shapes."""
    info = body.model_info_config or ModelInfoConfig()
    memory = body.memory_window
    if memory is None and info.context_round is not None:
        memory = min(info.context_round * 2, 200)  # a round is a question and its answer
    prompt = body.prompt if body.prompt is not None else (body.prompt_info.prompt if body.prompt_info else None)
    values = {
        "name": body.name,
        "description": body.description,
        "icon_url": body.icon_url,
        "icon_file_id": body.icon_file_id,
        "prompt": prompt,
        "model": body.model or info.model_id,
        "temperature": body.temperature if body.temperature is not None else info.temperature,
        "max_tokens": body.max_tokens if body.max_tokens is not None else info.max_tokens,
        "memory_window": memory,
        "variables": body.variables,
    }
    # The icon is either an uploaded file (its URL is signed when shown) or a given URL: setting one
    # clears the other.
    if body.icon_file_id and body.icon_url is None:
        values["icon_url"] = ""
    elif body.icon_url is not None and body.icon_file_id is None:
        values["icon_file_id"] = ""
    if body.onboarding_info is not None:
        values["onboarding"] = body.onboarding_info.model_dump()
    if body.plugin_id_list is not None:
        values["tools"] = [p.model_dump() for p in body.plugin_id_list.id_list or []]
    if body.workflow_id_list is not None:
        values["workflows"] = [w.id for w in body.workflow_id_list.ids or []]
    knowledge_ids = body.knowledge_ids if body.knowledge_ids is not None else (
        body.knowledge.dataset_ids if body.knowledge is not None else None)
    if knowledge_ids is not None:
        values["knowledge_ids"] = list(dict.fromkeys(knowledge_ids))
    return {k: v for k, v in values.items() if v is not None}


# ---------------------------------------------------------------------------------------- output


def _ok(data) -> dict:
    return {"code": 0, "msg": "", "data": data}


def _ok_flat(data: dict) -> dict:
    """Seed 002's flat answer, inside Coze's envelope too, so either reading works."""
    return {"code": 0, "msg": "", **data, "data": data}


def _icon_url(s: BotSnapshot) -> str:
    """The icon's URL: the explicit icon_url, else a fresh signed URL of the uploaded icon_file_id
    (signed when shown, since signed URLs expire; "" if the file is gone)."""
    if s.icon_url or not s.icon_file_id:
        return s.icon_url
    from agentgate.files import service as files

    record = files.get_file(s.owner_id, s.icon_file_id)
    return files.signed_url(record) if record is not None else ""


def _check_icon(owner_id: str, file_id: str | None) -> None:
    """icon_file_id must name one of the owner's uploaded images."""
    if not file_id:
        return
    from agentgate.files import service as files

    record = files.get_file(owner_id, file_id)
    if record is None:
        raise ApiError(404, f"icon file not found: {file_id}", param="icon_file_id")
    if not str(record.content_type).startswith("image/"):
        raise ApiError(415, f"the icon must be an image, not {record.content_type}", param="icon_file_id")


def coze_bot(s: BotSnapshot) -> dict:
    """A Coze bot object (what cozepy's Bot parses), seed 002's flat fields, and our extensions."""
    return {
        "bot_id": s.bot_id,
        "name": s.name,
        "description": s.description,
        "icon_url": _icon_url(s),
        "icon_file_id": s.icon_file_id,
        "create_time": s.created_at,
        "update_time": s.updated_at,
        "version": s.version,
        "prompt_info": {"prompt": s.prompt},
        "onboarding_info": {"prologue": s.onboarding.get("prologue", ""),
                            "suggested_questions": list(s.onboarding.get("suggested_questions") or [])},
        "knowledge": {"dataset_ids": list(s.knowledge_ids), "auto_call": True, "search_strategy": 1},
        "bot_mode": 0,  # single agent
        "plugin_info_list": [
            {"plugin_id": t["plugin_id"], "name": "", "description": "", "icon_url": "",
             "api_info_list": [{"api_id": t["api_id"], "name": "", "description": ""}]}
            for t in s.tools if isinstance(t, dict) and "plugin_id" in t and "api_id" in t
        ],
        "model_info": {"model_id": s.model, "model_name": s.model, "temperature": s.temperature,
                       "max_tokens": s.max_tokens, "context_round": s.memory_window // 2},
        "variables": [
            {"keyword": k, "default_value": v, "variable_type": "KVVariable", "channel": "custom",
             "description": "", "enable": True, "prompt_enable": True}
            for k, v in s.variables.items()
        ],
        "owner_user_id": s.owner_id,
        "workflow_info_list": [{"id": w, "name": "", "description": "", "icon_url": ""} for w in s.workflows],
        # seed 002 (get_online_info)
        "prompt": s.prompt,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        # agentgate
        "aliases": s.aliases,
        "knowledge_ids": list(s.knowledge_ids),
        "model": s.model,
        "temperature": s.temperature,
        "max_tokens": s.max_tokens,
        "memory_window": s.memory_window,
        "is_published": s.is_published,
        "published_at": s.published_at,
    }


def simple_bot(s: BotSnapshot) -> dict:
    """A list entry (cozepy's SimpleBot, with the older bot_id/bot_name/publish_time names too)."""
    return {
        "id": s.bot_id,
        "bot_id": s.bot_id,
        "name": s.name,
        "bot_name": s.name,
        "description": s.description,
        "icon_url": _icon_url(s),
        "is_published": s.is_published,
        "published_at": s.published_at,
        "publish_time": str(s.published_at or s.updated_at),
        "updated_at": s.updated_at,
        "owner_user_id": s.owner_id,
        "version": s.version,
        "aliases": s.aliases,
        "model": s.model,
    }


# ---------------------------------------------------------------------------------------- helpers

Admin = Annotated[Principal, Depends(requires(ADMIN))]
Reader = Annotated[Principal, Depends(requires(READ))]
# A path that cannot name a bot names none (404, not a validation error): the pattern is stated, not enforced.
BotRef = Annotated[str, Path(description="a bot id or alias", json_schema_extra={"pattern": REF_PATTERN})]


def _check_model(model: str | None) -> None:
    """A bot's model must resolve (through AGENTGATE_MODEL_ALIASES) to a configured provider."""
    if not model:
        return  # the default model (AGENTGATE_DEFAULT_MODEL) applies
    from agentgate.runner.providers import UnknownModel, check_model

    try:
        check_model(model)
    except UnknownModel as err:
        raise ApiError(400, str(err), param="model") from None


def _check_knowledge(principal: Principal, values: dict) -> None:
    """Bound knowledge bases must be the owner's (404 otherwise, as for any unknown id)."""
    if values.get("knowledge_ids"):
        from agentgate.knowledge.bases import get_bases
        from agentgate.knowledge.errors import KnowledgeError

        try:
            get_bases(principal.owner_id, values["knowledge_ids"])
        except KnowledgeError as err:
            raise ApiError(err.status, err.message, param="knowledge_ids") from err


def _write(fn, *args):
    """Run a store write, turning its rule errors into API errors."""
    try:
        return fn(*args)
    except store.AliasTaken as err:
        raise ApiError(409, str(err), param="aliases") from err
    except store.ConfigTooLarge as err:
        raise ApiError(422, str(err)) from err
    except store.ConcurrentChange as err:
        raise ApiError(409, "the bot changed while being updated; try again") from err


def _online(principal: Principal, ref: str | None) -> BotSnapshot:
    snap = store.resolve_online_bot(principal.owner_id, ref or "")
    if snap is None or not bindings.bot_allowed(principal, snap):
        raise ApiError(404, NOT_PUBLISHED)
    return snap


def _draft(principal: Principal, ref: str):
    """The owner's bot (draft item) by id or alias, inside a bound key's binding; else 404."""
    bot = store.get_bot(principal.owner_id, ref)
    if bot is None or not bindings.bot_allowed(principal, store.draft_snapshot(bot)):
        raise ApiError(404, NOT_FOUND)
    return bot


def _listed(principal: Principal, status: str, page: int, size: int) -> tuple[list[BotSnapshot], int]:
    """One page of the owner's bots; for a bound key, of the bots in its binding only."""
    if not principal.bot_ids:
        return store.list_bots(principal.owner_id, status, page, size, full=False)  # listing fields only
    mine, n = [], 1
    while True:  # an owner holds tens of bots: read them all, keep the bound ones
        items, total = store.list_bots(principal.owner_id, status, n, 100, full=False)
        mine += [b for b in items if bindings.bot_allowed(principal, b)]
        if n * 100 >= total or not items:
            break
        n += 1
    return mine[(page - 1) * size: page * size], len(mine)


# ---------------------------------------------------------------------------------------- routes


@app.post("/v1/bot/create", responses=errors(404, 409, 415))
def create_bot(body: CreateBot, principal: Admin):
    _check_icon(principal.owner_id, body.icon_file_id)
    values = _draft_values(body)
    _check_model(values.get("model"))
    _check_knowledge(principal, values)
    bot = _write(store.create_bot, principal.owner_id, values, body.aliases or [])
    return _ok({"bot_id": bot.bot_id})


@app.post("/v1/bot/update", responses=errors(404, 409, 415))
def update_bot(body: UpdateBot, principal: Admin):
    _check_icon(principal.owner_id, body.icon_file_id)
    values = _draft_values(body)
    _check_model(values.get("model"))
    _check_knowledge(principal, values)
    if principal.bot_ids:
        _draft(principal, body.bot_id)
    bot = _write(store.update_bot, principal.owner_id, body.bot_id, values, body.aliases)
    if bot is None:
        raise ApiError(404, NOT_FOUND)
    return _ok({"bot_id": bot.bot_id})


@app.post("/v1/bot/publish", responses=errors(404, 409))
def publish_bot(body: PublishBot, principal: Admin):
    draft = _draft(principal, body.bot_id)
    _check_model(store.draft_snapshot(draft).model)  # providers or aliases may have changed since
    bot = _write(store.publish_bot, principal.owner_id, body.bot_id)
    if bot is None:
        raise ApiError(404, NOT_FOUND)
    return _ok(coze_bot(store.online_snapshot(bot)))


@app.post("/v1/bots/{bot_id}/unpublish", responses=errors(404, 409))
def unpublish_bot(bot_id: BotRef, principal: Admin, body: Annotated[UnpublishBot | None, Body()] = None):
    # cozepy's body (connector_id, unpublish_reason) is validated but changes nothing: one channel.
    if principal.bot_ids:
        _draft(principal, bot_id)
    bot = _write(store.unpublish_bot, principal.owner_id, bot_id)
    if bot is None:
        raise ApiError(404, NOT_FOUND)
    return _ok({"bot_id": bot.bot_id, "is_published": False})


@app.get("/v1/bots")
def list_bots(
    principal: Reader,
    publish_status: Literal["all", "published_online", "published_draft", "unpublished_draft"] = "published_online",
    page_num: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    page_index: Annotated[int | None, Query(ge=1, le=100_000)] = None,  # cozepy's name for page_num
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    space_id: Annotated[str | None, Query(max_length=128)] = None,  # one space per owner: unused
    workspace_id: Annotated[str | None, Query(max_length=128)] = None,
):
    if publish_status != "published_online" and not principal.can(ADMIN):
        raise ApiError(403, f"this key lacks the '{ADMIN}' scope (drafts are for admin keys)")
    page = page_num or page_index or 1
    items, total = _listed(principal, publish_status, page, page_size)
    return _ok({"items": [simple_bot(s) for s in items], "total": total, "has_more": page * page_size < total})


@app.get("/v1/bots/{bot_id}", responses=errors(404))
def retrieve_bot(bot_id: BotRef, principal: Reader, is_published: bool = True):
    if is_published:
        return _ok_flat(coze_bot(_online(principal, bot_id)))
    if not principal.can(ADMIN):
        raise ApiError(403, f"this key lacks the '{ADMIN}' scope (drafts are for admin keys)")
    return _ok_flat(coze_bot(store.draft_snapshot(_draft(principal, bot_id))))


@app.get("/v1/bot/get_online_info", responses=errors(404))
def get_online_info(principal: Reader, bot_id: Annotated[str, Query(min_length=1, max_length=64)]):
    return _ok_flat(coze_bot(_online(principal, bot_id)))


@app.get("/v1/space/published_bots_list")
def published_bots_list(
    principal: Reader,
    page_index: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    space_id: Annotated[str | None, Query(max_length=128)] = None,  # one space per owner: unused
):
    """The older list cozepy's `bots.list()` calls by default: published bots as `space_bots`."""
    items, total = _listed(principal, "published_online", page_index, page_size)
    return _ok({"space_bots": [simple_bot(s) for s in items], "total": total,
                "has_more": page_index * page_size < total})
