"""Settings read from the environment, in one place.

Lambda functions get these from template.yaml; the local gateway sets them before it imports any
function. Every value has a default that works for local development.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    try:
        return int(raw) if raw not in (None, "") else default
    except ValueError:
        return default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw not in (None, "") else default
    except ValueError:
        return default


@dataclass(frozen=True)
class Settings:
    region: str = field(default_factory=lambda: _env("AWS_REGION") or _env("AWS_DEFAULT_REGION", "us-east-1"))
    # Endpoints for local stores (the embedded moto server, DynamoDB Local, LocalStack ...).
    dynamodb_endpoint: str | None = field(default_factory=lambda: _env("AGENTGATE_DYNAMODB_ENDPOINT") or None)
    s3_endpoint: str | None = field(default_factory=lambda: _env("AGENTGATE_S3_ENDPOINT") or None)

    keys_table: str = field(default_factory=lambda: _env("AGENTGATE_KEYS_TABLE", "agentgate-keys"))
    bots_table: str = field(default_factory=lambda: _env("AGENTGATE_BOTS_TABLE", "agentgate-bots"))
    conversations_table: str = field(
        default_factory=lambda: _env("AGENTGATE_CONVERSATIONS_TABLE", "agentgate-conversations")
    )
    messages_table: str = field(default_factory=lambda: _env("AGENTGATE_MESSAGES_TABLE", "agentgate-messages"))
    chats_table: str = field(default_factory=lambda: _env("AGENTGATE_CHATS_TABLE", "agentgate-chats"))
    files_table: str = field(default_factory=lambda: _env("AGENTGATE_FILES_TABLE", "agentgate-files"))
    responses_table: str = field(default_factory=lambda: _env("AGENTGATE_RESPONSES_TABLE", "agentgate-responses"))
    users_table: str = field(default_factory=lambda: _env("AGENTGATE_USERS_TABLE", "agentgate-users"))
    tools_table: str = field(default_factory=lambda: _env("AGENTGATE_TOOLS_TABLE", "agentgate-tools"))
    # metering and rate-limit counters (agentgate.store.usage)
    usage_table: str = field(default_factory=lambda: _env("AGENTGATE_USAGE_TABLE", "agentgate-usage"))
    workflows_table: str = field(default_factory=lambda: _env("AGENTGATE_WORKFLOWS_TABLE", "agentgate-workflows"))
    workflow_runs_table: str = field(
        default_factory=lambda: _env("AGENTGATE_WORKFLOW_RUNS_TABLE", "agentgate-workflow-runs"))
    files_bucket: str = field(default_factory=lambda: _env("AGENTGATE_FILES_BUCKET", "agentgate-files"))

    # Keys
    key_name_max: int = field(default_factory=lambda: _env_int("AGENTGATE_KEY_NAME_MAX", 100))
    last_used_interval_ms: int = field(default_factory=lambda: _env_int("AGENTGATE_LAST_USED_INTERVAL_MS", 60_000))
    # Whether key changes flush API Gateway's authorizer cache (off when nothing caches).
    flush_authorizer_cache: bool = field(
        default_factory=lambda: _env("AGENTGATE_FLUSH_AUTHORIZER_CACHE", "true").lower() not in ("0", "false", "no")
    )

    # Files
    max_file_bytes: int = field(default_factory=lambda: _env_int("AGENTGATE_MAX_FILE_BYTES", 10 * 1024 * 1024))
    presign_ttl_s: int = field(default_factory=lambda: _env_int("AGENTGATE_PRESIGN_TTL_S", 3600))

    # AgentChat accounts (seed 001): JWT signing secret (a value, or a Secrets Manager ARN; no
    # default: without one JWTs are refused), token lifetimes, password policy, sign-in throttle.
    jwt_secret: str = field(default_factory=lambda: _env("AGENTGATE_JWT_SECRET"))
    jwt_secret_arn: str = field(default_factory=lambda: _env("AGENTGATE_JWT_SECRET_ARN"))
    jwt_access_ttl_s: int = field(default_factory=lambda: _env_int("AGENTGATE_JWT_ACCESS_TTL_S", 900))
    jwt_refresh_ttl_s: int = field(default_factory=lambda: _env_int("AGENTGATE_JWT_REFRESH_TTL_S", 30 * 86400))
    argon2_memory_kib: int = field(default_factory=lambda: _env_int("AGENTGATE_ARGON2_MEMORY_KIB", 65536))
    argon2_time_cost: int = field(default_factory=lambda: _env_int("AGENTGATE_ARGON2_TIME_COST", 3))
    password_min_length: int = field(default_factory=lambda: _env_int("AGENTGATE_PASSWORD_MIN_LENGTH", 8))
    login_max_failures: int = field(default_factory=lambda: _env_int("AGENTGATE_LOGIN_MAX_FAILURES", 5))
    login_window_s: int = field(default_factory=lambda: _env_int("AGENTGATE_LOGIN_WINDOW_S", 900))
    # Server-side tools: rounds of tool calls per turn, time per call, bytes per result.
    tool_max_rounds: int = field(default_factory=lambda: _env_int("AGENTGATE_TOOL_MAX_ROUNDS", 5))
    tool_timeout_s: int = field(default_factory=lambda: _env_int("AGENTGATE_TOOL_TIMEOUT_S", 20))
    tool_result_max_bytes: int = field(default_factory=lambda: _env_int("AGENTGATE_TOOL_RESULT_MAX_BYTES", 64 * 1024))
    # Workflows (see agentgate.workflows): limits, durable-run timing, the http node.
    workflow_max_nodes: int = field(default_factory=lambda: _env_int("AGENTGATE_WORKFLOW_MAX_NODES", 100))
    workflow_max_loop_iterations: int = field(
        default_factory=lambda: _env_int("AGENTGATE_WORKFLOW_MAX_LOOP_ITERATIONS", 100))
    # Lambda stops a function at 15 minutes; a run's deadline stays below that.
    workflow_max_run_s: int = field(default_factory=lambda: _env_int("AGENTGATE_WORKFLOW_MAX_RUN_S", 840))
    workflow_heartbeat_s: float = field(default_factory=lambda: _env_float("AGENTGATE_WORKFLOW_HEARTBEAT_S", 10.0))
    # A Running run whose heartbeat is older than this has lost its process: it becomes Fail.
    workflow_stale_s: float = field(default_factory=lambda: _env_float("AGENTGATE_WORKFLOW_STALE_S", 60.0))
    # An interrupted run (a question node) waits this long for stream_resume.
    workflow_resume_ttl_s: int = field(default_factory=lambda: _env_int("AGENTGATE_WORKFLOW_RESUME_TTL_S", 86400))
    # Outputs larger than this go to S3 (DynamoDB items stop at 400 KB).
    workflow_inline_output_bytes: int = field(
        default_factory=lambda: _env_int("AGENTGATE_WORKFLOW_INLINE_OUTPUT_BYTES", 350_000))
    workflow_max_output_bytes: int = field(
        default_factory=lambda: _env_int("AGENTGATE_WORKFLOW_MAX_OUTPUT_BYTES", 5 * 1024 * 1024))
    workflow_definition_max_bytes: int = field(
        default_factory=lambda: _env_int("AGENTGATE_WORKFLOW_DEFINITION_MAX_BYTES", 200_000))
    # http node: hosts (exact names, comma separated) that may be called over plain http and
    # may be private addresses; empty by default: https to public addresses only.
    http_allow_hosts: tuple[str, ...] = field(default_factory=lambda: tuple(
        h.strip().lower() for h in _env("AGENTGATE_HTTP_ALLOW_HOSTS").split(",") if h.strip()))
    http_timeout_s: float = field(default_factory=lambda: _env_float("AGENTGATE_HTTP_TIMEOUT_S", 10.0))
    http_max_response_bytes: int = field(
        default_factory=lambda: _env_int("AGENTGATE_HTTP_MAX_RESPONSE_BYTES", 1024 * 1024))
    # Background work: "local" (a task in this process) or "lambda" (async invoke of the worker).
    background_mode: str = field(default_factory=lambda: _env("AGENTGATE_BACKGROUND", "local"))
    background_function: str = field(default_factory=lambda: _env("AGENTGATE_BACKGROUND_FUNCTION"))
    # Coze's non-stream /v3/chat (additional_messages): how long the answer waits for the turn
    # before it answers in_progress (0, as Coze: at once; the client polls /v3/chat/retrieve).
    coze_chat_wait_ms: int = field(default_factory=lambda: _env_int("AGENTGATE_COZE_CHAT_WAIT_MS", 0))
    # Secrets the http node may reference ({{secrets.NAME}}): SSM SecureString parameters under this path.
    secrets_prefix: str = field(default_factory=lambda: _env("AGENTGATE_SECRETS_PREFIX", "/agentgate/secrets"))
    # Browsers: the origin every answer allows (the template's CorsAllowOrigin; empty = no CORS).
    cors_allow_origin: str = field(default_factory=lambda: _env("AGENTGATE_CORS_ALLOW_ORIGIN"))
    # The operator's CLI against a deployment's API (agentgate.local.operator); flags win.
    operator_base_url: str | None = field(default_factory=lambda: _env("AGENTGATE_BASE_URL") or None)
    operator_admin_key: str | None = field(default_factory=lambda: _env("AGENTGATE_ADMIN_KEY") or None)

    # Observability (Powertools reads its own POWERTOOLS_* variables too; these are the ones we use).
    # In Lambda itself: not under `sam local` (whose containers set AWS_SAM_LOCAL), not locally.
    in_lambda: bool = field(default_factory=lambda: bool(_env("LAMBDA_TASK_ROOT")) and not _env("AWS_SAM_LOCAL"))
    metrics_namespace: str = field(default_factory=lambda: _env("POWERTOOLS_METRICS_NAMESPACE") or "agentgate")
    metrics_disabled: bool = field(
        default_factory=lambda: _env("POWERTOOLS_METRICS_DISABLED", "false").lower() in ("1", "true", "yes", "on")
    )

    # Models
    default_model: str = field(default_factory=lambda: _env("AGENTGATE_DEFAULT_MODEL", "echo"))
    # JSON {"name": "provider/model"}: model names clients bring from elsewhere (qwen-plus, gpt-4,
    # doubao-pro-128k) resolve through it, at bot save and at chat time.
    model_aliases: str = field(default_factory=lambda: _env("AGENTGATE_MODEL_ALIASES"))

    # Knowledge bases (agentgate.knowledge)
    knowledge_table: str = field(default_factory=lambda: _env("AGENTGATE_KNOWLEDGE_TABLE", "agentgate-knowledge"))
    knowledge_documents_table: str = field(
        default_factory=lambda: _env("AGENTGATE_KNOWLEDGE_DOCUMENTS_TABLE", "agentgate-knowledge-documents"))
    knowledge_chunks_table: str = field(
        default_factory=lambda: _env("AGENTGATE_KNOWLEDGE_CHUNKS_TABLE", "agentgate-knowledge-chunks"))
    knowledge_max_bases: int = field(default_factory=lambda: _env_int("AGENTGATE_KNOWLEDGE_MAX_BASES", 100))
    knowledge_max_documents: int = field(default_factory=lambda: _env_int("AGENTGATE_KNOWLEDGE_MAX_DOCUMENTS", 1000))
    # how many knowledge bases one retrieval (or one bot) may search
    knowledge_max_per_query: int = field(default_factory=lambda: _env_int("AGENTGATE_KNOWLEDGE_MAX_PER_QUERY", 10))
    knowledge_max_text_chars: int = field(
        default_factory=lambda: _env_int("AGENTGATE_KNOWLEDGE_MAX_TEXT_CHARS", 2_000_000))
    knowledge_chunk_size: int = field(default_factory=lambda: _env_int("AGENTGATE_KNOWLEDGE_CHUNK_SIZE", 800))
    knowledge_chunk_overlap: int = field(default_factory=lambda: _env_int("AGENTGATE_KNOWLEDGE_CHUNK_OVERLAP", 100))
    # documents longer than this (characters) are indexed in the background
    knowledge_sync_chars: int = field(default_factory=lambda: _env_int("AGENTGATE_KNOWLEDGE_SYNC_CHARS", 50_000))
    # "" (lexical only), "hash" (offline hashed n-grams), "bedrock/amazon.titan-embed-text-v2:0",
    # "openai/text-embedding-3-small" or "<provider from AGENTGATE_PROVIDERS>/<model>"
    embeddings: str = field(default_factory=lambda: _env("AGENTGATE_EMBEDDINGS", ""))
    embedding_dims: int = field(default_factory=lambda: _env_int("AGENTGATE_EMBEDDING_DIMS", 1024))
    # S3 Vectors bucket for chunk vectors; "" keeps vectors beside the chunks in DynamoDB (small bases)
    vector_bucket: str = field(default_factory=lambda: _env("AGENTGATE_VECTOR_BUCKET", ""))
    # the chat turn's knowledge budget: chunks recalled and characters put in front of the model
    knowledge_top_k: int = field(default_factory=lambda: _env_int("AGENTGATE_KNOWLEDGE_TOP_K", 5))
    # the function that indexes large documents (template: KnowledgeWorkerFunction); "" = a local thread
    knowledge_worker: str = field(default_factory=lambda: _env("AGENTGATE_KNOWLEDGE_WORKER", ""))
    knowledge_context_chars: int = field(default_factory=lambda: _env_int("AGENTGATE_KNOWLEDGE_CONTEXT_CHARS", 6000))


def settings() -> Settings:
    """Fresh settings from the current environment (cheap; tests change the environment)."""
    return Settings()
