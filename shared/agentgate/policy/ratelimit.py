"""Per-key rate limits, enforced across Lambda instances with atomic DynamoDB counters.

Before the model is called, `admit` adds the request to its window (one UpdateItem: ADD req,
conditioned on req < rpm and tok < tpm) and, for a stream under a concurrency limit, takes a
slot (one UpdateItem: ADD conc, conditioned on conc < limit). The two run in parallel: one
store round trip of latency. A refused half is given back. Because the condition and the ADD
are one atomic write, requests and streams never overshoot their limit, however many
instances count at once.

Tokens are known only after an answer: `Admission.settle` adds them to the window, and a window
whose tokens are spent refuses the next request (no reservation of max_tokens up front: most
answers are far shorter than max_tokens, and reserving would refuse requests that fit). The
tokens limit may therefore be exceeded by the answers already running when it is reached.

A stream killed without its `finally` (a Lambda timeout) leaks its slot; the slot counter is
reset once the key has started no stream for longer than a turn can last (STALE_AFTER_S).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field

from agentgate.policy import limits as limit_rules
from agentgate.policy.errors import PolicyError

log = logging.getLogger(__name__)

STALE_AFTER_S = 16 * 60  # longer than any turn (Lambda stops at 15 minutes)


class RateLimited(PolicyError):
    """A 429: the message names the limit; `headers` carry Retry-After and x-ratelimit-*."""

    def __init__(self, message: str, headers: dict[str, str]):
        super().__init__(429, message, headers)


def _duration(seconds: float) -> str:
    """OpenAI's reset format: "1s", "6m0s", "250ms"."""
    if seconds < 1:
        return f"{max(1, int(seconds * 1000))}ms"
    seconds = math.ceil(seconds)
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


