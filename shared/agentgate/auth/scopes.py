"""Scopes a key can hold, and what each grants.

root  - the operator: everything, for any owner.
admin - manage its owner's keys, bots and workflows (and everything chat and read may do).
chat  - call bots, workflows, conversations and files.
read  - read only.
"""

from __future__ import annotations

ROOT = "root"
ADMIN = "admin"
CHAT = "chat"
READ = "read"
ALL = (ROOT, ADMIN, CHAT, READ)
DEFAULT = (CHAT,)

# What holding a scope implies (a key holding `admin` may do what `chat` and `read` may).
_IMPLIES = {
    ROOT: set(ALL),
    ADMIN: {ADMIN, CHAT, READ},
    CHAT: {CHAT, READ},
    READ: {READ},
}


def effective(scopes) -> set[str]:
    out: set[str] = set()
    for scope in scopes or ():
        out |= _IMPLIES.get(scope, set())
    return out


def allows(scopes, needed: str) -> bool:
    return needed in effective(scopes)


def parse(value) -> list[str]:
    """Scopes from a list or a space/comma separated string, in canonical order, unknowns dropped."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    given = set(value or ())
    return [s for s in ALL if s in given]


def unknown(value) -> list[str]:
    given = value.replace(",", " ").split() if isinstance(value, str) else list(value or ())
    return [s for s in given if s not in ALL]
