"""AgentChat's management API (seed 001): users with JWTs, agents, tools and dialogs.

Every answer is seed 001's UnifiedResponseModel `{status_code, status_message, data}` with the
HTTP status as `status_code` (errors too: agentgate.api.errors renders the agentchat shape for
these paths). Register, login and refresh are public routes; the rest take
`Authorization: Bearer <access_token>` (or a personal access token: one principal either way).

An agent IS a bot (same item, same id): an agent made here answers at once on every chat
protocol, and bots made through the Coze API are listed as agents. Seed 001 has no publish
step, so agent writes change the draft and publish it in one go; the Coze API's draft/publish
flow keeps working for the same bots.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator

from agentgate.accounts import service as accounts
from agentgate.api.app import create_app
from agentgate.api.deps import current_principal, requires
from agentgate.api.errors import ApiError
from agentgate.api.openapi import NOT_BLANK, errors
from agentgate.auth.principal import Principal, request_context_from_scope
from agentgate.auth.scopes import ADMIN, CHAT, READ
from agentgate.config import settings
from agentgate.ids import coerce_id
from agentgate.store import bots as bot_store
from agentgate.store import tools as tool_store

app = create_app("agentchat")

AGENT_NOT_FOUND = "agent not found"
TOOL_NOT_FOUND = "tool not found"
USER_NOT_FOUND = "user not found"
DEFAULT_MEMORY = 20

Admin = Annotated[Principal, Depends(requires(ADMIN))]
Chatter = Annotated[Principal, Depends(requires(CHAT))]
Reader = Annotated[Principal, Depends(requires(READ))]
Id = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Ids = Annotated[list[Id], Field(max_length=50)]


def ok(data: Any = None) -> dict:
    return {"status_code": 200, "status_message": "SUCCESS", "data": data}


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _ids(v):
    if isinstance(v, list):
        return [coerce_id(x) for x in v]
    return coerce_id(v)


# ------------------------------------------------------------------------------------------ users


def _password_schema(schema: dict) -> None:
    # What accounts.register checks, stated (its minimum is a setting: AGENTGATE_PASSWORD_MIN_LENGTH).
    schema.update(minLength=settings().password_min_length, maxLength=accounts.PASSWORD_MAX)


class RegisterBody(_Body):
    # Stated as accounts.register checks them (a 400 there): a name of at most NAME_MAX characters
    # that is not blank, an email (or none), a password within the configured lengths.
    user_name: Annotated[StrictStr, Field(min_length=1, max_length=64, json_schema_extra={
        "maxLength": accounts.NAME_MAX, "pattern": NOT_BLANK})]
    user_email: Annotated[StrictStr, Field(max_length=320, json_schema_extra={
        "pattern": "^$|" + accounts.EMAIL_PATTERN.pattern})] = ""
    user_password: Annotated[StrictStr, Field(min_length=1, max_length=1024, json_schema_extra=_password_schema)]


class LoginBody(_Body):
    user_name: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    user_password: Annotated[StrictStr, Field(min_length=1, max_length=1024)]


class RefreshBody(_Body):
    refresh_token: Annotated[StrictStr, Field(min_length=1, max_length=512)] | None = None


class UpdateUserBody(_Body):
    user_id: Id | None = None
    user_avatar: Annotated[StrictStr, Field(max_length=2048)] | None = None
    user_description: Annotated[StrictStr, Field(max_length=2000)] | None = None

    _id = field_validator("user_id", mode="before")(coerce_id)


def _account(fn, *args):
    try:
        return fn(*args)
    except accounts.AccountError as err:
        raise ApiError(err.status, err.message) from err


def _source_ip(request: Request) -> str | None:
    identity = request_context_from_scope(request.scope).get("identity") or {}
    return identity.get("sourceIp") or (request.client.host if request.client else None)


def _session(session: accounts.Session) -> dict:
    from agentgate.config import settings

    return {"user_id": session.user_id, "access_token": session.access_token, "token_type": "bearer",
            "expires_in": settings().jwt_access_ttl_s, "refresh_token": session.refresh_token}


def _user(user) -> dict:
    return {"user_id": user.user_id, "user_name": user.user_name, "user_email": user.user_email,
            "user_avatar": user.user_avatar, "user_description": user.user_description,
            "create_time": int(user.created_at) // 1000, "update_time": int(user.updated_at) // 1000}


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@app.post("/api/v1/user/register", responses=errors(409))
def register(body: RegisterBody):
    user = _account(accounts.register, body.user_name, body.user_email, body.user_password)
    return ok({"user_id": user.user_id, "user_name": user.user_name})


@app.post("/api/v1/user/login", responses=errors(401, 429))
def login(body: LoginBody, request: Request):
    return ok(_session(_account(accounts.login, body.user_name, body.user_password, _source_ip(request))))


@app.post("/api/v1/user/refresh", responses=errors(401))
def refresh(request: Request, body: RefreshBody | None = None):
    # The refresh token in the body, or (fastapi_jwt_auth's way) as the bearer token.
    token = (body.refresh_token if body else None) or _bearer(request)
    if not token:
        raise ApiError(401, "refresh_token is required")
    return ok(_session(_account(accounts.refresh, token)))


@app.post("/api/v1/user/logout")
def logout(principal: Reader, body: RefreshBody | None = None):
    accounts.logout(principal.owner_id, body.refresh_token if body else None)
    return ok(None)


def _own_user(principal: Principal, user_id: str | None):
    from agentgate.store import users as user_store

    wanted = user_id or principal.owner_id
    user = user_store.get_user(wanted) if wanted == principal.owner_id or principal.is_root else None
    if user is None:
        raise ApiError(404, USER_NOT_FOUND)
    return user


@app.get("/api/v1/user/info", responses=errors(404))
def user_info(principal: Reader, user_id: str | None = None):
    return ok(_user(_own_user(principal, coerce_id(user_id))))


@app.put("/api/v1/user/update", responses=errors(404))
def update_user(body: UpdateUserBody, principal: Admin):
    from agentgate.store import users as user_store

    user = _own_user(principal, body.user_id)
    fields = {k: v for k, v in {"user_avatar": body.user_avatar, "user_description": body.user_description}.items()
              if v is not None}
    if fields:
        user_store.update_user(user, **fields)
    return ok(_user(user))


# ----------------------------------------------------------------------------------------- agents


def _known_model(schema: dict) -> None:
    # A configured provider's model (or a model alias): a 400 otherwise.
    from agentgate.runner.providers import model_pattern

    schema["pattern"] = model_pattern()


class AgentFields(_Body):
    name: Annotated[StrictStr, Field(min_length=1, max_length=100)] | None = None
    description: Annotated[StrictStr, Field(max_length=2000)] | None = None
    tool_ids: Ids | None = None
    llm_id: Annotated[StrictStr, Field(min_length=1, max_length=256, json_schema_extra=_known_model)] | None = None
    mcp_ids: Ids | None = None
    knowledge_ids: Ids | None = None
    enable_memory: StrictBool | None = None
    system_prompt: Annotated[StrictStr, Field(max_length=20000)] | None = None
    logo_url: Annotated[StrictStr, Field(max_length=2048)] | None = None

    _list_ids = field_validator("tool_ids", "mcp_ids", "knowledge_ids", mode="before")(_ids)


class CreateAgent(AgentFields):
    name: Annotated[StrictStr, Field(min_length=1, max_length=100)]


class UpdateAgent(AgentFields):
    agent_id: Id

    _id = field_validator("agent_id", mode="before")(coerce_id)


class AgentRef(_Body):
    agent_id: Id

    _id = field_validator("agent_id", mode="before")(coerce_id)


class SearchAgents(_Body):
    name: Annotated[StrictStr, Field(max_length=100)] = ""


def _check_tools(owner_id: str, tool_ids: list[str] | None, *, mcp: bool) -> None:
    from agentgate.tools import builtin

    for tool_id in tool_ids or ():
        if builtin.is_builtin(tool_id) and not mcp:
            continue
        item = tool_store.get_tool(owner_id, tool_id)
        if item is None:
            raise ApiError(404, f"{'mcp_ids' if mcp else 'tool_ids'}: tool {tool_id} not found")
        if mcp and (item.implementation or {}).get("kind") != "mcp":
            raise ApiError(400, f"mcp_ids: tool {tool_id} is not an MCP tool")


def _check_knowledge(owner_id: str, knowledge_ids: list[str] | None) -> None:
    if not knowledge_ids:
        return
    from agentgate.knowledge import bases

    for kid in knowledge_ids:
        if bases.find_base(owner_id, kid) is None:
            raise ApiError(404, f"knowledge_ids: knowledge base {kid} not found")


def check_bot_model(values: dict, *, has_tools: bool) -> None:
    """The agent's model must name a configured provider, one that can call tools if it has any."""
    from agentgate.runner.providers import UnknownModel, check_model, tools_supported

    model = values.get("model")
    if model is None and not has_tools:
        return
    try:
        check_model(model or settings().default_model)
    except UnknownModel as err:
        raise ApiError(400, f"llm_id: {err}") from err
    if has_tools and not tools_supported(model or settings().default_model):
        raise ApiError(400, f"llm_id: the model {model!r} cannot call tools (its provider sets \"tools\": false)")


