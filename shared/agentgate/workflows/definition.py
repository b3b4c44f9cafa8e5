"""A workflow definition: the JSON document, parsed and validated when it is saved.

    {"name": "translate", "description": "...", "mode": "workflow",
     "inputs": [{"name": "text", "dataType": "String", "required": true, "description": "..."}],
     "nodes": [{"id": "start", "type": "start"},
               {"id": "llm", "type": "llm", "prompt": "Translate: {{start.text}}"},
               {"id": "end", "type": "end", "outputs": {"result": "{{llm.text}}"}}],
     "edges": [{"from": "start", "to": "llm"}, {"from": "llm", "to": "end"}]}

`edges` may be left out: the nodes then run one after the other, in the order listed. Validation:
one start, an end reachable from it, every node reachable, no cycles (loops repeat only their
own `body`), condition edges carry a `branch` ("true"/"false"), every `{{node.field}}` names an
output of a node that runs earlier, input types known, the node count within the limit. A
failure is a DefinitionError naming the node and the problem.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from agentgate.config import settings
from agentgate.workflows import refs
from agentgate.workflows.errors import DefinitionError, InputError

NODE_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")
RESERVED_IDS = {"secrets", "inputs"}
MODES = ("workflow", "chatflow")
CHAT_INPUT = "USER_INPUT"

# dataType (AIFlowy's spelling, any case) -> the JSON types a value may have.
_TYPES: dict[str, tuple] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "file": (str,),
}
_ARRAY_OF = re.compile(r"^array<(\w+)>$")


def _canonical_type(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    t = raw.strip().lower()
    m = _ARRAY_OF.match(t)
    if m:
        return t if m.group(1) in _TYPES and m.group(1) != "array" else None
    return t if t in _TYPES else None


def _type_ok(value: Any, dtype: str) -> bool:
    m = _ARRAY_OF.match(dtype)
    if m:
        return isinstance(value, list) and all(_type_ok(v, m.group(1)) for v in value)
    kinds = _TYPES[dtype]
    if bool in kinds:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if dtype == "integer" and isinstance(value, float) and value.is_integer():
        return True
    return isinstance(value, kinds)


def _display_type(dtype: str) -> str:
    m = _ARRAY_OF.match(dtype)
    if m:
        return f"Array<{m.group(1).capitalize()}>"
    return dtype.capitalize()


@dataclass
class InputSpec:
    id: str
    name: str
    data_type: str  # canonical (lower case)
    description: str = ""
    required: bool = False
    default: Any = None

    def describe(self) -> dict:
        """What AIFlowy's getRunningParams lists."""
        return {"id": self.id, "name": self.name, "dataType": _display_type(self.data_type),
                "description": self.description, "required": self.required, "refType": "INPUT"}


@dataclass
class NodeSpec:
    id: str
    kind: str
    title: str
    config: dict


@dataclass
class Edge:
    source: str
    target: str
    branch: str | None = None


@dataclass
class Graph:
    nodes: dict[str, NodeSpec]
    order: list[str]  # topological
    edges: list[Edge]
    incoming: dict[str, list[Edge]]
    outgoing: dict[str, list[Edge]]
    ancestors: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class Definition:
    name: str
    description: str
    mode: str
    inputs: list[InputSpec]
    graph: Graph
    document: dict
    # node id -> the title its Delta events go out under (llm/bot nodes that stream)
    stream_titles: dict[str, str] = field(default_factory=dict)
    node_count: int = 0
    bodies: dict[str, Graph] = field(default_factory=dict)  # loop node id -> its body

    @property
    def end_ids(self) -> list[str]:
        return [n for n in self.graph.order if self.graph.nodes[n].kind == "end"]

    def bind_inputs(self, parameters: Any) -> dict:
        """The start node's output for these parameters: defaults filled, required ones present,
        types checked. Raises InputError naming the parameter."""
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            raise InputError("parameters must be a JSON object", param="parameters")
        bound: dict = {}
        for spec in self.inputs:
            given = parameters.get(spec.name)
            if given is None or (isinstance(given, str) and given == "" and spec.data_type != "string"):
                if spec.default is not None:
                    bound[spec.name] = spec.default
                    continue
                if spec.required:
                    raise InputError(f"missing required input '{spec.name}'", param=spec.name)
                bound[spec.name] = None
                continue
            if not _type_ok(given, spec.data_type):
                coerced = _coerce(given, spec.data_type)
                if coerced is _NO:
                    raise InputError(f"input '{spec.name}' must be {_display_type(spec.data_type)}, "
                                     f"not {type(given).__name__}", param=spec.name)
                given = coerced
            bound[spec.name] = given
        for name, given in parameters.items():  # undeclared extras pass through (Coze does the same)
            if name not in bound and isinstance(name, str):
                bound[name] = given
        return bound

    def to_json(self) -> str:
        return json.dumps(self.document, ensure_ascii=False, separators=(",", ":"))


