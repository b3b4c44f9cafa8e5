"""The model layer (issue 10, point 12): the openai SDK and the MCP client ship only to the functions
that call a model, and every other function runs without them.

- the translated template gives ModelLayer to exactly the model-calling functions;
- the model layer's lock holds only what the agentgate layer's does not (no package twice in
  /opt/python);
- each function without the model layer imports its entry module and runs its init work in a
  fresh process where every package of the model layer's lock is blocked (ImportError, as in
  Lambda), and none of them ends up imported.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL_FUNCTIONS = {"ChatFunction", "WorkflowsFunction", "WorkerFunction", "KnowledgeFunction",
                   "KnowledgeWorkerFunction"}
# Entry folders (functions/<dir>) of the functions without the model layer.
PLAIN_ENTRIES = {"AuthorizerFunction": "authorizer", "KeysFunction": "keys", "BotsFunction": "bots",
                 "ConversationsFunction": "conversations", "FilesFunction": "files",
                 "AgentchatFunction": "agentchat"}


def _pins(lock: str) -> set[str]:
    names = re.findall(r"^([A-Za-z0-9._-]+)==", (ROOT / lock).read_text(), re.M)
    return {re.sub(r"[-_.]+", "-", n).lower() for n in names}


@pytest.fixture(scope="module")
def cfn() -> dict:
    from sam_translate import translated

    return translated()


def _functions(cfn: dict) -> dict:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}


def _layer_refs(fn: dict) -> set[str]:
    """The layers a function references, by template name (SAM suffixes a layer's logical id)."""
    return {re.sub(r"[0-9a-f]{10}$", "", layer["Ref"]) for layer in fn["Properties"].get("Layers", [])
            if isinstance(layer, dict) and "Ref" in layer}


def test_only_the_functions_that_call_a_model_get_the_model_layer(cfn):
    functions = _functions(cfn)
    with_model = {name for name, fn in functions.items() if "ModelLayer" in _layer_refs(fn)}
    assert with_model == MODEL_FUNCTIONS
    assert set(functions) == MODEL_FUNCTIONS | set(PLAIN_ENTRIES), "a new function: decide its layers here"
    for name, fn in functions.items():
        assert "AgentgateLayer" in _layer_refs(fn), name
        assert len(fn["Properties"]["Layers"]) <= 5, f"{name}: Lambda allows five layers"
    layers = [k for k, v in cfn["Resources"].items() if v["Type"] == "AWS::Lambda::LayerVersion"]
    assert any(k.startswith("ModelLayer") for k in layers), layers


def test_the_model_layer_holds_only_what_the_agentgate_layer_lacks():
    base, model = _pins("shared/requirements.txt"), _pins("shared/requirements-model.txt")
    assert {"openai", "mcp"} <= set(model)
    assert not {"openai", "mcp", "httpx2", "jiter"} & set(base)
    assert not set(base) & set(model), "a package in both layers: one copy would shadow the other"
    source = (ROOT / "shared" / "requirements.in").read_text()
    assert not re.search(r"^(openai|mcp)\b", source, re.M)


def _blocked_modules() -> list[str]:
    """Top-level import names of every distribution in the model layer's lock."""
    from importlib.metadata import packages_distributions

    wanted = set(_pins("shared/requirements-model.txt"))
    norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()  # noqa: E731
    modules = {module for module, dists in packages_distributions().items()
               if any(norm(d) in wanted for d in dists) and not module.startswith("_")}
    assert {"openai", "mcp", "httpx2"} <= modules
    return sorted(modules)


PROBE = r"""
import importlib.abc, importlib.util, json, sys
blocked = set(json.loads(sys.argv[2]))

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"{name} is not in this function's layers", name=name)
        return None

sys.meta_path.insert(0, Block())
fn_dir = sys.argv[1]
sys.path[:0] = [fn_dir, sys.argv[3]]
spec = importlib.util.spec_from_file_location("app", fn_dir + "/app.py")
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
from agentgate import lifecycle
lifecycle.run_init_hooks()  # the init work Lambda runs (SnapStart: before the snapshot)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & blocked)))
"""


@pytest.mark.parametrize("function", sorted(PLAIN_ENTRIES))
def test_a_function_without_the_model_layer_never_imports_it(function):
    blocked = _blocked_modules()
    fn_dir = ROOT / "functions" / PLAIN_ENTRIES[function]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    result = subprocess.run([sys.executable, "-c", PROBE, str(fn_dir), json.dumps(blocked), str(ROOT / "shared")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_probe_would_see_a_function_that_needs_the_model_layer():
    """The same probe fails for chat, whose init work loads the openai SDK (it has the layer)."""
    blocked = _blocked_modules()
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
    result = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "functions" / "chat"), json.dumps(blocked),
                             str(ROOT / "shared")], capture_output=True, text=True, env=env, timeout=120)
    # lifecycle logs a failed hook instead of raising: the hook's ImportError is in its log line.
    assert "openai is not in this function's layers" in result.stderr + result.stdout
