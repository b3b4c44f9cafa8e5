"""The operator's CLI: straight into the configured table, or through an API it finds by itself."""

import json
import socket
import threading

import pytest
import uvicorn

from agentgate.auth import authorizer, tokens
from agentgate.local import operator
from agentgate.local.cli import main
from agentgate.store import keys as key_store


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """A directory without a dev.json, and no operator environment: table mode."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTGATE_BASE_URL", raising=False)
    monkeypatch.delenv("AGENTGATE_ADMIN_KEY", raising=False)
    return tmp_path


def test_keys_create_list_revoke(aws, nowhere, capsys):
    assert main(["keys", "create", "--owner", "acme", "--name", "bootstrap", "--scopes", "admin"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["api_key"].startswith("pat_") and created["scopes"] == ["admin"] and created["user_id"] == "acme"
    assert authorizer.decide(created["api_key"]).principal.owner_id == "acme"

    assert main(["keys", "list", "--owner", "acme"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["total"] == 1 and created["api_key"] not in json.dumps(listed)

    assert main(["keys", "revoke", "--id", created["id"]]) == 0
    capsys.readouterr()
    assert authorizer.decide(created["api_key"]).reason == authorizer.INVALID
    assert key_store.find_by_id(created["id"]) is None


def test_keys_create_refuses_unknown_scopes_and_bad_ids(aws, nowhere, capsys):
    assert main(["keys", "create", "--owner", "acme", "--name", "x", "--scopes", "superuser"]) == 2
    assert main(["keys", "revoke", "--id", "1234"]) == 1
    assert "not found" in capsys.readouterr().err


def test_keys_create_with_expiry(aws, nowhere, capsys):
    assert main(["keys", "create", "--owner", "acme", "--name", "short", "--expire-ms", "60000"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["expired_at"] - created["created_at"] == 60000 and created["scopes"] == ["chat"]


def test_a_chosen_key_in_the_table_with_a_warning_and_refused_when_weak(aws, nowhere, capsys):
    assert main(["keys", "create", "--owner", "acme", "--name", "seed 000", "--key", "your-api-key"]) == 1
    assert "16" in capsys.readouterr().err
    assert main(["keys", "create", "--owner", "acme", "--name", "seed 000", "--key", "your-api-key",
                 "--allow-weak"]) == 0
    captured = capsys.readouterr()
    assert "easy to guess" in captured.err and json.loads(captured.out)["api_key"] == "your-api-key"
    assert key_store.get_by_hash(tokens.hash_key("your-api-key")).owner_id == "acme"
    assert authorizer.decide("your-api-key").allowed


def _first_json(text: str) -> dict:
    """The CLI's JSON answer (the in-process API may log its own JSON access lines after it)."""
    decoder, docs, at = json.JSONDecoder(), [], 0
    text = text.strip()
    while at < len(text):
        doc, end = decoder.raw_decode(text, at)
        docs.append(doc)
        at = end
        while at < len(text) and text[at].isspace():
            at += 1
    return [d for d in docs if not (isinstance(d, dict) and d.get("message") == "access")][-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def keys_api(aws):
    """The keys app on a real port (what `agentgate dev` would serve), with a root key."""
    from agentgate.api.keys import app
    from agentgate.auth import management

    _, root = management.create_key(management.CLI_ACTOR, "root", owner_id="local", scopes=["root"])
    port = _free_port()

    async def with_principal(scope, receive, send):
        # The authorizer's job in the gateway: here the root key's principal for every request.
        if scope["type"] == "http" and scope["path"] != "/health":
            decision = authorizer.decide(dict(scope["headers"]).get(b"authorization", b"").decode())
            if not decision.allowed:
                body = b'{"code": 401, "msg": "api key invalid"}'
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json")]})
                return await send({"type": "http.response.body", "body": body})
            ctx = json.dumps({"authorizer": decision.principal.to_context()}).encode()
            scope = {**scope, "headers": [*scope["headers"], (b"x-amzn-request-context", ctx)]}
        await app(scope, receive, send)

    server = uvicorn.Server(uvicorn.Config(with_principal, host="127.0.0.1", port=port, log_level="error",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.02)
    yield f"http://127.0.0.1:{port}", root
    server.should_exit = True
    thread.join(5)


def test_in_a_dev_directory_keys_use_that_gateway_with_no_flags(keys_api, nowhere, capsys):
    base_url, root = keys_api
    (nowhere / ".agentgate").mkdir()
    (nowhere / ".agentgate" / "dev.json").write_text(json.dumps({"base_url": base_url, "admin_key": root}))
    assert main(["keys", "create", "--name", "app", "--key", "123tangledup-ai-key"]) == 0
    captured = capsys.readouterr()
    created = _first_json(captured.out)
    assert created["api_key"] == "123tangledup-ai-key" and created["user_id"] == "local"
    assert base_url in captured.err and "dev.json" in captured.err
    assert main(["keys", "list"]) == 0
    listed = _first_json(capsys.readouterr().out)
    assert listed["total"] == 2 and "123tangledup-ai-key" not in json.dumps(listed)
    assert main(["keys", "revoke", "--id", created["id"]]) == 0
    capsys.readouterr()
    assert not authorizer.decide("123tangledup-ai-key").allowed
    # the API's own refusals come back as the CLI's error
    assert main(["keys", "create", "--name", "weak", "--key", "short"]) == 1
    assert "16" in capsys.readouterr().err


def test_against_a_deployment_base_url_and_admin_key(keys_api, nowhere, capsys, monkeypatch):
    base_url, root = keys_api
    assert main(["keys", "create", "--name", "remote", "--owner", "team", "--base-url", base_url,
                 "--admin-key", root]) == 0
    assert _first_json(capsys.readouterr().out)["user_id"] == "team"
    monkeypatch.setenv("AGENTGATE_BASE_URL", base_url)
    monkeypatch.setenv("AGENTGATE_ADMIN_KEY", "pat_wrong")
    assert main(["keys", "list", "--owner", "team"]) == 1
    assert "api key invalid" in capsys.readouterr().err


def test_a_stale_dev_json_is_reported_and_skipped(nowhere):
    (nowhere / ".agentgate").mkdir()
    (nowhere / ".agentgate" / "dev.json").write_text(json.dumps({"base_url": f"http://127.0.0.1:{_free_port()}",
                                                                 "admin_key": "pat_x"}))
    warnings = []
    assert operator.connect(dev_dir=nowhere, warn=warnings.append) is None
    assert "does not answer" in warnings[0]
    with pytest.raises(operator.OperatorError):
        operator.connect(base_url="http://x")  # a base URL without a key


def test_workflows_apply_finds_the_gateway_through_the_operator_discovery(keys_api, nowhere, monkeypatch, capsys):
    from agentgate.local import workflows_cli

    base_url, root = keys_api
    monkeypatch.delenv("AGENTGATE_API_KEY", raising=False)
    with pytest.raises(SystemExit, match="no gateway found"):
        workflows_cli.target(None, None)
    (nowhere / ".agentgate").mkdir()
    (nowhere / ".agentgate" / "dev.json").write_text(json.dumps({"base_url": base_url + "/", "admin_key": root}))
    inside = nowhere / "examples" / "workflows"
    inside.mkdir(parents=True)
    monkeypatch.chdir(inside)  # a parent's dev.json, as before
    assert operator.nearest_dev_dir() == nowhere.resolve()
    assert workflows_cli.target(None, None) == (base_url, root)
    # flags and this command's variables come first; a base URL needs its key
    assert workflows_cli.target("http://elsewhere", "pat_given") == ("http://elsewhere", "pat_given")
    monkeypatch.setenv("AGENTGATE_BASE_URL", "http://env-host")
    monkeypatch.setenv("AGENTGATE_API_KEY", "pat_env")
    assert workflows_cli.target(None, None) == ("http://env-host", "pat_env")
    monkeypatch.delenv("AGENTGATE_API_KEY")
    with pytest.raises(SystemExit, match="--base-url"):
        workflows_cli.target(None, None)
    # a stopped gateway's dev.json is reported, not used
    monkeypatch.delenv("AGENTGATE_BASE_URL")
    (nowhere / ".agentgate" / "dev.json").write_text(json.dumps({"base_url": f"http://127.0.0.1:{_free_port()}",
                                                                 "admin_key": root}))
    with pytest.raises(SystemExit, match="no gateway found"):
        workflows_cli.target(None, None)
    err = capsys.readouterr().err
    assert "does not answer" in err and "using the tables" not in err
