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


def gateway_env(stub_upstream: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTGATE_", "AWS_"))}
    env.update(
        AGENTGATE_ECHO_DELAY_MS="0",
        OPENAI_BASE_URL=stub_upstream,
        OPENAI_API_KEY="sk-stub-upstream",
        AGENTGATE_PROVIDERS=json.dumps({"stub": {"type": "openai", "base_url": stub_upstream, "api_key": "sk-stub"}}),
        PYTHONUNBUFFERED="1",
        # Seed 001's example signs in as test/test: the development password policy.
        AGENTGATE_PASSWORD_MIN_LENGTH="4",
        # Tools and workflow http nodes reach the tests' local servers.
        AGENTGATE_HTTP_ALLOW_HOSTS="127.0.0.1",
    )
    return env


class Running:
    """One `agentgate dev` subprocess started by launch(); stop() ends it (SIGTERM, as Ctrl-C would)."""

    def __init__(self, proc: subprocess.Popen, log, gateway: Gateway):
        self.proc, self.log, self.gateway = proc, log, gateway

    def stop(self, kill: bool = False) -> int:
        if self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        return self.proc.returncode


def launch(workdir: Path, stub_upstream: str, *args: str, log_path: Path | None = None) -> Running:
    """Start `agentgate dev` in `workdir` on a free port (extra CLI args appended); wait until ready.
    Its output goes to log_path (default workdir/gateway.log)."""
    port = _free_port()
    log_path = log_path or Path(workdir) / "gateway.log"
    log = open(log_path, "a")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentgate.local.cli", "dev", "--port", str(port), "--store", "embedded",
         "--template", str(ROOT / "template.yaml"), *args],
        cwd=workdir, env=gateway_env(stub_upstream), stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        info = wait_until_ready(proc, workdir, log_path, timeout_s=60)
    except RuntimeError:
        proc.kill()
        log.close()
        raise
    return Running(proc, log, Gateway(info["base_url"], info["admin_key"], {**info, "workdir": str(workdir),
                                                                            "log": str(log_path)}))


@pytest.fixture
def launch_gateway(stub_upstream):
    """launch(workdir, *cli_args) for tests that start (and restart) gateways of their own."""
    started: list[Running] = []

    def start(workdir: Path, *args: str) -> Running:
        # the log beside the directory, so that what a run leaves in it can be checked
        running = launch(workdir, stub_upstream, *args, log_path=Path(workdir).parent / f"{Path(workdir).name}.log")
        started.append(running)
        return running

    yield start
    for running in started:
        if running.proc.poll() is None:
            running.stop()


@pytest.fixture(scope="session")
def gateway(tmp_path_factory, stub_upstream) -> Gateway:
    workdir = tmp_path_factory.mktemp("gateway")
    running = launch(workdir, stub_upstream)
    try:
        yield running.gateway
    finally:
        running.stop()
