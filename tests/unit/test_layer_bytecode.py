"""No deploy ships a layer without the runtime's bytecode: shared/Makefile's bytecode step either
writes Python 3.13 bytecode or fails the build (unless the test-only AGENTGATE_LAYER_BYTECODE=skip
is set, which marks the layer), `agentgate check-build` refuses such a build, and the package
refuses to start in Lambda from a marked layer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentgate.local import buildcheck

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = "3.13"


def _make(artifacts: Path, **env) -> subprocess.CompletedProcess:
    run_env = {k: v for k, v in os.environ.items() if k != "AGENTGATE_LAYER_BYTECODE"} | env
    return subprocess.run(["make", "-s", "-C", str(ROOT / "shared"), "compile-bytecode",
                           f"ARTIFACTS_DIR={artifacts}", f"PYTHON={sys.executable}"],
                          capture_output=True, text=True, env=run_env, timeout=120)


@pytest.fixture
def layer(tmp_path) -> Path:
    build = tmp_path / "build" / "AgentgateLayer"
    shutil.copytree(ROOT / "shared" / "agentgate" / "store", build / "python" / "agentgate" / "store")
    return build


def test_the_bytecode_step_writes_runtime_bytecode_or_fails_the_build(layer):
    result = _make(layer)
    running = "%d.%d" % sys.version_info[:2]
    if running == RUNTIME:
        assert result.returncode == 0, result.stderr
        assert buildcheck.problems(layer.parent) == []
    else:
        assert result.returncode != 0, "a build that cannot write 3.13 bytecode must fail"
        assert "sam build --use-container" in result.stderr and "AGENTGATE_LAYER_BYTECODE=skip" in result.stderr
        assert buildcheck.problems(layer.parent)  # and what it left is no deployable layer


def test_the_test_only_skip_marks_the_layer_and_check_build_refuses_it(layer, capsys):
    result = _make(layer, AGENTGATE_LAYER_BYTECODE="skip")
    if "%d.%d" % sys.version_info[:2] == RUNTIME:
        pytest.skip("on the runtime's Python the build always writes bytecode")  # pragma: no cover
    assert result.returncode == 0, result.stderr
    assert (layer / "python" / buildcheck.MARKER).exists()
    assert buildcheck.main(str(layer.parent)) == 1
    assert "built without bytecode" in capsys.readouterr().out


def test_check_build_accepts_a_layer_with_runtime_bytecode(tmp_path):
    python = tmp_path / "AgentgateLayer" / "python" / "pkg"
    (python / "__pycache__").mkdir(parents=True)
    (python / "mod.py").write_text("x = 1\n")
    assert buildcheck.problems(tmp_path)
    (python / "__pycache__" / "mod.cpython-313.pyc").write_bytes(b"")
    assert buildcheck.problems(tmp_path) == []


def test_the_package_refuses_to_start_in_lambda_from_a_marked_layer(tmp_path):
    opt = tmp_path / "opt" / "python"
    shutil.copytree(ROOT / "shared" / "agentgate", opt / "agentgate",
                    ignore=shutil.ignore_patterns("__pycache__", "local"))
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(opt), "LAMBDA_TASK_ROOT": str(tmp_path)}
    probe = [sys.executable, "-c", "import agentgate"]
    assert subprocess.run(probe, env=env, capture_output=True, timeout=60).returncode == 0
    (opt / buildcheck.MARKER).write_text("AGENTGATE_LAYER_BYTECODE=skip")
    marked = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=60)
    assert marked.returncode != 0 and "without bytecode" in marked.stderr
    local = subprocess.run(probe, env={k: v for k, v in env.items() if k != "LAMBDA_TASK_ROOT"},
                           capture_output=True, timeout=60)
    assert local.returncode == 0  # tests and the local gateway are not Lambda
