"""`agentgate workflows apply FILE [--publish]`: create or update a workflow from a definition file
(JSON, or YAML), over the API of a running gateway.

It finds the gateway as every operator command does (agentgate.local.operator): --base-url/--key,
else AGENTGATE_BASE_URL/AGENTGATE_API_KEY, else the .agentgate/dev.json of a running `agentgate dev`
(in this directory or a parent). A workflow of the same name (of the key's owner) is updated (a new
draft), otherwise one is created; --publish then makes the draft the next published version.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def target(base_url: str | None, key: str | None) -> tuple[str, str]:
    """The API and key to use, found as every operator command finds them (agentgate.local.operator),
    with this command's own spellings: --key, AGENTGATE_API_KEY (AGENTGATE_ADMIN_KEY works too), and
    a dev.json in this directory or a parent."""
    from agentgate.local import operator

    key = key or os.environ.get("AGENTGATE_API_KEY") or None
    try:
        conn = operator.connect(base_url=base_url, admin_key=key, dev_dir=operator.nearest_dev_dir(),
                                warn=lambda text: print(f"warning: {text.split('; using the tables')[0]}",
                                                        file=sys.stderr))
    except operator.OperatorError as err:
        raise SystemExit(f"error: {err.message}") from None
    if conn is None:
        raise SystemExit("no gateway found: start `agentgate dev` here, or pass --base-url and --key "
                         "(or set AGENTGATE_BASE_URL and AGENTGATE_API_KEY)")
    return conn.base_url.rstrip("/"), conn.admin_key


def load_document(path: str) -> dict:
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith((".yaml", ".yml")):
        import yaml

        document = yaml.safe_load(text)
    else:
        document = json.loads(text)
    if not isinstance(document, dict):
        raise SystemExit(f"{path}: a workflow definition is a JSON (or YAML) object")
    return document


def apply(path: str, publish: bool, base_url: str | None = None, key: str | None = None) -> int:
    import httpx

    document = load_document(path)
    base, token = target(base_url, key)
    headers = {"Authorization": f"Bearer {token}"}
    params: dict = {}
    with httpx.Client(base_url=base, headers=headers, timeout=30, trust_env=False) as client:
        existing = None
        page = 1
        while existing is None:
            r = client.get("/v1/workflows", params={**params, "page_num": page, "page_size": 100})
            if r.status_code != 200:
                print(f"error: listing workflows failed: {r.status_code} {r.text}", file=sys.stderr)
                return 1
            data = r.json()["data"]
            existing = next((w for w in data["items"] if w["workflow_name"] == document.get("name")), None)
            if not data.get("has_more"):
                break
            page += 1
        query = {**params, "publish": "true"} if publish else params
        if existing:
            r = client.put(f"/v1/workflows/{existing['workflow_id']}", json=document, params=query)
        else:
            r = client.post("/v1/workflows", json=document, params=query)
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        if r.status_code != 200:
            print(f"error: {body.get('msg') or r.text}", file=sys.stderr)
            return 1
        data = body["data"]
        print(json.dumps({"workflow_id": data["workflow_id"], "name": data["workflow_name"],
                          "version": data["version"], "created": existing is None}, ensure_ascii=False))
    return 0