def _agent_values(owner_id: str, body: AgentFields) -> dict:
    _check_tools(owner_id, body.tool_ids, mcp=False)
    _check_tools(owner_id, body.mcp_ids, mcp=True)
    _check_knowledge(owner_id, body.knowledge_ids)
    values = {"name": body.name.strip() if body.name else None, "description": body.description,
              "prompt": body.system_prompt, "icon_url": body.logo_url, "tool_ids": body.tool_ids,
              "mcp_ids": body.mcp_ids, "knowledge_ids": body.knowledge_ids}
    if body.llm_id is not None:
        values["model"] = body.llm_id
    if body.enable_memory is not None:
        values["memory_window"] = DEFAULT_MEMORY if body.enable_memory else 0
    values = {k: v for k, v in values.items() if v is not None}
    if values.get("name") == "":
        raise ApiError(400, "name must not be blank")
    check_bot_model(values, has_tools=bool(body.tool_ids or body.mcp_ids))
    return values


def agent_view(snap) -> dict:
    return {"agent_id": snap.bot_id, "name": snap.name, "description": snap.description,
            "logo_url": snap.icon_url, "system_prompt": snap.prompt, "llm_id": snap.model,
            "enable_memory": snap.memory_window > 0, "tool_ids": list(snap.tool_ids),
            "mcp_ids": list(snap.mcp_ids), "knowledge_ids": list(getattr(snap, "knowledge_ids", []) or []),
            "user_id": snap.owner_id, "is_published": snap.is_published,
            "create_time": snap.created_at, "update_time": snap.updated_at}


