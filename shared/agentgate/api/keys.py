"""The keys endpoint group: seed 002's personal access token API, plus /health and / (public)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

from agentgate import SERVICE_NAME, __version__
from agentgate.api.app import create_app
from agentgate.api.deps import requires, stage_of
from agentgate.api import usage as usage_api
from agentgate.api.errors import ApiError
from agentgate.api.openapi import BINDING_REF, errors
from agentgate.auth import cache as authorizer_cache
from agentgate.auth import management
from agentgate.auth.principal import Principal
from agentgate.auth.scopes import ADMIN
from agentgate.config import settings
from agentgate.ids import coerce_id

PAT = "/api/permission_api/pat"
NAME_MAX = settings().key_name_max

app = create_app("keys")
app.include_router(usage_api.router)  # GET /v1/usage (agentgate.api.usage)

Name = Annotated[StrictStr, Field(min_length=1, max_length=NAME_MAX)]
KeyId = Annotated[StrictStr, Field(pattern=r"^[0-9]{1,20}$")]


RefList = Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=128,
                                                   json_schema_extra={"pattern": BINDING_REF})]], Field(max_length=100)]
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# An IPv4 address or network, or an IPv6 address, as agentgate.policy.addresses reads them (it also
# takes IPv6 networks, "2001:db8::/32", which no JSON Schema format names).
_CIDR = {"anyOf": [{"pattern": rf"^{_OCTET}(?:\.{_OCTET}){{3}}(?:/(?:3[0-2]|[12]?[0-9]))?$"}, {"format": "ipv6"}],
         "description": "an IP address or CIDR (203.0.113.0/24, 2001:db8::/32)"}
Cidrs = Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=64, json_schema_extra=_CIDR)]],
                  Field(max_length=50)]
Policy = Literal["allow", "disabled"]


class RateLimits(BaseModel):
    """Per key; a field left out takes the scope's default, 0 = unlimited."""
    model_config = ConfigDict(extra="forbid")
    rpm: Annotated[StrictInt, Field(ge=0, le=10_000_000_000)] | None = None
    tpm: Annotated[StrictInt, Field(ge=0, le=10_000_000_000)] | None = None
    concurrency: Annotated[StrictInt, Field(ge=0, le=10_000_000_000)] | None = None


class PolicyFields(BaseModel):
    """The access policy of a key (agentgate.policy), on create and update."""
    model_config = ConfigDict(extra="ignore")
    bot_ids: RefList | None = Field(None, description="bots (ids or aliases) the key may use; empty = all")
    workflow_ids: RefList | None = Field(None, description="workflows the key may run; empty = all")
    allowed_ips: Cidrs | None = Field(None, description="CIDRs the key may be used from; empty = anywhere")
    rate_limits: RateLimits | None = None
    default_bot_id: Annotated[StrictStr, Field(max_length=128, json_schema_extra={"pattern": "^$|" + BINDING_REF})] | None = Field(
        None, description="the bot for requests naming no model (or `default`)")
    dm_policy: Policy | None = None
    group_policy: Policy | None = None

    def policy(self) -> management.KeyPolicy:
        values = self.model_dump(include=set(management.POLICY_FIELDS), exclude_unset=True)
        if self.rate_limits is not None:
            values["rate_limits"] = self.rate_limits.model_dump(exclude_none=True)
        return management.KeyPolicy.from_values(values)


