"""How an operator command reaches the service: one discovery for every operator command.

    conn = operator.connect(args)          # after operator.add_arguments(parser)
    if conn is None:  ...                  # table mode: write straight into the configured tables
    else: conn.call("GET", "/api/permission_api/pat/list_personal_access_tokens")

In order:
1. `--base-url` and `--admin-key` (or AGENTGATE_BASE_URL / AGENTGATE_ADMIN_KEY): that API, with
   that key (a deployment; the key needs the scope the command needs, root for most).
2. `.agentgate/dev.json` in the current directory (`--dev-dir` elsewhere), written by a running
   `agentgate dev`: its base URL and root key, once its /health answers. No flags, no environment.
3. Neither: None. The command then uses the table environment it has always had
   (AGENTGATE_KEYS_TABLE ..., AWS credentials, AGENTGATE_DYNAMODB_ENDPOINT), to bootstrap a
   deployment's first key.
A dev.json whose gateway does not answer is reported (stale: the gateway stopped) and skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from agentgate.local.devserver import DEV_DIR, DEV_FILE


class OperatorError(Exception):
    """A call the service refused or could not answer; `status` is its HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Connection:
    base_url: str
    admin_key: str
    source: str  # "flags" | "environment" | path of the dev.json
    timeout_s: float = 30.0

    def call(self, method: str, path: str, *, json_body: dict | None = None, params: dict | None = None) -> dict:
        """One API call with the operator's key; the JSON answer, or OperatorError with the
        service's own message (Coze `msg`, OpenAI `error.message`, ...)."""
        import httpx

        try:
            r = httpx.request(method, self.base_url.rstrip("/") + path, json=json_body,
                              params={k: v for k, v in (params or {}).items() if v is not None},
                              headers={"Authorization": f"Bearer {self.admin_key}"}, timeout=self.timeout_s)
        except httpx.HTTPError as err:
            raise OperatorError(f"{self.base_url} did not answer ({type(err).__name__}: {err})") from err
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code >= 400 or not isinstance(body, dict):
            raise OperatorError(_message(body) or f"HTTP {r.status_code}", r.status_code)
        return body


def _message(body) -> str:
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    for name in ("msg", "message", "status_message", "errorMessage"):
        if body.get(name):
            return str(body[name])
    return ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The connection flags every operator command takes."""
    group = parser.add_argument_group("where the service is (default: ./.agentgate/dev.json, else the tables)")
    group.add_argument("--base-url", default=None, help="the API's base URL (a deployment's stage URL)")
    group.add_argument("--admin-key", "--root-key", dest="admin_key", default=None,
                       help="the operator's key for that API (prefer AGENTGATE_ADMIN_KEY: flags show in ps)")
    group.add_argument("--dev-dir", default=".", help="where to look for .agentgate/dev.json (default: .)")


def dev_file(directory: str | Path = ".") -> Path:
    return Path(directory) / DEV_DIR / DEV_FILE


def nearest_dev_dir(directory: str | Path = ".") -> Path:
    """`directory` or the nearest of its parents holding a .agentgate/dev.json (else `directory`):
    for commands run from anywhere inside a project, such as `agentgate workflows apply`."""
    here = Path(directory).resolve()
    return next((folder for folder in (here, *here.parents) if dev_file(folder).exists()), here)


def _alive(base_url: str) -> bool:
    import httpx

    try:
        return httpx.get(base_url.rstrip("/") + "/health", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def find_dev(directory: str | Path = ".", warn=None) -> Connection | None:
    """The running `agentgate dev` of `directory`, or None."""
    path = dev_file(directory)
    if not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
    except (ValueError, OSError):
        return None
    base_url, key = info.get("base_url"), info.get("admin_key")
    if not base_url or not key:
        return None
    if not _alive(base_url):
        if warn:
            warn(f"{path} names {base_url}, which does not answer (agentgate dev stopped?); using the tables")
        return None
    return Connection(base_url=base_url, admin_key=key, source=str(path))


def connect(args: argparse.Namespace | None = None, *, base_url: str | None = None, admin_key: str | None = None,
            dev_dir: str | Path = ".", warn=None) -> Connection | None:
    """The API to use, or None for table mode (see the module's docstring)."""
    from agentgate.config import settings

    if args is not None:
        base_url = getattr(args, "base_url", None) or base_url
        admin_key = getattr(args, "admin_key", None) or admin_key
        dev_dir = getattr(args, "dev_dir", None) or dev_dir
    warn = warn or (lambda text: print(f"warning: {text}", file=sys.stderr))
    source = "flags" if (base_url or admin_key) else "environment"
    cfg = settings()
    base_url = base_url or cfg.operator_base_url
    admin_key = admin_key or cfg.operator_admin_key
    if base_url or admin_key:
        if not (base_url and admin_key):
            raise OperatorError("give both --base-url and --admin-key (or AGENTGATE_BASE_URL and AGENTGATE_ADMIN_KEY)")
        return Connection(base_url=base_url, admin_key=admin_key, source=source)
    return find_dev(dev_dir, warn)