def _store_write(fn, *args):
    try:
        return fn(*args)
    except bot_store.ConfigTooLarge as err:
        raise ApiError(400, str(err)) from err
    except bot_store.ConcurrentChange as err:
        raise ApiError(409, "the agent changed while being updated; try again") from err


@app.post("/api/v1/agent", responses=errors(404, 409))
def create_agent(body: CreateAgent, principal: Admin):
    values = _agent_values(principal.owner_id, body)
    values.setdefault("memory_window", DEFAULT_MEMORY)
    bot = _store_write(bot_store.create_bot, principal.owner_id, values)
    bot = _store_write(bot_store.publish_bot, principal.owner_id, bot.bot_id)
    return ok(agent_view(bot_store.draft_snapshot(bot)))


@app.get("/api/v1/agent")
def list_agents(principal: Reader):
    items, _ = bot_store.list_bots(principal.owner_id, "all", 1, 1000)
    return ok([agent_view(s) for s in items])


@app.put("/api/v1/agent", responses=errors(404, 409))
def update_agent(body: UpdateAgent, principal: Admin):
    values = _agent_values(principal.owner_id, body)
    bot = _store_write(bot_store.update_bot, principal.owner_id, body.agent_id, values, None)
    if bot is None:
        raise ApiError(404, AGENT_NOT_FOUND)
    bot = _store_write(bot_store.publish_bot, principal.owner_id, bot.bot_id)
    return ok(agent_view(bot_store.draft_snapshot(bot)))


