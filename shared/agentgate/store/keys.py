"""Personal access tokens. The partition key is the MD5 hex of the whole key: one GetItem per lookup."""

from __future__ import annotations

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError  # noqa: F401 (re-exported)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from agentgate.ids import now_ms
from agentgate.store.base import register

STATUS_ACTIVE = 0
STATUS_DELETED = 1


class OwnerIndex(GlobalSecondaryIndex):
    """A key's owner and its time-ordered ID: lists an owner's keys and finds one by ID."""

    class Meta:
        index_name = "owner_index"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class IdIndex(GlobalSecondaryIndex):
    """Finds a key by ID alone (the root operator and the CLI act across owners)."""

    class Meta:
        index_name = "id_index"
        projection = AllProjection()

    id = UnicodeAttribute(hash_key=True)


@register(lambda s: s.keys_table)
class ApiKey(Model):
    class Meta:
        table_name = "agentgate-keys"

    key_hash = UnicodeAttribute(hash_key=True)  # md5 hex of the plaintext key; never the key
    id = UnicodeAttribute()
    owner_id = UnicodeAttribute()
    name = UnicodeAttribute()
    masked = UnicodeAttribute()  # what lists show, e.g. pat_****...a1b2
    scopes = ListAttribute(of=UnicodeAttribute, default=list)
    status = NumberAttribute(default=STATUS_ACTIVE)  # 1 = deleted (soft)
    enabled = NumberAttribute(default=1)  # 0 = disabled by its owner; can be re-enabled
    expired_at = NumberAttribute(default=0)  # ms; 0 = never
    created_at = NumberAttribute(default=0)
    updated_at = NumberAttribute(default=0)
    last_used_at = NumberAttribute(default=0)
    created_by = UnicodeAttribute(null=True)  # key id that created it, or "cli"
    # Access policy (agentgate.policy): what the key may use, from where, how fast.
    bot_ids = ListAttribute(of=UnicodeAttribute, null=True)  # bots (ids or aliases); empty = all of the owner's
    workflow_ids = ListAttribute(of=UnicodeAttribute, null=True)  # workflows; empty = all of the owner's
    allowed_ips = ListAttribute(of=UnicodeAttribute, null=True)  # CIDRs; empty = any address
    rate_limits = MapAttribute(null=True)  # {"rpm": n, "tpm": n, "concurrency": n}; absent = the scope's default
    default_bot = UnicodeAttribute(null=True)  # the bot for requests naming no model (or "default")
    dm_policy = UnicodeAttribute(null=True)  # allow | disabled (one-user conversations); absent = allow
    group_policy = UnicodeAttribute(null=True)  # allow | disabled (shared conversations); absent = allow
    account_id = UnicodeAttribute(null=True)  # seed 000's account id, for keys a channel config made
    # Rotation: a rotated secret's item keeps working until grace_until (ms), then is refused.
    rotated_at = NumberAttribute(null=True)
    grace_until = NumberAttribute(null=True)

    owner_index = OwnerIndex()
    id_index = IdIndex()

    def is_expired(self, at_ms: int | None = None) -> bool:
        return bool(self.expired_at) and (at_ms if at_ms is not None else now_ms()) >= self.expired_at

    @property
    def is_rotated(self) -> bool:
        """A secret replaced by a rotation (it may still be in its grace period)."""
        return bool(self.rotated_at)

    def grace_over(self, at_ms: int | None = None) -> bool:
        return self.is_rotated and (at_ms if at_ms is not None else now_ms()) >= int(self.grace_until or 0)


def get_by_hash(key_hash: str) -> ApiKey | None:
    try:
        return ApiKey.get(key_hash)
    except DoesNotExist:
        return None


def secrets_of(key_id: str, owner_id: str | None = None) -> list[ApiKey]:
    """Every live secret of a key: its current one first, then rotated ones still stored (a
    rotation keeps the id and writes a new item under the new secret's hash)."""
    if owner_id is not None:
        items = ApiKey.owner_index.query(owner_id, ApiKey.id == key_id)
    else:
        items = ApiKey.id_index.query(key_id)
    live = [i for i in items if i.status != STATUS_DELETED]
    return sorted(live, key=lambda i: (i.is_rotated, -int(i.rotated_at or 0)))


def find_by_id(key_id: str, owner_id: str | None = None) -> ApiKey | None:
    """A live (not deleted) key by ID, its current secret; with owner_id, only that owner's key."""
    current = [i for i in secrets_of(key_id, owner_id) if not i.is_rotated]
    return current[0] if current else None


def list_for_owner(owner_id: str, page: int, size: int) -> tuple[list[ApiKey], int]:
    """One page of an owner's live keys, newest first, and the total count.

    An owner holds tens of keys, not millions, so one Query over the owner's partition of the
    index gives both the page and the total without a Scan.
    """
    live = [
        k
        for k in ApiKey.owner_index.query(owner_id, scan_index_forward=False)
        if k.status != STATUS_DELETED and not k.is_rotated
    ]
    start = (page - 1) * size
    return live[start : start + size], len(live)


def touch_last_used(key_hash: str, at_ms: int, interval_ms: int) -> bool:
    """Write last_used_at at most once per interval: a conditional update that loses quietly."""
    try:
        ApiKey(key_hash=key_hash).update(
            actions=[ApiKey.last_used_at.set(at_ms)],
            condition=(ApiKey.key_hash.exists())
            & (ApiKey.last_used_at.does_not_exist() | (ApiKey.last_used_at < at_ms - interval_ms)),
        )
        return True
    except UpdateError as err:
        if err.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False
