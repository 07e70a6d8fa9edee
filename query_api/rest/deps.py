"""Request dependencies: settings, the Elasticsearch client, the key store and the caller.

Handlers declare what they need with the `Annotated` aliases at the bottom. The
providers are `async def` so FastAPI calls them on the loop, not in a thread pool.
`domain_scope` (the services' own) is re-exported for routes that confine by domain.
"""

from __future__ import annotations

from typing import Annotated

from elasticsearch import AsyncElasticsearch
from fastapi import Depends, Request

from query_api.services.apikeys import ApiKeyStore, authenticate, domain_scope
from schemas.apikey import Caller
from schemas.errors import ApiError
from schemas.settings import Settings

__all__ = ["CallerDep", "EsDep", "KeysDep", "SettingsDep", "domain_scope"]


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


SettingsDep = Annotated[Settings, Depends(get_settings)]
EsDep = Annotated[AsyncElasticsearch, Depends(get_es)]
KeysDep = Annotated[ApiKeyStore, Depends(get_keys)]
CallerDep = Annotated[Caller, Depends(get_caller)]