_NO = object()


def _coerce(value: Any, dtype: str) -> Any:
    """Form posts and query strings carry text: accept "3" for a Number, "true" for a Boolean."""
    if not isinstance(value, str):
        if dtype == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return _NO
    text = value.strip()
    try:
        if dtype == "integer":
            return int(text)
        if dtype == "number":
            number = float(text)
            return int(number) if number.is_integer() and "." not in text else number
        if dtype == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if dtype in ("object", "array") or dtype.startswith("array<"):
            parsed = json.loads(text)
            return parsed if _type_ok(parsed, dtype) else _NO
    except ValueError:
        return _NO
    return _NO


# ----------------------------------------------------------------------------- parsing


class ValidationContext:
    """What a node kind's validate() may ask: the outputs visible to a node, and the limits."""

    def __init__(self, definition: "Definition", graph: Graph, outer: dict[str, set[str] | None]):
        self.definition = definition
        self.graph = graph
        self.outer = outer  # outputs visible from outside this graph (a loop body's enclosing graph)
        self.settings = settings()

    def visible(self, node_id: str) -> dict[str, set[str] | None]:
        """node id -> its output fields (None: any field), for the nodes that run before node_id."""
        from agentgate.workflows.nodes import kind_of

        out = dict(self.outer)
        for ancestor in self.graph.ancestors.get(node_id, ()):
            spec = self.graph.nodes[ancestor]
            out[ancestor] = kind_of(spec.kind).outputs(spec, self.definition)
        return out

    def check_refs(self, node: NodeSpec, pairs: list[tuple[str, list[str]]], *, secrets: bool = False) -> None:
        visible = self.visible(node.id)
        for ref_node, path in pairs:
            shown = "{{" + ".".join([ref_node] + path) + "}}"
            if ref_node == "secrets":
                if not secrets:
                    raise DefinitionError(f"{shown}: secrets may only be used in an http node's url, headers "
                                          "and query", node.id)
                if len(path) != 1:
                    raise DefinitionError(f"{shown}: write {{{{secrets.NAME}}}}", node.id)
                continue
            if ref_node not in visible:
                if ref_node == node.id:
                    raise DefinitionError(f"{shown} refers to the node itself", node.id)
                if self._exists(ref_node):
                    raise DefinitionError(f"{shown}: node '{ref_node}' does not run before this node", node.id)
                raise DefinitionError(f"{shown}: there is no node '{ref_node}'", node.id)
            fields = visible[ref_node]
            if fields is not None and path and path[0] not in fields:
                have = ", ".join(sorted(fields)) or "none"
                raise DefinitionError(f"{shown}: node '{ref_node}' has no output '{path[0]}' (its outputs: {have})",
                                      node.id)

    def template(self, node: NodeSpec, key: str, *, required: bool = False, secrets: bool = False) -> str | None:
        raw = node.config.get(key)
        if raw is None:
            if required:
                raise DefinitionError(f"'{key}' is required", node.id)
            return None
        if not isinstance(raw, str):
            raise DefinitionError(f"'{key}' must be a string", node.id)
        try:
            self.check_refs(node, refs.template_refs(raw), secrets=secrets)
        except refs.BadReference as exc:
            raise DefinitionError(f"'{key}': {exc}", node.id) from None
        return raw

    def value_spec(self, node: NodeSpec, key: str, spec: Any) -> None:
        try:
            self.check_refs(node, refs.value_refs(spec))
        except refs.BadReference as exc:
            raise DefinitionError(f"'{key}': {exc}", node.id) from None

    def expression(self, node: NodeSpec, key: str, expression: Any) -> str:
        if not isinstance(expression, str) or not expression.strip():
            raise DefinitionError(f"'{key}' must be a JMESPath expression (a non-empty string)", node.id)
        try:
            pairs = refs.expression_refs(expression)
        except refs.BadReference as exc:
            raise DefinitionError(f"'{key}': {exc}", node.id) from None
        self.check_refs(node, pairs)
        return expression

    def _exists(self, node_id: str) -> bool:
        return node_id in self.graph.nodes or node_id in self.definition_ids

    @property
    def definition_ids(self) -> set[str]:
        return getattr(self.definition, "_all_ids", set())

    def subgraph(self, node: NodeSpec, raw: Any, *, extra_visible: dict[str, set[str] | None]) -> Graph:
        """Parse and validate a nested graph (a loop's body)."""
        if not isinstance(raw, dict):
            raise DefinitionError("'body' must be an object with nodes (and edges)", node.id)
        outer = self.visible(node.id)
        outer.update(extra_visible)
        return parse_graph(self.definition, raw.get("nodes"), raw.get("edges"), top_level=False, outer=outer,
                           where=f"loop '{node.id}'")


