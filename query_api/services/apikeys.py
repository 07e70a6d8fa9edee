"""API keys, stored hashed in an Elasticsearch index.

A key reads `ep_<key_id>_<secret>`: the id finds the record, the secret is
compared (in constant time) with the stored SHA-256, which suffices for a
256-bit random secret. The plain key is returned once, at creation. Lookups are
cached for `CACHE_SECONDS` so a busy API does not read the store on every call;
a revocation therefore applies everywhere within that time. While Elasticsearch is
unreachable, a key checked within the last `STALE_SECONDS` keeps working (webhooks
can still be managed, since they need only Kafka): no key can be revoked meanwhile
either, as a revocation is a write to the same index.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from datetime import UTC, datetime

from elasticsearch import AsyncElasticsearch, NotFoundError
from elasticsearch import ConnectionError as EsConnectionError
from elasticsearch import ConnectionTimeout as EsConnectionTimeout

from ingest.elasticsearch.indices import ensure_index
from ingest.intake.ratelimit import RateLimiter
from ingest.metrics import RATE_LIMITED
from schemas.apikey import ApiKeyInfo, ApiKeyRecord, Caller, hash_secret
from schemas.errors import ApiError
from schemas.index import APIKEYS_INDEX

KEY_PATTERN = re.compile(r"^ep_([0-9a-f]{12})_([A-Za-z0-9_-]{20,})$")
CACHE_SECONDS = 5.0
STALE_SECONDS = 3600.0
CACHE_ENTRIES = 10_000


def new_key() -> tuple[str, str, str]:
    """A fresh key: (plain key, key_id, secret)."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    return f"ep_{key_id}_{secret}", key_id, secret


def split_key(key: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    match = KEY_PATTERN.match(key.strip())
    return (match.group(1), match.group(2)) if match else None


def secret_matches(secret: str, record: ApiKeyRecord) -> bool:
    return hmac.compare_digest(hash_secret(secret), record.secret_sha256)


class ApiKeyStore:
    """Create, list, revoke and check API keys in the `apikeys` index."""

    def __init__(self, es: AsyncElasticsearch, index: str) -> None:
        self._es = es
        self._index = index
        self._cache: dict[str, tuple[float, ApiKeyRecord | None]] = {}

    async def ensure_index(self) -> None:
        await ensure_index(self._es, self._index, APIKEYS_INDEX)

    async def create(self, domain_id: str | None) -> tuple[str, ApiKeyInfo]:
        """Store a new key for one domain (None: admin); the plain key is returned only here."""
        await self.ensure_index()
        plain, key_id, secret = new_key()
        record = ApiKeyRecord(
            key_id=key_id,
            secret_sha256=hash_secret(secret),
            domain_id=domain_id,
            created_at=datetime.now(UTC),
        )
        await self._es.index(
            index=self._index,
            id=key_id,
            document=record.model_dump(mode="json"),
            op_type="create",
            refresh="wait_for",
        )
        return plain, _info(record)

    async def list(self) -> list[ApiKeyInfo]:
        await self.ensure_index()
        found = await self._es.search(
            index=self._index, size=10_000, sort=[{"created_at": "asc"}, {"key_id": "asc"}]
        )
        return [_info(ApiKeyRecord(**hit["_source"])) for hit in found["hits"]["hits"]]

    async def revoke(self, key_id: str) -> bool:
        """Mark a key revoked; False when there is no such key."""
        try:
            await self._es.update(
                index=self._index, id=key_id, doc={"revoked": True}, refresh="wait_for"
            )
        except NotFoundError:
            return False
        self._cache.pop(key_id, None)
        return True

    async def authenticate(self, key: str) -> Caller | None:
        """The caller a presented key stands for, or None when it is unknown, wrong or revoked."""
        parts = split_key(key)
        if parts is None:
            return None
        key_id, secret = parts
        record = await self._lookup(key_id)
        if record is None or record.revoked or not secret_matches(secret, record):
            return None
        return Caller(key_id=key_id, domain_id=record.domain_id)

    async def _lookup(self, key_id: str) -> ApiKeyRecord | None:
        cached = self._cache.get(key_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            found = await self._es.get(index=self._index, id=key_id)
            record: ApiKeyRecord | None = ApiKeyRecord(**found["_source"])
        except NotFoundError:
            record = None
        except (EsConnectionError, EsConnectionTimeout):
            if cached is not None and cached[1] is not None and cached[0] + STALE_SECONDS > now:
                return cached[1]  # the last answer while the store cannot be read
            raise
        if len(self._cache) >= CACHE_ENTRIES:  # guessed ids must not grow it without bound
            self._cache.clear()
        self._cache[key_id] = (now + CACHE_SECONDS, record)
        return record


def _info(record: ApiKeyRecord) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=record.key_id,
        domain_id=record.domain_id,
        admin=record.is_admin,
        created_at=record.created_at,
        revoked=record.revoked,
    )


async def authenticate(keys: ApiKeyStore, key: str, limiter: RateLimiter | None = None) -> Caller:
    """The caller a presented key stands for (HTTP and gRPC alike); 401 when it is not valid,
    429 when it is over its rate (`limiter`, per API key)."""
    caller = await keys.authenticate(key)
    if caller is None:
        raise ApiError(401, "ERROR_AUTHENTICATE_FAILURE", "the API key is unknown or revoked")
    wait = limiter.wait(caller.key_id) if limiter is not None else 0.0
    if limiter is not None and wait > 0:
        RATE_LIMITED.labels("apikey").inc()
        raise ApiError(
            429, "ERROR_TOO_MANY_REQUESTS",
            f"this API key is over its rate of {limiter.rate:g} requests/s; retry later", wait,
        )  # fmt: skip
    return caller


def domain_scope(caller: Caller, requested: str | None) -> str | None:
    """The one domain a request may see: the key's own; an admin key's choice or all (None).

    A domain key naming another domain is refused (403), whatever the body says.
    """
    if caller.is_admin:
        return requested or None
    if requested and requested != caller.domain_id:
        raise ApiError(
            403, "ERROR_PERMISSION_DENIED", f"this API key may not read domain {requested!r}"
        )
    return caller.domain_id
