"""The operator's CLI writes keys straight into the configured table."""

import json

from agentgate.auth import authorizer
from agentgate.local.cli import main
from agentgate.store import keys as key_store


def test_keys_create_list_revoke(aws, capsys):
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


def test_keys_create_refuses_unknown_scopes_and_bad_ids(aws, capsys):
    assert main(["keys", "create", "--owner", "acme", "--name", "x", "--scopes", "superuser"]) == 2
    assert main(["keys", "revoke", "--id", "1234"]) == 1
    assert "not found" in capsys.readouterr().err


def test_keys_create_with_expiry(aws, capsys):
    assert main(["keys", "create", "--owner", "acme", "--name", "short", "--expire-ms", "60000"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["expired_at"] - created["created_at"] == 60000 and created["scopes"] == ["chat"]