class CreateKey(PolicyFields):
    # A chosen key holds at least CHOSEN_KEY_MIN characters unless allow_weak (a 422 otherwise).
    model_config = ConfigDict(extra="ignore", json_schema_extra={
        "if": {"required": ["allow_weak"], "properties": {"allow_weak": {"const": True}}},
        "else": {"properties": {"api_key": {"anyOf": [{"type": "null"},
                                                      {"minLength": management.CHOSEN_KEY_MIN}]}}}})
    name: Name
    expire: StrictInt = Field(0, ge=0, description="0 = never; < 10^12: lifetime in ms; >= 10^12: expiry as a ms "
                                                    "timestamp (must lie ahead)")
    scopes: Annotated[list[Literal["root", "admin", "chat", "read"]], Field(json_schema_extra={"minItems": 1})] | None = None
    owner_id: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = None
    # The operator's chosen key (root only), instead of a generated one; < 16 characters needs allow_weak.
    api_key: Annotated[StrictStr, Field(min_length=1, max_length=512, json_schema_extra={
        "pattern": r"^[^\s\x1c-\x1f\x85]+$"})] | None = None  # no whitespace (management.check_chosen_key)
    allow_weak: StrictBool = False

    @field_validator("name")
    @classmethod
    def _strip(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be blank")
        return v.strip()


class KeyRef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: KeyId
    owner_id: StrictStr | None = None

    _id = field_validator("id", mode="before")(coerce_id)


class UpdateKey(KeyRef, PolicyFields):
    # Something to update (a 422 otherwise): name or enabled, or a policy field.
    model_config = ConfigDict(extra="ignore", json_schema_extra={"anyOf": [
        {"required": ["name"], "properties": {"name": {"type": "string"}}},
        {"required": ["enabled"], "properties": {"enabled": {"type": "boolean"}}},
        *({"required": [f]} for f in management.POLICY_FIELDS if f != "account_id")]})
    name: Name | None = None
    enabled: StrictBool | None = None

    @field_validator("name")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("name must not be blank")
        return v.strip() if v is not None else v


class RotateKey(KeyRef):
    grace_ms: Annotated[StrictInt, Field(ge=0, le=management.MAX_GRACE_MS)] = Field(
        management.DEFAULT_GRACE_MS, description="how long the old secret keeps working (ms; at most 7 days)")


def _actor(p: Principal) -> management.Actor:
    # A signed-in AgentChat user creates keys as the account, which does not expire; only the
    # short-lived token they sent does. Keys acting for themselves cap their children, and keep
    # them inside their own bindings and address lists.
    expired_at = 0 if p.is_user else p.expired_at
    return management.Actor(key_id=p.key_id, owner_id=p.owner_id, scopes=p.scopes, expired_at=expired_at,
                            bot_ids=p.bot_ids, workflow_ids=p.workflow_ids, allowed_ips=p.allowed_ips)


def _run(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except management.KeyRuleError as err:
        raise ApiError(err.status, err.message) from err


def _ok(payload: dict) -> dict:
    """Seed 002's flat answer, inside Coze's envelope too, so either reading works."""
    return {"code": 0, "msg": "", **payload, "data": payload}


Admin = Annotated[Principal, Depends(requires(ADMIN))]


@app.get("/health", include_in_schema=False)
def health():
    return {"status": "healthy"}


@app.get("/", include_in_schema=False)
def about():
    return {
        "message": f"{SERVICE_NAME} API",
        "name": SERVICE_NAME,
        "version": __version__,
        "description": "AI agents and workflows as a secure, streaming HTTP API "
                       "(OpenAI Chat Completions, Coze OpenAPI, AIFlowy)",
        "authentication": "Bearer Token (personal access token, pat_...)",
        "endpoints": {
            "/v1/chat/completions": "POST - OpenAI Chat Completions (also under /api/v1)",
            "/v1/models": "GET - the bots this key may use",
            "/v3/chat": "POST - Coze chat v3 (stream or not)",
            "/v1/conversation/create": "POST - Coze conversations",
            "/v1/files/upload": "POST - upload a file (multipart field 'file')",
            "/v1/bot/create": "POST - Coze bots",
            "/api/v1/aiBot/externalChat": "POST - AIFlowy external chat",
            "/api/v1/chat": "POST - AgentChat chat in a conversation (dialog_id), with file_url",
            "/api/v1/upload": "POST - AgentChat upload (answers a signed URL)",
            f"{PAT}/create_personal_access_token_and_permission": "POST - create an API key",
            "/health": "GET - health check",
            "/": "GET - this description",
        },
    }


def _flush(request: Request) -> None:
    authorizer_cache.flush(*stage_of(request))


@app.post(f"{PAT}/create_personal_access_token_and_permission", responses=errors(409))
def create_key(body: CreateKey, principal: Admin):
    actor = _actor(principal)
    item, plaintext = _run(management.create_key, actor, body.name, body.expire, body.scopes, body.owner_id,
                           chosen=body.api_key, allow_weak=body.allow_weak, policy=body.policy())
    described = management.describe(item)
    described["api_key"] = plaintext  # the only time the plaintext is ever shown
    _, capped = management.child_expiry(actor, body.expire, item.created_at)
    described["expire_capped"] = capped
    if capped:
        described["expire_note"] = ("expiry capped at the creating key's own expiry: a key never outlives "
                                    "the key that created it")
    if body.api_key is not None:
        described["warnings"] = management.check_chosen_key(body.api_key, body.allow_weak)
    return _ok(described)


@app.get(f"{PAT}/list_personal_access_tokens", responses=errors(404))
def list_keys(
    principal: Admin,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 10,
    owner_id: Annotated[str | None, Query(max_length=128)] = None,
):
    items, total = _run(management.list_keys, _actor(principal), page, size, owner_id)
    return _ok({
        "api_keys": [management.describe(i) for i in items],
        "has_more": page * size < total,
        "total": total,
        "page": page,
        "size": size,
    })


@app.get(f"{PAT}/get_personal_access_token_and_permission", responses=errors(404))
def get_key(
    principal: Admin,
    id: Annotated[str, Query(pattern=r"^[0-9]{1,20}$")],
    owner_id: Annotated[str | None, Query(max_length=128)] = None,
):
    item = _run(management.find_key, _actor(principal), id, owner_id)
    described = management.describe(item, with_secrets=True)
    return _ok({**described, "api_key_info": described})


@app.post(f"{PAT}/update_personal_access_token_and_permission", responses=errors(404, 409))
def update_key(body: UpdateKey, principal: Admin, request: Request):
    policy = body.policy()
    given = body.model_fields_set & set(management.POLICY_FIELDS)
    if body.name is None and body.enabled is None and not given:
        raise ApiError(422, "nothing to update: give name, enabled or a policy field ("
                            + ", ".join(f for f in management.POLICY_FIELDS if f != "account_id") + ")", param="name")
    item = _run(management.update_key, _actor(principal), body.id, name=body.name, enabled=body.enabled,
                owner_id=body.owner_id, policy=policy)
    _flush(request)
    return _ok(management.describe(item))


@app.post(f"{PAT}/rotate_personal_access_token", responses=errors(404, 409))
def rotate_key(body: RotateKey, principal: Admin, request: Request):
    """A new secret for the same key id; the old one keeps working for grace_ms, then stops."""
    item, plaintext = _run(management.rotate_key, _actor(principal), body.id, body.grace_ms, body.owner_id)
    _flush(request)  # the old secret's cached allow must not outlive its grace period
    described = management.describe(item, with_secrets=True)
    described["api_key"] = plaintext  # the only time the new plaintext is ever shown
    described["grace_ms"] = body.grace_ms
    return _ok(described)


@app.post(f"{PAT}/delete_personal_access_token_and_permission", responses=errors(404, 409))
def delete_key(body: KeyRef, principal: Admin, request: Request):
    item = _run(management.delete_key, _actor(principal), body.id, body.owner_id)
    _flush(request)
    return _ok({"id": item.id, "deleted": True})


class ApplyConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")
    config: dict = Field(description="seed 000's channel configuration (the YAML document, as JSON)")
    dry_run: StrictBool = False


@app.post("/api/permission_api/config/apply", responses=errors(404, 409))
def apply_channel_config(body: ApplyConfig, principal: Admin, request: Request):
    """Seed 000's channels.api accounts and bindings, made true in the keys table (root only)."""
    from agentgate.policy import channel_config

    result = _run(channel_config.apply, _actor(principal), body.config, dry_run=body.dry_run)
    if not body.dry_run and result["changed"]:
        _flush(request)
    return _ok(result)
