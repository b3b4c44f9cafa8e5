"""References to earlier outputs: `{{node.field.sub}}` templates and JMESPath expressions.

- A template is a string with `{{ node.path }}` placeholders. `render` fills them in (objects as
  JSON); `value` of a string that is exactly one placeholder keeps the referenced value's type.
- A JMESPath expression (transform nodes, loop `over`) runs against {node_id: output}; JMESPath is
  a well-kept, side-effect-free query language: no user code is ever evaluated.
Validation uses `template_refs` / `expression_refs`: the (node, field) pairs a template or an
expression reads at its root, so every reference can be checked against earlier nodes' outputs.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Iterable

import jmespath
from jmespath.exceptions import JMESPathError

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_\-]+)*)\s*\}\}")
_LONE = re.compile(r"^\{\{\s*([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_\-]+)*)\s*\}\}$")
_ANY_BRACES = re.compile(r"\{\{(.*?)\}\}")


class BadReference(ValueError):
    pass


def _path(rest: str) -> list[str]:
    return [p for p in rest.split(".") if p]


def template_refs(template: str) -> list[tuple[str, list[str]]]:
    """[(node_id, [field, sub, ...])] for every placeholder; raises BadReference on a malformed one."""
    out = []
    for m in _ANY_BRACES.finditer(template):
        full = _PLACEHOLDER.fullmatch(m.group(0))
        if not full:
            raise BadReference(f"malformed placeholder {m.group(0)!r} (write {{{{node.field}}}})")
        out.append((full.group(1), _path(full.group(2))))
    return out


def lone_ref(template: Any) -> tuple[str, list[str]] | None:
    if not isinstance(template, str):
        return None
    m = _LONE.match(template.strip())
    return (m.group(1), _path(m.group(2))) if m else None


def lookup(values: dict, node: str, path: list[str]) -> Any:
    if node not in values:
        return None
    current: Any = values[node]
    for part in path:
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit():
            index = int(part)
            current = current[index] if index < len(current) else None
        else:
            return None
    return current


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def render(template: str, values: dict, escape=None) -> str:
    """The template with every placeholder replaced by its value as text (`escape` maps each)."""
    def sub(m: re.Match) -> str:
        text = to_text(lookup(values, m.group(1), _path(m.group(2))))
        return escape(text) if escape else text

    return _PLACEHOLDER.sub(sub, template)


def value(spec: Any, values: dict) -> Any:
    """A value expression: a lone placeholder keeps its type, other strings are rendered, lists
    and objects are evaluated item by item, other JSON values stay as they are."""
    if isinstance(spec, str):
        ref = lone_ref(spec)
        if ref is not None:
            return lookup(values, *ref)
        return render(spec, values)
    if isinstance(spec, list):
        return [value(v, values) for v in spec]
    if isinstance(spec, dict):
        return {k: value(v, values) for k, v in spec.items()}
    return spec


def value_refs(spec: Any) -> list[tuple[str, list[str]]]:
    if isinstance(spec, str):
        return template_refs(spec)
    if isinstance(spec, list):
        return [r for v in spec for r in value_refs(v)]
    if isinstance(spec, dict):
        return [r for v in spec.values() for r in value_refs(v)]
    return []


# ----------------------------------------------------------------------------- JMESPath


def _known_functions() -> set[str]:
    from jmespath import functions

    return set(functions.Functions().FUNCTION_TABLE)


@lru_cache(maxsize=512)
def compile_expression(expression: str):
    try:
        compiled = jmespath.compile(expression)
    except JMESPathError as exc:
        raise BadReference(f"invalid JMESPath expression {expression!r}: {exc}") from None
    known = _known_functions()
    stack = [compiled.parsed]
    while stack:
        node = stack.pop()
        if node.get("type") == "function_expression" and node.get("value") not in known:
            raise BadReference(f"invalid JMESPath expression {expression!r}: unknown function "
                               f"{node.get('value')}()")
        stack.extend(node.get("children") or [])
    return compiled


def search(expression: str, values: dict) -> Any:
    try:
        return compile_expression(expression).search(values)
    except JMESPathError as exc:
        raise BadReference(f"JMESPath expression {expression!r} failed: {exc}") from None


# How each AST node type's children see the data: at the root (same context as the parent) or in
# a new context (projected elements, the right side of a pipe or subexpression).
_SAME_CONTEXT_ALL = {"or_expression", "and_expression", "not_expression", "comparator", "function_expression",
                     "multi_select_list", "multi_select_dict", "key_val_pair", "flatten"}
_FIRST_ONLY = {"subexpression", "index_expression", "projection", "value_projection", "filter_projection", "pipe"}


def expression_refs(expression: str) -> list[tuple[str, list[str]]]:
    """The (node, [field]) pairs an expression reads from the root object."""
    tree = compile_expression(expression).parsed
    out: list[tuple[str, list[str]]] = []

    def chain(node) -> list[str] | None:
        """A subexpression of plain fields (a.b.c) as a list, else None."""
        if node["type"] == "field":
            return [node["value"]]
        if node["type"] == "subexpression" and len(node["children"]) == 2:
            left = chain(node["children"][0])
            right = node["children"][1]
            if left is not None and right["type"] == "field":
                return left + [right["value"]]
        return None

    def walk(node, at_root: bool) -> None:
        kind = node.get("type")
        if at_root:
            fields = chain(node)
            if fields is not None:
                out.append((fields[0], fields[1:2]))
                return
        children = node.get("children") or []
        if kind in _FIRST_ONLY:
            for i, child in enumerate(children):
                walk(child, at_root and i == 0)
        elif kind in _SAME_CONTEXT_ALL:
            for child in children:
                walk(child, at_root)
        else:  # expref, literal, current, index, slice, identity ... : nothing read at the root
            for child in children:
                walk(child, False)

    walk(tree, True)
    return out


def iter_strings(spec: Any) -> Iterable[str]:
    if isinstance(spec, str):
        yield spec
    elif isinstance(spec, list):
        for v in spec:
            yield from iter_strings(v)
    elif isinstance(spec, dict):
        for v in spec.values():
            yield from iter_strings(v)
