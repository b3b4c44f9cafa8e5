"""The dev server's root key: created once, reused across restarts (even of a fresh embedded store)."""

import json

from agentgate.auth import authorizer
from agentgate.local.devserver import ensure_root_key


def test_root_key_is_created_then_reused(aws, tmp_path):
    dev_file = tmp_path / "dev.json"
    first = ensure_root_key(dev_file)
    decision = authorizer.decide(first)
    assert decision.allowed and decision.principal.scopes == ("root",)
    dev_file.write_text(json.dumps({"admin_key": first}))
    assert ensure_root_key(dev_file) == first


def test_recorded_key_is_registered_again_in_a_fresh_store(aws, tmp_path):
    dev_file = tmp_path / "dev.json"
    dev_file.write_text(json.dumps({"admin_key": "pat_" + "k" * 43}))
    # A new embedded store knows nothing of it: the recorded key is registered (hash only) again.
    assert ensure_root_key(dev_file) == "pat_" + "k" * 43
    assert authorizer.decide("pat_" + "k" * 43).allowed


def test_a_revoked_recorded_key_is_replaced(aws, tmp_path):
    from agentgate.auth import management

    dev_file = tmp_path / "dev.json"
    first = ensure_root_key(dev_file)
    dev_file.write_text(json.dumps({"admin_key": first}))
    management.delete_key(management.CLI_ACTOR, authorizer.decide(first).principal.key_id)
    second = ensure_root_key(dev_file)
    assert second != first and authorizer.decide(second).allowed
