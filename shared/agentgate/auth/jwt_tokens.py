"""AgentChat access tokens: short-lived HS256 JWTs (PyJWT), verified without a table read.

The signing secret comes from settings: `AGENTGATE_JWT_SECRET` (the local gateway generates one at
first start and keeps it with its data) or `AGENTGATE_JWT_SECRET_ARN` (the stack's Secrets Manager
secret, read once per process and cached). There is no built-in default: without a secret, JWTs
are refused, never signed with something guessable.

A JWT is told apart from a PAT by its form: three base64url segments, the first starting `eyJ`
(the encoding of `{"`). PATs start with `pat_` or are operator-chosen strings without dots.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass

from agentgate.config import settings

ISSUER = "agentgate"
ALGORITHM = "HS256"
_JWT_FORM = re.compile(r"^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_MIN_SECRET_BYTES = 32
_lock = threading.Lock()
_cached: tuple[str, str] | None = None  # (source, secret)


class TokenError(Exception):
    """The token is malformed, badly signed, expired or not an access token."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    scopes: tuple[str, ...]
    expires_at_ms: int
    jti: str


def looks_like_jwt(value: str | None) -> bool:
    return bool(value) and len(value) < 8192 and bool(_JWT_FORM.match(value))


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def _secret() -> str:
    global _cached
    s = settings()
    if s.jwt_secret:
        return s.jwt_secret
    if not s.jwt_secret_arn:
        raise TokenError("JWT sign-in is not configured (no signing secret)")
    with _lock:
        if _cached and _cached[0] == s.jwt_secret_arn:
            return _cached[1]
        from aws_lambda_powertools.utilities import parameters  # lazily: only JWT paths pay

        value = parameters.get_secret(s.jwt_secret_arn, max_age=3600)
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if len(value.encode("utf-8")) < _MIN_SECRET_BYTES:
            raise TokenError("the JWT signing secret is too short")
        _cached = (s.jwt_secret_arn, value)
        return value


def issue_access_token(user_id: str, scopes: tuple[str, ...] | list[str], ttl_s: int | None = None) -> tuple[str, int]:
    """A signed access token and its expiry (epoch ms)."""
    import jwt

    now = int(time.time())
    ttl = int(ttl_s if ttl_s is not None else settings().jwt_access_ttl_s)
    claims = {"iss": ISSUER, "sub": user_id, "typ": "access", "scope": " ".join(scopes),
              "iat": now, "exp": now + ttl, "jti": secrets.token_hex(8)}
    return jwt.encode(claims, _secret(), algorithm=ALGORITHM), (now + ttl) * 1000


def verify_access_token(token: str) -> AccessClaims:
    import jwt

    try:
        claims = jwt.decode(token, _secret(), algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["exp", "iat", "sub", "iss"]}, leeway=5)
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("access token expired") from exc
    except jwt.PyJWTError as exc:
        raise TokenError("access token invalid") from exc
    if claims.get("typ") != "access" or not isinstance(claims.get("sub"), str):
        raise TokenError("access token invalid")
    from agentgate.auth import scopes as scope_rules

    return AccessClaims(user_id=claims["sub"], scopes=tuple(scope_rules.parse(str(claims.get("scope", "")))),
                        expires_at_ms=int(claims["exp"]) * 1000, jti=str(claims.get("jti", "")))
