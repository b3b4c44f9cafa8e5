import pytest

from agentgate.auth import authorizer, management
from agentgate.auth.management import CLI_ACTOR
from agentgate.store import keys as key_store

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/v3/chat"


def _event(header):
    headers = {} if header is None else {"Authorization": header}
    return {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers}


def test_valid_key_is_allowed_for_every_route_with_its_principal(aws):
    item, key = management.create_key(CLI_ACTOR, "k", owner_id="alice", scopes=["chat", "read"])
    policy = authorizer.handle(_event(f"Bearer {key}"))
    statement = policy["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    # Results are cached per key, so the policy must cover every method and path of the stage.
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/*"
    assert policy["principalId"] == item.id
    assert policy["context"] == {"key_id": item.id, "owner_id": "alice", "scopes": "chat read", "expired_at": 0}


def test_bare_key_is_accepted(aws):
    _, key = management.create_key(CLI_ACTOR, "k", owner_id="alice")
    assert authorizer.decide(key).allowed


def test_missing_header_raises_unauthorized(aws):
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorizer.handle(_event(None))


@pytest.mark.parametrize("header", ["Bearer pat_unknown", "pat_unknown", "Bearer"])
def test_unknown_key_is_denied_with_a_reason(aws, header):
    policy = authorizer.handle(_event(header)) if header != "Bearer" else None
    if policy is None:
        with pytest.raises(Exception, match="Unauthorized"):
            authorizer.handle(_event(header))
        return
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert policy["context"] == {"reason": "api key invalid"}


def test_deleted_disabled_and_expired_keys_are_denied(aws):
    _, deleted = management.create_key(CLI_ACTOR, "d", owner_id="alice")
    _, disabled = management.create_key(CLI_ACTOR, "x", owner_id="alice")
    item_del = key_store.get_by_hash(authorizer.tokens.hash_key(deleted))
    item_dis = key_store.get_by_hash(authorizer.tokens.hash_key(disabled))
    management.delete_key(CLI_ACTOR, item_del.id)
    management.update_key(CLI_ACTOR, item_dis.id, enabled=False)
    expired_item, expired = management.create_key(CLI_ACTOR, "e", owner_id="alice", expire_ms=1)
    expired_item.update(actions=[key_store.ApiKey.expired_at.set(1)])

    assert authorizer.decide(deleted).reason == authorizer.INVALID
    assert authorizer.decide(disabled).reason == authorizer.DISABLED
    assert authorizer.decide(expired).reason == authorizer.EXPIRED


def test_last_used_at_is_written_at_most_once_a_minute(aws):
    item, key = management.create_key(CLI_ACTOR, "k", owner_id="alice")
    assert item.last_used_at == 0
    authorizer.decide(key)
    first = key_store.get_by_hash(item.key_hash).last_used_at
    assert first > 0
    # A second use within the minute does not write again (the conditional update loses).
    assert key_store.touch_last_used(item.key_hash, first + 1000, 60_000) is False
    assert key_store.get_by_hash(item.key_hash).last_used_at == first
    # A minute later it does.
    assert key_store.touch_last_used(item.key_hash, first + 61_000, 60_000) is True
    assert key_store.get_by_hash(item.key_hash).last_used_at == first + 61_000
