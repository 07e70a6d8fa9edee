"""Request dependencies: settings, the Elasticsearch client, the key store and the caller.

Handlers declare what they need with the `Annotated` aliases at the bottom. The
providers are `async def` so FastAPI calls them on the loop, not in a thread pool.
"""

from __future__ import annotations

from typing import Annotated

from elasticsearch import AsyncElasticsearch
from fastapi import Depends, Request

from ingest.intake.ratelimit import RateLimiter
from ingest.metrics import RATE_LIMITED
from query_api.apikeys import ApiKeyStore
from query_api.errors import ApiError
from schemas.apikey import Caller
from schemas.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_es(request: Request) -> AsyncElasticsearch:
    return request.app.state.es


async def get_keys(request: Request) -> ApiKeyStore:
    return request.app.state.keys


async def get_caller(request: Request, keys: Annotated[ApiKeyStore, Depends(get_keys)]) -> Caller:
    """The caller from `Authorization: Bearer <key>`; 401 without a valid key."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "ERROR_AUTHENTICATE_FAILURE", "send `Authorization: Bearer <api key>`")
    return await authenticate(keys, key, getattr(request.app.state, "key_limiter", None))


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


SettingsDep = Annotated[Settings, Depends(get_settings)]
EsDep = Annotated[AsyncElasticsearch, Depends(get_es)]
KeysDep = Annotated[ApiKeyStore, Depends(get_keys)]
CallerDep = Annotated[Caller, Depends(get_caller)]
