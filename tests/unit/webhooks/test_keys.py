"""Access keys: random, URL-safe, stored as SHA-256, compared in constant time."""

from __future__ import annotations

import hashlib
import re

from ingest.webhooks.keys import access_key_matches, hash_access_key, new_access_key
from schemas.apikey import hash_secret


def test_keys_are_long_url_safe_and_unique() -> None:
    keys = {new_access_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", key) for key in keys)


def test_hash_is_the_sha256_hex_api_keys_use() -> None:
    key = new_access_key()
    assert hash_access_key(key) == hashlib.sha256(key.encode()).hexdigest() == hash_secret(key)
    assert key not in hash_access_key(key)


def test_only_the_same_key_matches() -> None:
    key = new_access_key()
    digest = hash_access_key(key)
    assert access_key_matches(key, digest)
    assert not access_key_matches(key[:-1], digest)
    assert not access_key_matches(new_access_key(), digest)
    assert not access_key_matches("", digest)
    assert not access_key_matches("ключ", digest)  # non-ASCII input is compared, not an error