@dataclass
class Admission:
    """One admitted request: its counters' state, and what to give back at its end."""

    key_id: str
    limits: limit_rules.Limits
    window: int
    window_s: int
    reset_s: float
    requests: int = 0  # this window's requests, this one included
    tokens: int = 0  # this window's tokens before this request
    slot: bool = False  # holds a concurrency slot
    _settled: bool = field(default=False, repr=False)

    def headers(self) -> dict[str, str]:
        return _headers(self.limits, self.requests, self.tokens, self.reset_s)

    def settle(self, tokens: int) -> None:
        """The answer is done: count its tokens and give the slot back (once; never raises)."""
        if self._settled:
            return
        self._settled = True
        from agentgate.store import usage as store

        now = time.time()
        try:
            if tokens > 0 and self.limits.tpm:
                index = int(now // self.window_s)
                store.UsageItem(store.limit_pk(self.key_id), store.window_sk(index)).update(actions=[
                    store.UsageItem.tok.add(int(tokens)),
                    store.UsageItem.expires_at.set(int(now) + 2 * self.window_s + 60)])
        except Exception:
            log.warning("counting the tokens of key %s failed", self.key_id, exc_info=True)
        if self.slot:
            _release_slot(self.key_id)


def _headers(limits: limit_rules.Limits, requests: int, tokens: int, reset_s: float) -> dict[str, str]:
    out: dict[str, str] = {}
    if limits.rpm:
        out["x-ratelimit-limit-requests"] = str(limits.rpm)
        out["x-ratelimit-remaining-requests"] = str(max(0, limits.rpm - requests))
        out["x-ratelimit-reset-requests"] = _duration(reset_s)
    if limits.tpm:
        out["x-ratelimit-limit-tokens"] = str(limits.tpm)
        out["x-ratelimit-remaining-tokens"] = str(max(0, limits.tpm - tokens))
        out["x-ratelimit-reset-tokens"] = _duration(reset_s)
    return out


def _release_slot(key_id: str) -> None:
    from agentgate.store import usage as store

    try:
        store.UsageItem(store.limit_pk(key_id), store.CONCURRENCY_SK).update(
            actions=[store.UsageItem.conc.add(-1)], condition=store.UsageItem.conc > 0)
    except Exception as exc:
        if not store.is_condition_failure(exc):
            log.warning("releasing a stream slot of key %s failed", key_id, exc_info=True)


def _count_request(key_id: str, lim: limit_rules.Limits, index: int, window_s: int, now: float):
    """(requests, tokens) after adding this request, or raises ("requests"|"tokens", requests, tokens)."""
    from agentgate.store import usage as store

    item = store.UsageItem(store.limit_pk(key_id), store.window_sk(index))
    condition = None
    if lim.rpm:
        condition = store.UsageItem.req.does_not_exist() | (store.UsageItem.req < lim.rpm)
    if lim.tpm:
        tokens_left = store.UsageItem.tok.does_not_exist() | (store.UsageItem.tok < lim.tpm)
        condition = tokens_left if condition is None else condition & tokens_left
    try:
        item.update(actions=[store.UsageItem.req.add(1),
                             store.UsageItem.expires_at.set(int(now) + 2 * window_s + 60)], condition=condition)
    except Exception as exc:
        if not store.is_condition_failure(exc):
            raise
        seen = store.get(item.pk, item.sk) or item
        requests, tokens = int(seen.req or 0), int(seen.tok or 0)
        which = "requests" if lim.rpm and requests >= lim.rpm else "tokens"
        return which, requests, tokens
    return None, int(item.req or 0), int(item.tok or 0)


def _take_slot(key_id: str, limit: int, now: float) -> bool:
    from agentgate.store import usage as store

    item = store.UsageItem(store.limit_pk(key_id), store.CONCURRENCY_SK)
    try:
        item.update(actions=[store.UsageItem.conc.add(1), store.UsageItem.touched_at.set(int(now)),
                             store.UsageItem.expires_at.set(int(now) + 2 * STALE_AFTER_S)],
                    condition=store.UsageItem.conc.does_not_exist() | (store.UsageItem.conc < limit))
        return True
    except Exception as exc:
        if not store.is_condition_failure(exc):
            raise
    seen = store.get(item.pk, item.sk)
    if seen is None or int(seen.touched_at or 0) >= int(now) - STALE_AFTER_S:
        return False
    # No stream started for longer than a turn lasts: every counted slot leaked. Start over.
    try:
        item.update(actions=[store.UsageItem.conc.set(1), store.UsageItem.touched_at.set(int(now))],
                    condition=store.UsageItem.touched_at == seen.touched_at)
        return True
    except Exception as exc:
        if not store.is_condition_failure(exc):
            raise
        return False


def _refund_request(key_id: str, index: int) -> None:
    from agentgate.store import usage as store

    try:
        store.UsageItem(store.limit_pk(key_id), store.window_sk(index)).update(
            actions=[store.UsageItem.req.add(-1)])
    except Exception:
        log.warning("giving back a refused request of key %s failed", key_id, exc_info=True)


async def admit(principal, *, stream: bool, bot_id: str | None = None, user: str | None = None) -> Admission | None:
    """Count this request against the key's limits, or raise RateLimited (429), which is metered
    as an error of the key (bot_id, user: the request's, for the usage rows). None when the key
    is not limited (nothing is written)."""
    try:
        return await _admit(principal, stream=stream)
    except RateLimited:
        await asyncio.to_thread(_meter_refusal, principal, bot_id, user)
        raise


def _meter_refusal(principal, bot_id: str | None, user: str | None) -> None:
    from agentgate.policy import metering

    metering.record(owner_id=principal.owner_id, key_id=principal.key_id, bot_id=bot_id, user=user,
                    input_tokens=0, output_tokens=0, error=True, status=429)


async def _admit(principal, *, stream: bool) -> Admission | None:
    if principal is None or not limit_rules.enabled():
        return None
    lim = limit_rules.for_principal(principal)
    use_window = bool(lim.rpm or lim.tpm)
    use_slot = stream and lim.concurrency > 0
    if not (use_window or use_slot):
        return None
    now = time.time()
    window_s = limit_rules.window_s()
    index = int(now // window_s)
    reset_s = (index + 1) * window_s - now
    key_id = principal.key_id
    jobs = []
    if use_window:
        jobs.append(asyncio.to_thread(_count_request, key_id, lim, index, window_s, now))
    if use_slot:
        jobs.append(asyncio.to_thread(_take_slot, key_id, lim.concurrency, now))
    results = await asyncio.gather(*jobs, return_exceptions=True)
    counted = results[0] if use_window else (None, 0, 0)
    slot = results[-1] if use_slot else False
    failure = next((r for r in results if isinstance(r, BaseException)), None)
    window_refused = use_window and not isinstance(counted, BaseException) and counted[0] is not None
    if failure is not None or window_refused or (use_slot and not slot):
        # Give back what the other half took.
        if use_window and not isinstance(counted, BaseException) and counted[0] is None:
            await asyncio.to_thread(_refund_request, key_id, index)
        if use_slot and slot is True:
            await asyncio.to_thread(_release_slot, key_id)
        if failure is not None:
            raise failure
        requests, tokens = (counted[1], counted[2]) if use_window else (0, 0)
        headers = _headers(lim, requests, tokens, reset_s)
        if window_refused and counted[0] == "requests":
            headers["retry-after"] = str(max(1, math.ceil(reset_s)))
            raise RateLimited(f"rate limit reached: {lim.rpm} requests per {window_s} s for this key; "
                              f"retry in {math.ceil(reset_s)} s", headers)
        if window_refused:
            headers["retry-after"] = str(max(1, math.ceil(reset_s)))
            raise RateLimited(f"rate limit reached: {lim.tpm} tokens per {window_s} s for this key; "
                              f"retry in {math.ceil(reset_s)} s", headers)
        headers["retry-after"] = "1"
        raise RateLimited(f"rate limit reached: {lim.concurrency} concurrent streams for this key; "
                          "retry when one has ended", headers)
    requests, tokens = (counted[1], counted[2]) if use_window else (0, 0)
    return Admission(key_id=key_id, limits=lim, window=index, window_s=window_s, reset_s=reset_s,
                     requests=requests, tokens=tokens, slot=bool(use_slot and slot))
