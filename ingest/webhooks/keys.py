"""Webhook access keys: made once, kept only as a SHA-256, compared in constant time.

The hashing is the API keys' (`schemas.apikey.hash_secret`), so there is one way a
secret is stored in this project. A plain key is never logged or written anywhere.
"""

from __future__ import annotations

import hmac
import secrets

from schemas.apikey import hash_secret


def new_access_key() -> str:
    """A 256-bit URL-safe secret: it travels in the webhook URL, so no `/`, `+` or `=`."""
    return secrets.token_urlsafe(32)


def hash_access_key(access_key: str) -> str:
    """SHA-256 hex; enough for a 256-bit random secret (no salt or stretching needed)."""
    return hash_secret(access_key)


def access_key_matches(access_key: str, access_key_sha256: str) -> bool:
    """Constant-time comparison, so response timing tells nothing about the stored hash."""
    return hmac.compare_digest(hash_access_key(access_key), access_key_sha256)
