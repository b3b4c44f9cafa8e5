"""Usage metering: per key, bot, end user and day, the requests served, the input and output
tokens the provider reported, and the errors; plus each metered request, as an audit trail.

`record` is called once a turn or a workflow run is over (never before its first token): one atomic ADD on the
day's item and one Put of the request, in parallel with the answer's own writes.
`summary` and `recent_requests` answer GET /v1/usage and `agentgate usage`.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from agentgate import access_log

log = logging.getLogger(__name__)

GROUPS = ("key", "bot", "user", "day")
MAX_DAYS = 366
MAX_REQUESTS = 500


def day_of(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%d")


def record(*, owner_id: str, key_id: str, bot_id: str | None, user: str | None, input_tokens: int,
           output_tokens: int, error: bool, status: int, route: str | None = None) -> None:
    """Meter one request (never raises: metering must not fail a served answer)."""
    from agentgate.store import usage as store

    now = time.time()
    current = access_log.current()
    try:
        store.UsageItem(store.usage_pk(owner_id), store.day_sk(day_of(now), key_id, bot_id, user)).update(actions=[
            store.UsageItem.owner_id.set(owner_id), store.UsageItem.day.set(day_of(now)),
            store.UsageItem.key_id.set(key_id), store.UsageItem.bot_id.set(bot_id or "-"),
            store.UsageItem.user.set(user or "-"),
            store.UsageItem.requests.add(1), store.UsageItem.input_tokens.add(int(input_tokens or 0)),
            store.UsageItem.output_tokens.add(int(output_tokens or 0)),
            store.UsageItem.errors.add(1 if error else 0)])
    except Exception:
        log.warning("metering a request of key %s failed", key_id, exc_info=True)
    request_id = (current.request_id if current else None) or ""
    try:
        ms = int(now * 1000)
        store.UsageItem(
            store.request_pk(key_id), f"{ms:013d}#{request_id or ms}", at_ms=ms, request_id=request_id or None,
            owner_id=owner_id, key_id=key_id, bot_id=bot_id, user=user,
            route=route or (f"{current.method} {current.path}" if current else None), status=int(status),
            input_tokens=int(input_tokens or 0), output_tokens=int(output_tokens or 0),
            source_ip=current.source_ip if current else None,
            expires_at=int(now) + store.requests_ttl_s(),
        ).save()
    except Exception:
        log.warning("recording a request of key %s failed", key_id, exc_info=True)


def run_meter(*, owner_id: str, key_id: str, bot_id: str | None = None, user: str | None = None,
              route: str | None = None):
    """A workflow run's metering, called with its final event (Completed, Interrupted or Failed)
    once the run is over: one request, the tokens of its llm/bot nodes, an error unless it
    completed or stopped for a question (a client that went away is not the service's error)."""
    def meter(final) -> None:
        usage = getattr(final, "usage", None)
        code = getattr(final, "code", None)
        failed = code is not None and int(code) != 499
        record(owner_id=owner_id, key_id=key_id, bot_id=bot_id, user=user,
               input_tokens=getattr(usage, "input_tokens", 0), output_tokens=getattr(usage, "output_tokens", 0),
               error=failed, status=int(code) if code is not None else 200, route=route)
    return meter


def parse_day(value: str | int | None, default: str) -> str:
    """YYYY-MM-DD, or epoch seconds / milliseconds, as a UTC day. Raises ValueError."""
    if value in (None, ""):
        return default
    text = str(value).strip()
    if text.isascii() and text.isdigit():
        number = int(text)
        try:
            return day_of(number / 1000 if number >= 10**11 else number)
        except (OverflowError, OSError, ValueError):  # beyond what a timestamp can be
            raise ValueError(f"{text!r} is not a day: the epoch time is out of range") from None
    try:
        return datetime.strptime(text, "%Y-%m-%d").strftime("%Y-%m-%d")
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a day: give YYYY-MM-DD or an epoch time") from exc


def day_range(start: str | int | None, end: str | int | None) -> tuple[str, str]:
    today = day_of(time.time())
    to_day = parse_day(end, today)
    from_day = parse_day(start, (datetime.strptime(to_day, "%Y-%m-%d") - timedelta(days=29)).strftime("%Y-%m-%d"))
    if from_day > to_day:
        raise ValueError(f"from ({from_day}) lies after to ({to_day})")
    if (datetime.strptime(to_day, "%Y-%m-%d") - datetime.strptime(from_day, "%Y-%m-%d")).days >= MAX_DAYS:
        raise ValueError(f"a usage query spans at most {MAX_DAYS} days")
    return from_day, to_day


def _days(owner_id: str | None, from_day: str, to_day: str):
    from agentgate.store import usage as store

    low, high = f"d#{from_day}", f"d#{to_day}#~"
    if owner_id is not None:
        yield from store.UsageItem.query(store.usage_pk(owner_id), store.UsageItem.sk.between(low, high))
        return
    # The operator across owners: the day index, one Query per day of the range.
    day = datetime.strptime(from_day, "%Y-%m-%d")
    last = datetime.strptime(to_day, "%Y-%m-%d")
    while day <= last:
        yield from store.UsageItem.day_index.query(day.strftime("%Y-%m-%d"))
        day += timedelta(days=1)


def summary(owner_id: str | None, from_day: str, to_day: str, group_by: str = "day", *,
            key_id: str | None = None, bot_id: str | None = None) -> dict:
    """Totals and one row per group (key | bot | user | day); owner_id None = every owner."""
    if group_by not in GROUPS:
        raise ValueError(f"group_by is one of {', '.join(GROUPS)}")
    attr = {"key": "key_id", "bot": "bot_id", "user": "user", "day": "day"}[group_by]
    rows: dict[str, dict] = defaultdict(lambda: {"requests": 0, "input_tokens": 0, "output_tokens": 0, "errors": 0})
    total = {"requests": 0, "input_tokens": 0, "output_tokens": 0, "errors": 0}
    for item in _days(owner_id, from_day, to_day):
        if key_id and item.key_id != key_id:
            continue
        if bot_id and item.bot_id != bot_id:
            continue
        row = rows[str(getattr(item, attr) or "-")]
        for name in total:
            value = int(getattr(item, name) or 0)
            row[name] += value
            total[name] += value
    items = [{group_by: name, **values, "total_tokens": values["input_tokens"] + values["output_tokens"]}
             for name, values in sorted(rows.items())]
    return {"from": from_day, "to": to_day, "group_by": group_by, "items": items,
            "total": {**total, "total_tokens": total["input_tokens"] + total["output_tokens"]}}


def recent_requests(key_id: str, limit: int = 50) -> list[dict]:
    """The key's last metered requests, newest first."""
    from agentgate.store import usage as store

    out = []
    for item in store.UsageItem.query(store.request_pk(key_id), scan_index_forward=False,
                                      limit=min(max(1, limit), MAX_REQUESTS)):
        if item.expires_at and item.expires_at < time.time():
            continue
        out.append({"time_ms": item.at_ms, "request_id": item.request_id, "route": item.route, "status": item.status,
                    "key_id": item.key_id, "owner_id": item.owner_id, "bot_id": item.bot_id, "user": item.user,
                    "input_tokens": item.input_tokens, "output_tokens": item.output_tokens,
                    "source_ip": item.source_ip})
        if len(out) >= limit:
            break
    return out
