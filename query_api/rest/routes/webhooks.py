"""`POST /monitoring/v1/webhook/create | get | list | update | enable | disable | delete |
rotate_key`: the HTTP face of `query_api.services.webhooks`, confined to the caller's
domain as events are.

A domain API key sees and changes only its own domain's webhooks. Naming another
domain in the body is refused (403, as for events); a webhook id that belongs to
another domain answers 404, exactly as an id that does not exist, so ids of other
domains cannot be probed. The access key appears only in the answers of create
and rotate_key (with the webhook URL built from it), never in any read.
The store is `request.app.state.webhooks` (a WebhookStore). A change answers once
this process's copy of the webhooks topic has it; other processes read it within a
second. Changes and `get` need only Kafka; `list` searches Elasticsearch.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from query_api.rest.deps import CallerDep, EsDep, SettingsDep
from query_api.services.apikeys import domain_scope
from query_api.services.webhooks import WebhookStore, creating_domain, list_webhooks
from schemas.messages import ErrorResponse
from schemas.webhook import (
    WebhookCreate,
    WebhookCreated,
    WebhookInfo,
    WebhookQuery,
    WebhookRequest,
    WebhooksInfo,
    WebhookUpdate,
    public_base_url,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 429, 503)
}
router = APIRouter(prefix="/monitoring/v1/webhook", tags=["webhook"], responses=ERRORS)


def get_webhooks(request: Request) -> WebhookStore:
    return request.app.state.webhooks


WebhooksDep = Annotated[WebhookStore, Depends(get_webhooks)]


@router.post("/create")
async def create(
    request: WebhookCreate, caller: CallerDep, store: WebhooksDep, settings: SettingsDep
) -> WebhookCreated:
    """A new, enabled webhook; its access key and URL are in this answer only."""
    domain = creating_domain(caller, request.domain_id)
    webhook, key = await store.create(request.model_copy(update={"domain_id": domain}))
    return WebhookCreated.of(webhook, key, public_base_url(settings))


@router.post("/get")
async def get(request: WebhookRequest, caller: CallerDep, store: WebhooksDep) -> WebhookInfo:
    domain = domain_scope(caller, request.domain_id)
    return (await store.get(request.webhook_id, domain)).info()


@router.post("/list")
async def list_(
    request: WebhookQuery, caller: CallerDep, store: WebhooksDep, es: EsDep
) -> WebhooksInfo:
    """Webhooks matching a Query and the exact-match filters: `{results, total_count}`."""
    domain = domain_scope(caller, request.domain_id)
    query, exact = request.query, request.exact_filters()
    results, total = await list_webhooks(es, store.index, query, exact, domain)
    return WebhooksInfo(results=results, total_count=total)


@router.post("/update")
async def update(request: WebhookUpdate, caller: CallerDep, store: WebhooksDep) -> WebhookInfo:
    """Replace the name, the parser options and/or the tags (each whole)."""
    domain = domain_scope(caller, request.domain_id)
    webhook = await store.update(request, domain)
    return webhook.info()


@router.post("/enable")
async def enable(request: WebhookRequest, caller: CallerDep, store: WebhooksDep) -> WebhookInfo:
    domain = domain_scope(caller, request.domain_id)
    webhook = await store.enable(request.webhook_id, domain)
    return webhook.info()


@router.post("/disable")
async def disable(request: WebhookRequest, caller: CallerDep, store: WebhooksDep) -> WebhookInfo:
    """Its events are refused everywhere within a second (see WebhookRegistry)."""
    domain = domain_scope(caller, request.domain_id)
    webhook = await store.disable(request.webhook_id, domain)
    return webhook.info()


@router.post("/delete")
async def delete(request: WebhookRequest, caller: CallerDep, store: WebhooksDep) -> dict[str, Any]:
    domain = domain_scope(caller, request.domain_id)
    await store.delete(request.webhook_id, domain)
    return {}


@router.post("/rotate_key")
async def rotate_key(
    request: WebhookRequest,
    caller: CallerDep,
    store: WebhooksDep,
    settings: SettingsDep,
) -> WebhookCreated:
    """A new access key and URL, shown this once; the old key stops working within a second."""
    domain = domain_scope(caller, request.domain_id)
    webhook, key = await store.rotate_key(request.webhook_id, domain)
    return WebhookCreated.of(webhook, key, public_base_url(settings))