@app.delete("/api/v1/agent", responses=errors(404, 409))
def delete_agent(body: AgentRef, principal: Admin):
    if _store_write(bot_store.delete_bot, principal.owner_id, body.agent_id) is None:
        raise ApiError(404, AGENT_NOT_FOUND)
    return ok({"agent_id": body.agent_id})


@app.post("/api/v1/agent/search")
def search_agents(body: SearchAgents, principal: Reader):
    needle = body.name.strip().casefold()
    items, _ = bot_store.list_bots(principal.owner_id, "all", 1, 1000)
    return ok([agent_view(s) for s in items if needle in s.name.casefold() or needle in s.description.casefold()])


# ------------------------------------------------------------------------------------------ tools


def _tool_kinds():
    from agentgate.tools import KINDS

    return KINDS


class FunctionDef(_Body):
    name: Annotated[StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")]
    description: Annotated[StrictStr, Field(max_length=2000)] = ""
    parameters: dict = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolFields(_Body):
    zh_name: Annotated[StrictStr, Field(max_length=100)] | None = None
    en_name: Annotated[StrictStr, Field(max_length=100)] | None = None
    description: Annotated[StrictStr, Field(max_length=2000)] | None = None
    logo_url: Annotated[StrictStr, Field(max_length=2048)] | None = None
    function: FunctionDef | None = None
    implementation: Annotated[dict, Field(json_schema_extra=lambda schema: schema.update(
        required=["kind"], properties={"kind": {"enum": sorted(_tool_kinds())}},
        description="how the tool runs: {kind, ...} (each kind checks its own fields)"))] | None = None


class CreateTool(ToolFields):
    # A function, or seed 001's en_name that can be one (a 400 otherwise).
    model_config = ConfigDict(extra="ignore", json_schema_extra={"anyOf": [
        {"required": ["function"], "properties": {"function": {"type": "object"}}},
        {"required": ["en_name"], "properties": {"en_name": {
            "type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"}}}]})


class UpdateTool(ToolFields):
    tool_id: Id

    _id = field_validator("tool_id", mode="before")(coerce_id)


class ToolRef(_Body):
    tool_id: Id

    _id = field_validator("tool_id", mode="before")(coerce_id)


def _tool_view(item) -> dict:
    return {"tool_id": item.tool_id, "zh_name": item.zh_name, "en_name": item.en_name,
            "description": item.description, "logo_url": item.logo_url, "function": dict(item.function or {}),
            "implementation": _public_impl(item.implementation or {}), "is_builtin": False,
            "user_id": item.owner_id, "create_time": int(item.created_at) // 1000,
            "update_time": int(item.updated_at) // 1000}


def _public_impl(impl: dict) -> dict:
    """Header values that are not secret references are shown masked (they may hold tokens)."""
    out = dict(impl)
    if isinstance(out.get("headers"), dict):
        out["headers"] = {k: v if isinstance(v, dict) else "********" for k, v in out["headers"].items()}
    return out


def _builtin_views() -> list[dict]:
    from agentgate.tools.builtin import BUILTINS

    return [{"tool_id": tid, "zh_name": b["zh_name"], "en_name": b["en_name"], "description": b["description"],
             "logo_url": "", "function": b["function"], "implementation": {"kind": "builtin", "name": b["function"]["name"]},
             "is_builtin": True, "user_id": None} for tid, b in BUILTINS.items()]


def _tool_values(owner_id: str, body: ToolFields, existing=None) -> dict:
    from agentgate import tools

    values: dict = {k: v for k, v in {"zh_name": body.zh_name, "en_name": body.en_name,
                                       "description": body.description, "logo_url": body.logo_url}.items()
                    if v is not None}
    if body.function is not None:
        values["function"] = body.function.model_dump()
    if body.implementation is not None:
        try:
            values["implementation"] = tools.validate_implementation(body.implementation)
            if values["implementation"]["kind"] == "workflow":
                from agentgate.tools import workflow as workflow_tool

                workflow_tool.check_owner(owner_id, values["implementation"])
        except tools.ToolConfigError as err:
            raise ApiError(400, f"implementation: {err}") from err
    if existing is None and "function" not in values:
        # A tool made with seed 001's fields only: its English name becomes the function name.
        name = (body.en_name or "").strip().replace(" ", "_") or None
        if name is None:
            raise ApiError(400, "function (name, description, parameters) or en_name is required")
        import re

        if not re.match(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$", name):
            raise ApiError(400, "en_name cannot be a function name: give function.name")
        values["function"] = {"name": name, "description": body.description or "",
                              "parameters": {"type": "object", "properties": {}}}
    return values


@app.post("/api/v1/tool/create", responses=errors(404))
def create_tool(body: CreateTool, principal: Admin):
    from agentgate.chat import server_tools

    if tool_store.count_tools(principal.owner_id) >= tool_store.MAX_TOOLS_PER_OWNER:
        raise ApiError(400, f"at most {tool_store.MAX_TOOLS_PER_OWNER} tools per user")
    item = tool_store.create_tool(principal.owner_id, _tool_values(principal.owner_id, body))
    server_tools.forget(principal.owner_id)
    return ok(_tool_view(item))


@app.get("/api/v1/tool/all")
def all_tools(principal: Reader):
    return ok(_builtin_views() + [_tool_view(t) for t in tool_store.list_tools(principal.owner_id)])


@app.post("/api/v1/tool/own")
def own_tools(principal: Reader):
    return ok([_tool_view(t) for t in tool_store.list_tools(principal.owner_id)])


@app.post("/api/v1/tool/visible")
def visible_tools(principal: Reader):
    """What the caller's agents may use: the built-ins and the caller's callable tools."""
    own = [_tool_view(t) for t in tool_store.list_tools(principal.owner_id) if (t.implementation or {}).get("kind")]
    return ok(_builtin_views() + own)


@app.put("/api/v1/tool/update", responses=errors(404))
def update_tool(body: UpdateTool, principal: Admin):
    from agentgate.chat import server_tools

    item = tool_store.get_tool(principal.owner_id, body.tool_id)
    if item is None:
        raise ApiError(404, TOOL_NOT_FOUND)
    values = _tool_values(principal.owner_id, body, existing=item)
    if values:
        tool_store.update_tool(item, values)
    server_tools.forget(principal.owner_id)
    return ok(_tool_view(item))


@app.delete("/api/v1/tool/delete", responses=errors(404))
def delete_tool(body: ToolRef, principal: Admin):
    from agentgate.chat import server_tools

    item = tool_store.get_tool(principal.owner_id, body.tool_id)
    if item is None:
        raise ApiError(404, TOOL_NOT_FOUND)
    tool_store.delete_tool(item)
    server_tools.forget(principal.owner_id)
    return ok({"tool_id": body.tool_id})


# ---------------------------------------------------------------------------------------- dialogs


class CreateDialog(_Body):
    agent_id: Id
    name: Annotated[StrictStr, Field(max_length=200)] | None = None

    _id = field_validator("agent_id", mode="before")(coerce_id)


def _dialog_view(conv) -> dict:
    return {"dialog_id": conv.conversation_id, "agent_id": conv.bot_id, "name": getattr(conv, "name", "") or "",
            "create_time": int(conv.created_at), "update_time": int(conv.updated_at)}


@app.post("/api/v1/dialog", responses=errors(404))
def create_dialog(body: CreateDialog, principal: Chatter):
    from agentgate.store import conversations

    if bot_store.resolve_online_bot(principal.owner_id, body.agent_id) is None:
        raise ApiError(404, AGENT_NOT_FOUND)
    kwargs = {"name": body.name} if body.name else {}
    conv = conversations.create_conversation(principal.owner_id, body.agent_id, **kwargs)
    return ok(_dialog_view(conv))


@app.get("/api/v1/dialog")
def list_dialogs(principal: Reader, agent_id: str | None = None):
    from agentgate.store import conversations

    agent_ids = [coerce_id(agent_id)] if agent_id else [s.bot_id for s in bot_store.list_bots(principal.owner_id, "all", 1, 1000)[0]]
    out = []
    for bot_id in agent_ids:
        items, _ = conversations.list_conversations(principal.owner_id, bot_id, 1, 50)
        out.extend(_dialog_view(c) for c in items)
    out.sort(key=lambda d: d["update_time"], reverse=True)
    return ok(out)
