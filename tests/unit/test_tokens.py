import hashlib

from agentgate.auth import scopes, tokens


def test_generated_keys_are_long_random_and_prefixed():
    keys = {tokens.generate() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert key.startswith("pat_")
        # 32 random bytes, url-safe base64: 43 characters after the prefix.
        assert len(key) >= len("pat_") + 43


def test_hash_is_md5_hex_of_the_whole_key():
    key = "pat_example"
    assert tokens.hash_key(key) == hashlib.md5(b"pat_example").hexdigest()


def test_mask_hides_all_but_the_last_four_characters():
    key = tokens.generate()
    masked = tokens.mask(key)
    assert masked.startswith("pat_") and masked.endswith(key[-4:])
    assert key[4:-4] not in masked


def test_authorization_header_accepts_bearer_and_bare_keys():
    assert tokens.parse_authorization("Bearer pat_abc") == "pat_abc"
    assert tokens.parse_authorization("bearer   pat_abc ") == "pat_abc"
    assert tokens.parse_authorization("pat_abc") == "pat_abc"
    assert tokens.parse_authorization("") is None
    assert tokens.parse_authorization("Bearer ") is None
    assert tokens.parse_authorization(None) is None


def test_scope_implications():
    assert scopes.allows(["admin"], "chat") and scopes.allows(["admin"], "read")
    assert not scopes.allows(["chat"], "admin")
    assert scopes.allows(["root"], "admin")
    assert not scopes.allows(["read"], "chat")
    assert scopes.parse("read, chat") == ["chat", "read"]
    assert scopes.unknown(["chat", "superuser"]) == ["superuser"]
