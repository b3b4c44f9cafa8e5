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


def _number(text: str):
    """A JSON number with a fraction or exponent that is a whole number (22.0, 1e3) is that integer,
    as JSON Schema's "integer" says (and as JavaScript clients, which cannot tell 22.0 from 22, send
    it); 22.5 stays a float."""
    value = float(text)
    return int(value) if value.is_integer() and abs(value) <= 2**53 else value


def loads(raw: str | bytes | bytearray, limit: int = MAX_DEPTH, *, integral_floats: bool = False):
    """json.loads, raising JsonTooDeep (a ValueError) past `limit` levels. `integral_floats`: whole
    numbers written 22.0 read as ints (request bodies: see _number)."""
    try:
        value = json.loads(raw, parse_float=_number) if integral_floats else json.loads(raw)
    except RecursionError:
        raise JsonTooDeep() from None
    if depth_exceeds(value, limit):
        raise JsonTooDeep()
    return value