def _parse_inputs(raw: Any, mode: str) -> list[InputSpec]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise DefinitionError("'inputs' must be a list")
    out: list[InputSpec] = []
    names: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise DefinitionError(f"inputs[{i}] must be an object")
        name = item.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name):
            raise DefinitionError(f"inputs[{i}].name must be an identifier (letters, digits, _)")
        if name in names:
            raise DefinitionError(f"input '{name}' is declared twice")
        names.add(name)
        raw_type = item.get("dataType", item.get("type", "String"))
        dtype = _canonical_type(raw_type)
        if dtype is None:
            raise DefinitionError(f"input '{name}': unknown dataType {raw_type!r} (String, Number, Integer, "
                                  "Boolean, Object, Array, Array<String>, ... File)")
        default = item.get("default")
        if default is not None and not _type_ok(default, dtype):
            raise DefinitionError(f"input '{name}': the default must be {_display_type(dtype)}")
        description = item.get("description", "")
        if not isinstance(description, str):
            raise DefinitionError(f"input '{name}': description must be a string")
        input_id = item.get("id", name)
        if not isinstance(input_id, str) or not input_id:
            raise DefinitionError(f"input '{name}': id must be a non-empty string")
        out.append(InputSpec(id=input_id, name=name, data_type=dtype, description=description,
                             required=bool(item.get("required", False)), default=default))
    if mode == "chatflow" and CHAT_INPUT not in names:
        out.append(InputSpec(id=CHAT_INPUT, name=CHAT_INPUT, data_type="string",
                             description="the user's message (chat)", required=False))
    return out


