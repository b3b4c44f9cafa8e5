"""The real local gateway (`agentgate dev`) in a subprocess, on a free port, embedded stores."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from agentgate.local.devserver import wait_until_ready

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    def __init__(self, base_url: str, admin_key: str, info: dict):
        self.base_url = base_url
        self.admin_key = admin_key
        self.info = info

    def client(self, key: str | None = None, bare: bool = False, **kwargs) -> httpx.Client:
        headers = {}
        if key:
            headers["Authorization"] = key if bare else f"Bearer {key}"
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kwargs)

    def create_key(self, owner: str, scopes=("admin",), name: str = "test key", expire: int = 0) -> str:
        with self.client(self.admin_key) as c:
            r = c.post("/api/permission_api/pat/create_personal_access_token_and_permission",
                       json={"name": name, "expire": expire, "scopes": list(scopes), "owner_id": owner})
            r.raise_for_status()
            return r.json()["api_key"]


@pytest.fixture(scope="session")
def stub_upstream():
    """A local OpenAI-compatible model the `openai` provider can call."""
    from agentgate.local.stub_upstream import start_stub

    base_url, stop = start_stub()
    yield base_url
    stop()


@pytest.fixture(scope="session")
def gateway(tmp_path_factory, stub_upstream) -> Gateway:
    workdir = tmp_path_factory.mktemp("gateway")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTGATE_", "AWS_"))}
    env.update(
        AGENTGATE_ECHO_DELAY_MS="0",
        OPENAI_BASE_URL=stub_upstream,
        OPENAI_API_KEY="sk-stub-upstream",
        AGENTGATE_PROVIDERS=json.dumps({"stub": {"type": "openai", "base_url": stub_upstream, "api_key": "sk-stub"}}),
        PYTHONUNBUFFERED="1",
        # Workflow http nodes may call local stubs (tests only; empty by default).
        AGENTGATE_HTTP_ALLOW_HOSTS="127.0.0.1",
    )
    log = open(workdir / "gateway.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentgate.local.cli", "dev", "--port", str(port), "--store", "embedded",
         "--template", str(ROOT / "template.yaml")],
        cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        info = wait_until_ready(proc, workdir, workdir / "gateway.log", timeout_s=60)
    except RuntimeError:
        proc.kill()
        raise
    try:
        yield Gateway(info["base_url"], info["admin_key"], {**info, "workdir": str(workdir)})
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
