"""Account rules, independent of HTTP: what registration, sign-in, refresh and sign-out do.

- User names: 1-20 characters (seed 001), unique regardless of case.
- Passwords: at least `AGENTGATE_PASSWORD_MIN_LENGTH` characters (default 8; the development
  setting 4 lets seed 001's `test`/`test` example run), at most 256; stored as argon2id only.
- Sign-in failures are throttled per user name and per source address
  (`AGENTGATE_LOGIN_MAX_FAILURES` in `AGENTGATE_LOGIN_WINDOW_S`); a throttled, unknown or wrong
  sign-in all answer the same "invalid user name or password" (or "too many attempts"), and an
  unknown user costs the same hash verification as a known one.
- Access tokens are JWTs living `AGENTGATE_JWT_ACCESS_TTL_S` (default 900 s); refresh tokens are
  random strings (stored as SHA-256) living `AGENTGATE_JWT_REFRESH_TTL_S` (30 days) that rotate
  on every use; a replayed refresh token revokes its family. Sign-out revokes the family.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from agentgate.auth import jwt_tokens, passwords
from agentgate.auth.scopes import ADMIN
from agentgate.config import settings
from agentgate.store import users as store

NAME_MAX = 20
PASSWORD_MAX = 256
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
INVALID_LOGIN = "invalid user name or password"
TOO_MANY = "too many failed sign-ins; try again later"
# What a signed-in user may do with their own data: manage their agents, tools and keys, chat.
USER_SCOPES = (ADMIN,)


class AccountError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Session:
    user_id: str
    access_token: str
    refresh_token: str
    expires_at_ms: int


def _check_password(password: str) -> None:
    minimum = settings().password_min_length
    if len(password) < minimum:
        raise AccountError(400, f"user_password must have at least {minimum} characters")
    if len(password) > PASSWORD_MAX:
        raise AccountError(400, f"user_password must have at most {PASSWORD_MAX} characters")


def register(user_name: str, user_email: str, password: str) -> store.User:
    name = user_name.strip()
    if not name:
        raise AccountError(400, "user_name must not be blank")
    if len(name) > NAME_MAX:
        raise AccountError(400, f"user_name must have at most {NAME_MAX} characters")
    if user_email and not EMAIL_PATTERN.match(user_email):
        raise AccountError(400, "user_email is not an email address")
    _check_password(password)
    hashed = passwords.hash_password(password)
    try:
        return store.create_user(name, user_email or "", hashed)
    except store.NameTaken:
        raise AccountError(409, f"user name '{name}' is already taken") from None


def _new_session(user: store.User, family: str | None = None) -> Session:
    s = settings()
    access, expires = jwt_tokens.issue_access_token(user.user_id, USER_SCOPES)
    refresh = "rt_" + secrets.token_urlsafe(32)
    store.save_refresh_token(refresh, user.user_id, family or secrets.token_hex(12), s.jwt_refresh_ttl_s)
    return Session(user.user_id, access, refresh, expires)


def login(user_name: str, password: str, source_ip: str | None) -> Session:
    s = settings()
    name_key = (user_name or "").strip().casefold()[:64]
    throttles = [("user", name_key)] + ([("addr", source_ip)] if source_ip else [])
    if any(store.throttle_failures(kind, value) >= s.login_max_failures for kind, value in throttles):
        raise AccountError(429, TOO_MANY)
    user = store.find_by_name(user_name.strip()) if name_key else None
    if user is None:
        passwords.verify_password(passwords.decoy_hash(), password)  # same cost as a real check
        ok = False
    else:
        ok = passwords.verify_password(user.password_hash, password)
    if not ok:
        for kind, value in throttles:
            store.record_failure(kind, value, s.login_window_s)
        raise AccountError(401, INVALID_LOGIN)
    store.clear_failures("user", name_key)
    if passwords.needs_rehash(user.password_hash):
        store.update_user(user, password_hash=passwords.hash_password(password))
    return _new_session(user)


def refresh(refresh_token: str) -> Session:
    item = store.get_refresh_token(refresh_token or "") if refresh_token else None
    if item is None or item.revoked or store.family_revoked(item.family):
        raise AccountError(401, "refresh token invalid or expired")
    if not store.consume_refresh_token(item):
        # A used token came back: someone holds a copy. End the whole family.
        store.revoke_family(item.user_id, item.family)
        raise AccountError(401, "refresh token already used; sign in again")
    user = store.get_user(item.user_id)
    if user is None:
        raise AccountError(401, "refresh token invalid or expired")
    return _new_session(user, family=item.family)


def logout(user_id: str, refresh_token: str | None) -> None:
    """Revoke the session's refresh token family. Access tokens are short-lived and checked
    without a table read, so one already issued works until it expires (at most the access TTL)."""
    if not refresh_token:
        return
    item = store.get_refresh_token(refresh_token)
    if item is not None and item.user_id == user_id:
        store.revoke_family(user_id, item.family)
