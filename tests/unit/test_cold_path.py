"""The cold path (issue 10, point 9): the functions that run model turns do in init what their first
turn would otherwise do on the request path: import pynamodb, botocore, the runner and the openai
SDK, and build the DynamoDB client. Checked in a fresh process per function, as Lambda imports it
(bench/cold_path.py prints the timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import importlib.util, json, sys
fn_dir = sys.argv[1]
sys.path[:0] = [fn_dir, sys.argv[2]]
spec = importlib.util.spec_from_file_location("app", fn_dir + "/app.py")
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
at_import = {m: m in sys.modules for m in json.loads(sys.argv[3])}
from agentgate import lifecycle
lifecycle.run_init_hooks()   # Lambda's init phase (SnapStart: before the snapshot)
from agentgate.store import base
after_init = {m: m in sys.modules for m in json.loads(sys.argv[3])}
clients = [c._client is not None for c in base._CONNECTIONS.values()]
print(json.dumps({"at_import": at_import, "after_init": after_init, "clients": clients}))
"""

FIRST_TURN_NEEDS = ["pynamodb", "botocore", "openai", "agentgate.runner.runner", "agentgate.store.bots",
                    "agentgate.store.conversations", "agentgate.store.usage", "agentgate.policy.metering",
                    "agentgate.runner.providers.echo", "anyio._backends._asyncio"]


def _probe(folder: str) -> dict:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    result = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "functions" / folder), str(ROOT / "shared"),
                             json.dumps(FIRST_TURN_NEEDS)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("folder", ["chat", "workflows", "worker"])
def test_init_loads_what_the_first_model_turn_needs_and_builds_the_client(folder):
    out = _probe(folder)
    assert all(out["after_init"].values()), {m: v for m, v in out["after_init"].items() if not v}
    assert out["clients"] and all(out["clients"]), "the DynamoDB client is built in init"
    # ... and none of it at import: importing stays cheap where init is not run (tests, tools).
    assert not out["at_import"]["openai"]


def test_the_chat_entry_registers_the_chat_prime():
    out = _probe("chat")
    assert not out["at_import"]["pynamodb"] and out["after_init"]["pynamodb"]