def _parse_edges(raw: Any, node_ids: list[str], where: str) -> list[Edge]:
    if raw is None:  # one after the other, in the order listed
        return [Edge(a, b) for a, b in zip(node_ids, node_ids[1:])]
    if not isinstance(raw, list):
        raise DefinitionError(f"{where}: 'edges' must be a list")
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, list) and len(item) in (2, 3) and all(isinstance(x, str) for x in item):
            out.append(Edge(item[0], item[1], item[2] if len(item) == 3 else None))
            continue
        if not isinstance(item, dict):
            raise DefinitionError(f"{where}: edges[{i}] must be {{\"from\": ..., \"to\": ...}}")
        source = item.get("from", item.get("source"))
        target = item.get("to", item.get("target"))
        branch = item.get("branch")
        if not isinstance(source, str) or not isinstance(target, str):
            raise DefinitionError(f"{where}: edges[{i}] needs string 'from' and 'to'")
        if branch is not None:
            if isinstance(branch, bool):
                branch = "true" if branch else "false"
            if branch not in ("true", "false"):
                raise DefinitionError(f"{where}: edges[{i}].branch must be \"true\" or \"false\"")
        out.append(Edge(source, target, branch))
    return out


def parse_graph(definition: Definition, raw_nodes: Any, raw_edges: Any, *, top_level: bool,
                outer: dict[str, set[str] | None], where: str = "workflow") -> Graph:
    from agentgate.workflows.nodes import KINDS, kind_of

    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise DefinitionError(f"{where}: 'nodes' must be a non-empty list")
    all_ids: set[str] = definition._all_ids  # type: ignore[attr-defined]
    nodes: dict[str, NodeSpec] = {}
    listed: list[str] = []
    for i, item in enumerate(raw_nodes):
        if not isinstance(item, dict):
            raise DefinitionError(f"{where}: nodes[{i}] must be an object")
        node_id = item.get("id")
        if isinstance(node_id, int) and not isinstance(node_id, bool):
            node_id = str(node_id)
        if not isinstance(node_id, str) or not NODE_ID.match(node_id) or node_id in RESERVED_IDS:
            raise DefinitionError(f"{where}: nodes[{i}].id must be 1-64 letters, digits or _ (not secrets/inputs)")
        if node_id in all_ids:
            raise DefinitionError("the id is used by another node", node_id)
        kind = item.get("type")
        if kind not in KINDS:
            raise DefinitionError(f"unknown type {kind!r} (known: {', '.join(sorted(KINDS))})", node_id)
        if not top_level and not kind_of(kind).allowed_in_loop:
            raise DefinitionError(f"a {kind} node cannot be inside a loop body", node_id)
        title = item.get("title", item.get("name", node_id))
        if not isinstance(title, str):
            raise DefinitionError("'title' must be a string", node_id)
        all_ids.add(node_id)
        nodes[node_id] = NodeSpec(id=node_id, kind=kind, title=title or node_id, config=item)
        listed.append(node_id)
    definition.node_count += len(nodes)
    limit = settings().workflow_max_nodes
    if definition.node_count > limit:
        raise DefinitionError(f"the workflow has more than {limit} nodes (AGENTGATE_WORKFLOW_MAX_NODES)")

    edges = _parse_edges(raw_edges, listed, where)
    incoming: dict[str, list[Edge]] = {n: [] for n in listed}
    outgoing: dict[str, list[Edge]] = {n: [] for n in listed}
    seen_pairs = set()
    for e in edges:
        for end in (e.source, e.target):
            if end not in nodes:
                raise DefinitionError(f"{where}: an edge names unknown node '{end}'")
        if e.source == e.target:
            raise DefinitionError("an edge leads from the node to itself (a cycle)", e.source)
        if (e.source, e.target, e.branch) in seen_pairs:
            raise DefinitionError(f"the edge to '{e.target}' is listed twice", e.source)
        seen_pairs.add((e.source, e.target, e.branch))
        incoming[e.target].append(e)
        outgoing[e.source].append(e)

    # Kahn's algorithm, keeping the listed order among ready nodes.
    pending = {n: len(incoming[n]) for n in listed}
    order: list[str] = []
    ready = [n for n in listed if pending[n] == 0]
    while ready:
        n = ready.pop(0)
        order.append(n)
        for e in outgoing[n]:
            pending[e.target] -= 1
            if pending[e.target] == 0:
                ready.append(e.target)
        ready.sort(key=listed.index)
    if len(order) != len(listed):
        stuck = next(n for n in listed if n not in order)
        raise DefinitionError("the edges form a cycle through this node (only a loop's body repeats)", stuck)

    ancestors: dict[str, set[str]] = {}
    for n in order:
        acc: set[str] = set()
        for e in incoming[n]:
            acc.add(e.source)
            acc |= ancestors[e.source]
        ancestors[n] = acc
    graph = Graph(nodes=nodes, order=order, edges=edges, incoming=incoming, outgoing=outgoing, ancestors=ancestors)

    starts = [n for n in order if nodes[n].kind == "start"]
    ends = [n for n in order if nodes[n].kind == "end"]
    if top_level:
        if len(starts) != 1:
            raise DefinitionError(f"a workflow needs exactly one start node (found {len(starts)})")
        start = starts[0]
        if incoming[start]:
            raise DefinitionError("nothing may lead into the start node", start)
        if not ends:
            raise DefinitionError("a workflow needs an end node")
        for n in order:
            if n != start and start not in ancestors[n]:
                raise DefinitionError("the node is not reachable from the start node", n)
    for n in order:
        spec = nodes[n]
        for e in outgoing[n]:
            if spec.kind == "condition" and e.branch is None:
                raise DefinitionError(f"the edge to '{e.target}' needs a branch: \"true\" or \"false\"", n)
            if spec.kind != "condition" and e.branch is not None:
                raise DefinitionError(f"the edge to '{e.target}' has a branch, but only condition nodes branch", n)
        if spec.kind == "end" and outgoing[n]:
            raise DefinitionError("an end node cannot lead anywhere", n)

    ctx = ValidationContext(definition, graph, outer)
    for n in order:
        kind_of(nodes[n].kind).validate(nodes[n], ctx)
    return graph


