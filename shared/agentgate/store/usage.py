"""Metering and rate-limit counters: one table, pk + sk, items that expire carry `expires_at`
(epoch s, the table's TTL attribute).

- "l#<key_id>" / "w#<window index>": requests (`req`) and tokens (`tok`) of one rate window.
- "l#<key_id>" / "c": the key's streams running now (`conc`) and when one last started.
- "u#<owner_id>" / "d#<day>#<key_id>#<bot_id>#<user>": the day's usage (requests, input and
  output tokens, errors) of one key, bot and end user: GET /v1/usage reads one owner's days as
  ONE Query over the sort key's day range; the root key's view of every owner reads the sparse
  `day_index` (only day items carry `day`), one Query per day.
- "r#<key_id>" / "<ms, 13 digits>#<request id>": one metered request (the audit trail of a key:
  route, status, bot, tokens, source address), kept AGENTGATE_USAGE_REQUESTS_TTL_DAYS days.
Every write is an atomic ADD or a conditional update: concurrent Lambda instances count exactly.
"""

from __future__ import annotations

import os

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from agentgate.store.base import register

SEP = "#"


class DayIndex(GlobalSecondaryIndex):
    """Every owner's usage of one day (sparse: only day items have `day`)."""

    class Meta:
        index_name = "day_index"
        projection = IncludeProjection(["owner_id", "key_id", "bot_id", "user", "requests", "input_tokens",
                                        "output_tokens", "errors"])

    day = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


@register(lambda s: s.usage_table)
class UsageItem(Model):
    class Meta:
        table_name = "agentgate-usage"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    expires_at = NumberAttribute(null=True)  # epoch s (TTL)
    # rate-limit counters
    req = NumberAttribute(null=True)
    tok = NumberAttribute(null=True)
    conc = NumberAttribute(null=True)
    touched_at = NumberAttribute(null=True)  # epoch s: the last stream start (concurrency item)
    # daily usage
    owner_id = UnicodeAttribute(null=True)
    day = UnicodeAttribute(null=True)
    key_id = UnicodeAttribute(null=True)
    bot_id = UnicodeAttribute(null=True)
    user = UnicodeAttribute(null=True)
    requests = NumberAttribute(null=True)
    input_tokens = NumberAttribute(null=True)
    output_tokens = NumberAttribute(null=True)
    errors = NumberAttribute(null=True)
    # one request (audit)
    at_ms = NumberAttribute(null=True)
    request_id = UnicodeAttribute(null=True)
    route = UnicodeAttribute(null=True)
    status = NumberAttribute(null=True)
    source_ip = UnicodeAttribute(null=True)
    latency_ms = NumberAttribute(null=True)

    day_index = DayIndex()


def _part(value) -> str:
    # A sort-key segment: '#' would shift the segments after it.
    return str(value or "-").replace(SEP, "_")


def limit_pk(key_id: str) -> str:
    return f"l{SEP}{key_id}"


def window_sk(index: int) -> str:
    return f"w{SEP}{index}"


CONCURRENCY_SK = "c"


def day_sk(day: str, key_id: str, bot_id: str | None, user: str | None) -> str:
    return SEP.join(("d", day, _part(key_id), _part(bot_id), _part(user)))


def usage_pk(owner_id: str) -> str:
    return f"u{SEP}{owner_id}"


def request_pk(key_id: str) -> str:
    return f"r{SEP}{key_id}"


def is_condition_failure(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def get(pk: str, sk: str, consistent: bool = True) -> UsageItem | None:
    try:
        return UsageItem.get(pk, sk, consistent_read=consistent)
    except DoesNotExist:
        return None


def requests_ttl_s() -> int:
    try:
        return int(os.environ.get("AGENTGATE_USAGE_REQUESTS_TTL_DAYS") or 30) * 86400
    except ValueError:
        return 30 * 86400


__all__ = ["UsageItem", "UpdateError", "get", "limit_pk", "window_sk", "CONCURRENCY_SK", "day_sk", "usage_pk",
           "request_pk", "is_condition_failure", "requests_ttl_s"]
