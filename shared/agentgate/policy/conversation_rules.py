"""Seed 000's `dm_policy` and `group_policy`, defined for an API channel.

A conversation is a *dm* while one end user talks in it, and a *group* once it is shared: a
request whose end user (`user` in OpenAI, `user_id` in Coze, the signed-in user in AgentChat)
differs from the user who started the conversation. Each policy is `allow` (the default) or
`disabled`; a request the policy disables is refused with 403 in the protocol's shape. Reading a
conversation is never refused by these: seed 000's `readonly` account (`group_policy:
disabled`) may read a shared conversation but not post into it, and talks one to one freely.
"""

from __future__ import annotations

from agentgate.policy.errors import PolicyError

ALLOW = "allow"
DISABLED = "disabled"
VALUES = (ALLOW, DISABLED)


def normalise(value, name: str) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    if text not in VALUES:
        raise ValueError(f"{name} is one of {', '.join(VALUES)}")
    return text


def is_group(started_by: str | None, user: str | None) -> bool:
    return bool(started_by) and (user or None) != started_by


def check(principal, *, started_by: str | None, user: str | None) -> None:
    """Refuse a turn the key's policies disable (PolicyError 403)."""
    if principal is None:
        return
    if is_group(started_by, user):
        if principal.group_policy == DISABLED:
            raise PolicyError(403, "group conversations are disabled for this key (group_policy): this "
                                   "conversation was started by another user")
    elif principal.dm_policy == DISABLED:
        raise PolicyError(403, "direct conversations are disabled for this key (dm_policy)")


def needs_starter(principal) -> bool:
    """Whether a turn must know who started its conversation (costs a read for sessions)."""
    return principal is not None and DISABLED in (principal.dm_policy, principal.group_policy)
