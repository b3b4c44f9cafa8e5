"""AgentChat users, their unique names, refresh tokens and sign-in throttles: one table.

Every item's partition key is `pk`, prefixed by kind, so each lookup is one GetItem:
- "user#<user_id>": the user (name, email, argon2id hash, avatar, description, role).
- "name#<casefolded name>": claims a user name (uniqueness is a conditional put, in the same
  transaction that creates the user) and points at the user id: sign-in is two GetItems.
- "refresh#<sha256 of the token>": one refresh token. Tokens rotate: using one marks it used
  (a conditional update, so a token works once) and issues the next in the same family; reusing
  a used token revokes the whole family (a stolen token stops working for both parties).
- "throttle#<user|addr>#<value>": failed sign-ins in the current window (atomic ADD, TTL).
Items that expire carry `expires_at` (epoch s, the table's TTL attribute); readers check it too,
since DynamoDB deletes expired items lazily and moto never does.
"""

from __future__ import annotations

import hashlib

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from agentgate.ids import new_id, now_ms, now_s
from agentgate.store.base import register

ROLE_USER = "user"


class _UsersTable(Model):
    class Meta:
        table_name = "agentgate-users"

    pk = UnicodeAttribute(hash_key=True)


@register(lambda s: s.users_table)
class User(_UsersTable):
    class Meta:
        table_name = "agentgate-users"

    user_id = UnicodeAttribute()
    user_name = UnicodeAttribute()
    user_email = UnicodeAttribute(default="")
    password_hash = UnicodeAttribute()
    user_avatar = UnicodeAttribute(default="")
    user_description = UnicodeAttribute(default="")
    role = UnicodeAttribute(default=ROLE_USER)
    created_at = NumberAttribute()  # ms
    updated_at = NumberAttribute()


@register(lambda s: s.users_table)
class UserName(_UsersTable):
    class Meta:
        table_name = "agentgate-users"

    user_id = UnicodeAttribute()


@register(lambda s: s.users_table)
class RefreshToken(_UsersTable):
    class Meta:
        table_name = "agentgate-users"

    user_id = UnicodeAttribute()
    family = UnicodeAttribute()
    used = BooleanAttribute(default=False)
    revoked = BooleanAttribute(default=False)
    expires_at = NumberAttribute()  # epoch s (TTL)


@register(lambda s: s.users_table)
class Throttle(_UsersTable):
    class Meta:
        table_name = "agentgate-users"

    failures = NumberAttribute(default=0)
    expires_at = NumberAttribute()  # epoch s (TTL): the window's end


class NameTaken(Exception):
    pass


def _user_key(user_id: str) -> str:
    return f"user#{user_id}"


def _name_key(user_name: str) -> str:
    return f"name#{user_name.casefold()}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _get(model, key: str, consistent: bool = False):
    try:
        return model.get(key, consistent_read=consistent)
    except DoesNotExist:
        return None


# ---------------------------------------------------------------------------------------- users


def create_user(user_name: str, user_email: str, password_hash: str) -> User:
    now = now_ms()
    user_id = new_id()
    user = User(pk=_user_key(user_id), user_id=user_id, user_name=user_name, user_email=user_email,
                password_hash=password_hash, created_at=now, updated_at=now)
    claim = UserName(pk=_name_key(user_name), user_id=user_id)
    try:
        with TransactWrite(connection=User._get_connection().connection) as tx:
            tx.save(claim, condition=UserName.pk.does_not_exist())
            tx.save(user, condition=User.pk.does_not_exist())
    except TransactWriteError as exc:
        reasons = getattr(exc, "cancellation_reasons", None) or []
        if reasons and reasons[0] is not None and getattr(reasons[0], "code", "") == "ConditionalCheckFailed":
            raise NameTaken(user_name) from exc
        if _get(UserName, _name_key(user_name), consistent=True) is not None:
            raise NameTaken(user_name) from exc
        raise
    return user


def get_user(user_id: str) -> User | None:
    if not user_id or len(user_id) > 64:
        return None
    return _get(User, _user_key(user_id))


def find_by_name(user_name: str) -> User | None:
    claim = _get(UserName, _name_key(user_name))
    return get_user(claim.user_id) if claim else None


def update_user(user: User, **fields) -> User:
    actions = [getattr(User, name).set(value) for name, value in fields.items()]
    actions.append(User.updated_at.set(now_ms()))
    user.update(actions=actions, condition=User.pk.exists())
    return user


# ------------------------------------------------------------------------------- refresh tokens


def save_refresh_token(token: str, user_id: str, family: str, ttl_s: int) -> None:
    RefreshToken(pk=f"refresh#{token_hash(token)}", user_id=user_id, family=family,
                 expires_at=now_s() + ttl_s).save(condition=RefreshToken.pk.does_not_exist())


def get_refresh_token(token: str) -> RefreshToken | None:
    item = _get(RefreshToken, f"refresh#{token_hash(token)}", consistent=True)
    if item is None or item.expires_at <= now_s():
        return None
    return item


def consume_refresh_token(item: RefreshToken) -> bool:
    """Mark a refresh token used; False when it already was (a replay) or was revoked."""
    try:
        item.update(actions=[RefreshToken.used.set(True)],
                    condition=(RefreshToken.used == False) & (RefreshToken.revoked == False))  # noqa: E712
        return True
    except UpdateError:
        return False


def revoke_family(user_id: str, family: str) -> None:
    """Revoke a token family: the family's marker item is checked on every refresh."""
    RefreshToken(pk=f"family#{family}", user_id=user_id, family=family, revoked=True,
                 expires_at=now_s() + 90 * 86400).save()


def family_revoked(family: str) -> bool:
    item = _get(RefreshToken, f"family#{family}", consistent=True)
    return bool(item and item.revoked)


# ------------------------------------------------------------------------------------ throttles


def throttle_failures(kind: str, value: str) -> int:
    item = _get(Throttle, f"throttle#{kind}#{value}", consistent=True)
    if item is None or item.expires_at <= now_s():
        return 0
    return int(item.failures)


def record_failure(kind: str, value: str, window_s: int) -> None:
    key = f"throttle#{kind}#{value}"
    now = now_s()
    item = Throttle(pk=key)
    try:
        # Count within the live window ...
        item.update(actions=[Throttle.failures.add(1)], condition=Throttle.expires_at > now)
    except UpdateError:
        # ... or start a new one (the window expired or never existed).
        try:
            Throttle(pk=key, failures=1, expires_at=now + window_s).save()
        except PutError:
            pass


def clear_failures(kind: str, value: str) -> None:
    try:
        Throttle(pk=f"throttle#{kind}#{value}").delete()
    except Exception:  # noqa: BLE001 - nothing to clear
        pass
