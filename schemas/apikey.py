"""API keys: who may read which domain's events (SPEC §8: keys shown once, stored hashed)."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel

from schemas.event import Timestamp


class ApiKeyRecord(BaseModel):
    """A key as stored: its id and the SHA-256 of its secret, never the secret itself."""

    key_id: str
    secret_sha256: str
    domain_id: str | None  # None: an admin key, for every domain
    created_at: Timestamp
    revoked: bool = False

    @property
    def is_admin(self) -> bool:
        return self.domain_id is None


class ApiKeyInfo(BaseModel):
    """A key as listed: no secret, no hash."""

    key_id: str
    domain_id: str | None
    admin: bool
    created_at: Timestamp
    revoked: bool


class Caller(BaseModel):
    """The authenticated caller of a request."""

    key_id: str
    domain_id: str | None

    @property
    def is_admin(self) -> bool:
        return self.domain_id is None


def hash_secret(secret: str) -> str:
    """SHA-256 hex: how every secret (API key, webhook access key) is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()
