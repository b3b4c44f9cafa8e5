"""Text embeddings for the vector index, chosen by AGENTGATE_EMBEDDINGS (Settings.embeddings):

- "" : none; retrieval is lexical only.
- "hash": an offline embedder that needs no network and no weights: character n-grams and words
  hashed into `embedding_dims` signed buckets (the hashing trick), log-weighted, L2-normalised.
  It captures surface similarity (shared words, shared Chinese character pairs), not meaning:
  useful to run the vector path locally and in tests, not a substitute for a trained model.
- "bedrock/<model>": Amazon Bedrock, Titan Text Embeddings v2 (`amazon.titan-embed-text-v2:0`,
  256/512/1024 dims) or Cohere Embed (`cohere.embed-multilingual-v3`, 1024 dims).
- "<provider>/<model>": an OpenAI-compatible /embeddings endpoint: "openai/text-embedding-3-small"
  or a named upstream from AGENTGATE_PROVIDERS (base_url, api key) such as "qwen/text-embedding-v3".
SDKs load on first use; keys come from where the chat providers read them and are never logged.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading

from agentgate.config import settings
from agentgate.knowledge.errors import KnowledgeError
from agentgate.knowledge.tokenize import tokens

_cache: dict[tuple, "Embedder"] = {}
_lock = threading.Lock()


class Embedder:
    name: str = ""
    dims: int = 0

    def embed(self, texts: list[str], *, query: bool = False) -> list[list[float]]:
        raise NotImplementedError


class HashEmbedder(Embedder):
    def __init__(self, dims: int = 512):
        self.name = f"hash/{dims}"
        self.dims = dims

    def _features(self, text: str) -> dict[str, float]:
        feats: dict[str, float] = {}
        for term in tokens(text):
            feats[term] = feats.get(term, 0.0) + 1.0
            if len(term) > 4 and term.isascii():  # subwords: "retrieval" ~ "retrieve"
                for i in range(len(term) - 3):
                    g = "#" + term[i:i + 4]
                    feats[g] = feats.get(g, 0.0) + 0.25
        return feats

    def embed(self, texts: list[str], *, query: bool = False) -> list[list[float]]:
        out = []
        for text in texts:
            vec = [0.0] * self.dims
            for feat, count in self._features(text).items():
                h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
                vec[h % self.dims] += (1.0 if (h >> 63) & 1 else -1.0) * (1.0 + math.log(count))
            norm = math.sqrt(sum(v * v for v in vec)) or 1.0
            out.append([v / norm for v in vec])
        return out


class BedrockEmbedder(Embedder):
    def __init__(self, model: str, dims: int):
        self.model = model
        self.cohere = model.startswith("cohere.")
        self.dims = 1024 if self.cohere else dims
        self.name = f"bedrock/{model}/{self.dims}"
        self._client = None

    def client(self):
        if self._client is None:
            import os

            import boto3
            from botocore.config import Config

            region = os.environ.get("AGENTGATE_BEDROCK_REGION") or settings().region
            self._client = boto3.client("bedrock-runtime", region_name=region,
                                        config=Config(retries={"max_attempts": 3, "mode": "standard"}))
        return self._client

    def embed(self, texts: list[str], *, query: bool = False) -> list[list[float]]:
        if self.cohere:
            out: list[list[float]] = []
            for i in range(0, len(texts), 96):  # Cohere takes at most 96 texts a call
                body = {"texts": [t[:2048] for t in texts[i:i + 96]],
                        "input_type": "search_query" if query else "search_document", "truncate": "END"}
                resp = self.client().invoke_model(modelId=self.model, body=json.dumps(body),
                                                  contentType="application/json", accept="application/json")
                out.extend(json.loads(resp["body"].read())["embeddings"])
            return out
        out = []
        for text in texts:  # Titan embeds one text per call
            body = {"inputText": text[:40000], "dimensions": self.dims, "normalize": True}
            resp = self.client().invoke_model(modelId=self.model, body=json.dumps(body),
                                              contentType="application/json", accept="application/json")
            out.append(json.loads(resp["body"].read())["embedding"])
        return out


class OpenAIEmbedder(Embedder):
    def __init__(self, provider: str, model: str, dims: int):
        self.provider, self.model, self.dims = provider, model, dims
        self.name = f"{provider}/{model}/{dims}"
        self._client = None

    def client(self):
        if self._client is None:
            from openai import OpenAI

            from agentgate.runner.providers.config import load_providers
            from agentgate.runner.providers.openai_compat import OpenAICompatProvider

            cfg = load_providers().get(self.provider)
            if cfg is None or cfg.type != "openai":
                raise KnowledgeError(500, f"embeddings provider {self.provider!r} is not an OpenAI-compatible one")
            base_url, key = OpenAICompatProvider(cfg).endpoint()
            self._client = OpenAI(api_key=key, base_url=base_url, max_retries=2, timeout=30)
        return self._client

    def embed(self, texts: list[str], *, query: bool = False) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), 64):
            extra = {"dimensions": self.dims} if self.model.startswith("text-embedding-3") else {}
            resp = self.client().embeddings.create(model=self.model, input=texts[i:i + 64], **extra)
            out.extend(d.embedding for d in sorted(resp.data, key=lambda d: d.index))
        return out


def embedder(spec: str | None = None) -> Embedder | None:
    """The configured embedder (cached per spec), or None when retrieval is lexical only."""
    s = settings()
    spec = (s.embeddings if spec is None else spec).strip()
    if not spec or spec == "none":
        return None
    key = (spec, s.embedding_dims)
    found = _cache.get(key)
    if found is not None:
        return found
    if spec == "hash" or spec.startswith("hash/"):
        dims = int(spec.split("/", 1)[1]) if "/" in spec else 512
        made: Embedder = HashEmbedder(dims)
    else:
        provider, _, model = spec.partition("/")
        if not model:
            raise KnowledgeError(500, f"AGENTGATE_EMBEDDINGS must be 'provider/model', not {spec!r}")
        if provider == "bedrock":
            made = BedrockEmbedder(model, s.embedding_dims)
        else:
            made = OpenAIEmbedder(provider, model, s.embedding_dims)
    with _lock:
        _cache[key] = made
    return made


def for_base(name: str) -> Embedder | None:
    """The embedder a base's vectors were made with (its `embedding` field), so queries match."""
    if not name:
        return None
    if name.startswith("hash/"):
        return embedder(name)
    provider, _, rest = name.partition("/")
    model, _, dims = rest.rpartition("/")
    key = (name, "base")
    found = _cache.get(key)
    if found is None:
        found = BedrockEmbedder(model, int(dims)) if provider == "bedrock" else OpenAIEmbedder(provider, model, int(dims))
        _cache[key] = found
    return found