def parse(document: Any) -> Definition:
    """Parse and validate a definition document (a dict). Raises DefinitionError."""
    if not isinstance(document, dict):
        raise DefinitionError("a workflow definition must be a JSON object")
    size = len(json.dumps(document, ensure_ascii=False))
    limit = settings().workflow_definition_max_bytes
    if size > limit:
        raise DefinitionError(f"the definition is {size} bytes; at most {limit} are accepted")
    name = document.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise DefinitionError("'name' is required (a string of at most 100 characters)")
    description = document.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        raise DefinitionError("'description' must be a string of at most 2000 characters")
    mode = document.get("mode", "workflow")
    if mode not in MODES:
        raise DefinitionError("'mode' must be \"workflow\" or \"chatflow\"")
    inputs = _parse_inputs(document.get("inputs"), mode)
    definition = Definition(name=name.strip(), description=description, mode=mode, inputs=inputs,
                            graph=None, document=document)  # type: ignore[arg-type]
    definition._all_ids = set()  # type: ignore[attr-defined]
    definition.graph = parse_graph(definition, document.get("nodes"), document.get("edges"), top_level=True, outer={})
    definition.stream_titles = _stream_titles(definition)
    return definition


def _stream_titles(definition: Definition) -> dict[str, str]:
    """Which llm/bot nodes stream their tokens, and under which title: the one an end node's
    `answer` is (exactly `{{node.text}}`) streams as the end's answer; `"stream": true` makes any
    llm/bot node stream under its own title."""
    out: dict[str, str] = {}
    graph = definition.graph
    for n in graph.order:
        spec = graph.nodes[n]
        if spec.kind in ("llm", "bot") and spec.config.get("stream") is True:
            out[n] = spec.title
    for n in definition.end_ids:
        end = graph.nodes[n]
        ref = refs.lone_ref(end.config.get("answer"))
        if ref and ref[1] == ["text"] and ref[0] in graph.nodes and graph.nodes[ref[0]].kind in ("llm", "bot") \
                and end.config.get("stream", True) is not False:
            out[ref[0]] = end.title
    return out


def parse_json(raw: str | bytes) -> Definition:
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"the definition is not valid JSON: {exc}") from None
    return parse(document)
