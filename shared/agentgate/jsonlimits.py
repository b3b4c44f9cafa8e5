"""JSON from clients, with a nesting limit: every body, object_string content and uploaded JSON
file is parsed here, so deeply nested input is a clear 400 and never a RecursionError (500).

The limit is MAX_DEPTH levels of arrays/objects (`{}` is one level, `[[1]]` two). JSON nested
deeper than the interpreter's recursion limit cannot even be parsed; anything between that and
MAX_DEPTH is parsed and then refused.
"""

from __future__ import annotations

import json

MAX_DEPTH = 64
TOO_DEEP = f"JSON nested deeper than {MAX_DEPTH} levels"


class JsonTooDeep(ValueError):
    def __init__(self):
        super().__init__(TOO_DEEP)


def depth_exceeds(value, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` nests containers deeper than `limit` (iteratively: no recursion)."""
    if not isinstance(value, (dict, list)):
        return False
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def loads(raw: str | bytes | bytearray, limit: int = MAX_DEPTH):
    """json.loads, raising JsonTooDeep (a ValueError) past `limit` levels."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JsonTooDeep() from None
    if depth_exceeds(value, limit):
        raise JsonTooDeep()
    return value
