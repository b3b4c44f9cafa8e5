"""The locks: every package of the layers and of the test environment pinned with its hashes, so
a build in a year installs the build of today; the layers leave out what the Lambda runtime
ships; the one library whose own version the code depends on (jmespath, the workflow engine's
expression language) is pinned to the same version in the layer and in the tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER_LOCKS = {"shared/requirements.txt": "shared/requirements.in",
               "shared/requirements-extract.txt": "shared/requirements-extract.in",
               "shared/requirements-knowledge.txt": "shared/requirements-knowledge.in",
               "shared/requirements-model.txt": "shared/requirements-model.in"}
TEST_LOCK = ".ci/requirements-test.txt"
RUNTIME_SHIPS = {"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) for every requirement of a lock."""
    text = (ROOT / path).read_text()
    pins = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = block.split("\\", 1)[0].strip()
        if not head or head.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)(\[[^\]]*\])?==([^\s;]+)(\s*;.*)?", head)
        assert match, f"{path}: not an exact pin: {head!r}"
        pins[_norm(match.group(1))] = (match.group(3), block.count("--hash=sha256:"))
    return pins


def _direct(path: str) -> set[str]:
    names = set()
    for line in (ROOT / path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(_norm(re.match(r"[A-Za-z0-9._-]+", line).group(0)))
    return names


@pytest.mark.parametrize("lock", [*LAYER_LOCKS, TEST_LOCK])
def test_every_package_is_pinned_with_hashes(lock):
    pins = _pins(lock)
    assert pins
    for name, (_, hashes) in pins.items():
        assert hashes >= 1, f"{lock}: {name} has no hash"
    assert "--generate-hashes" in (ROOT / lock).read_text().split("\n", 3)[1], "the header names the command"


@pytest.mark.parametrize("lock, source", LAYER_LOCKS.items())
def test_layer_locks_cover_their_inputs_and_leave_out_the_runtimes_packages(lock, source):
    pins = _pins(lock)
    assert _direct(source) <= set(pins), f"{source} changed: regenerate {lock} (command in its header)"
    assert not RUNTIME_SHIPS & set(pins), "the runtime's own copies would be shadowed"


def test_the_expression_library_has_one_version_in_the_layer_and_the_tests():
    layer, tests = _pins("shared/requirements.txt"), _pins(TEST_LOCK)
    assert layer["jmespath"][0] == tests["jmespath"][0]


def test_the_test_lock_covers_the_projects_dependencies():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_norm(re.match(r"[A-Za-z0-9._-]+", dep).group(0)) for dep in project["dependencies"]}
    for extra in ("local", "files", "test"):
        wanted |= {_norm(re.match(r"[A-Za-z0-9._-]+", dep).group(0))
                   for dep in project["optional-dependencies"][extra] if not dep.startswith("agentgate")}
    assert wanted <= set(_pins(TEST_LOCK)), "pyproject.toml changed: regenerate .ci/requirements-test.txt"


def _guarded(tree) -> set[int]:
    """ids of the import nodes inside a `try:` that handles ImportError (optional modules)."""
    import ast

    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                h.type is not None and "ImportError" in ast.unparse(h.type) for h in node.handlers):
            ids |= {id(n) for stmt in node.body for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return ids


def _imported_modules(root: Path, skip: Path) -> dict[str, str]:
    """Top-level module -> one file importing it, for every absolute, unguarded import under
    root (not under skip)."""
    import ast

    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        if path.is_relative_to(skip):
            continue
        tree = ast.parse(path.read_text(), str(path))
        optional = _guarded(tree)
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_module_the_layer_code_imports_is_in_a_layer_or_the_runtime():
    """What runs in Lambda (shared/agentgate without the dev server) imports only the standard
    library, the runtime's packages and what a layer lock installs: a module that only the test
    environment has (httpx: the openai SDK brings httpx2) would fail on AWS alone."""
    import importlib.metadata
    import sys

    provided = set(RUNTIME_SHIPS) | {"agentgate"}
    for lock in ROOT.glob("shared/requirements*.txt"):
        provided |= set(_pins(str(lock.relative_to(ROOT))))
    owners = importlib.metadata.packages_distributions()
    layer_code = ROOT / "shared" / "agentgate"
    missing = {}
    for module, where in _imported_modules(layer_code, skip=layer_code / "local").items():
        if module in sys.stdlib_module_names or module == "agentgate":
            continue
        dists = {_norm(d) for d in owners.get(module, [module])}
        if not dists & provided:
            missing[module] = where
    assert not missing, f"imported in the layer but installed by no layer lock: {missing}"
