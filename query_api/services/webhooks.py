"""Webhooks: changed through the webhooks topic (the source of truth, `ingest.webhooks.log`),
searched in one Elasticsearch index (`eventpipe-webhooks`, document id = webhook_id).

Reads of one webhook (`get`, `find`) come from the topic's in-memory copy, so they
work while Elasticsearch is down; lists search the index (`list_webhooks`, a Query of
SPEC §5 with the events' translator and the `WEBHOOKS` field map, so the two lists share
every operator, null value, case rule and error code; the key hash is never filtered,
sorted or returned).
Each change is appended to the topic guarded by the version it was made on
(`WebhookLog.append`), so two concurrent changes never lose one another; then copied
into the index at once (read-your-writes for lists) when Elasticsearch answers, else
by the mirror later (`ingest.webhooks.mirror`). A change therefore needs Kafka only.
A webhook outside the caller's domain is reported as not found, so ids do not leak.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError
from elasticsearch import ConnectionError as EsConnectionError
from elasticsearch import ConnectionTimeout as EsConnectionTimeout

from ingest.elasticsearch.copies import versioned, write_copies
from ingest.elasticsearch.indices import ensure_index
from ingest.parsers.registry import available_parsers
from ingest.webhooks.keys import hash_access_key, new_access_key
from ingest.webhooks.log import NEW, Version, WebhookLog
from query_api.query.elastic import caller_fault, refusal, resolve_filter
from query_api.query.translate import (
    INVALID,
    MAX_RESULT_WINDOW,
    WEBHOOKS,
    FilterPlan,
    build_filter,
    scoped,
    translate_sort,
)
from query_api.services.apikeys import domain_scope
from schemas.apikey import Caller
from schemas.errors import ApiError as RequestError
from schemas.index import WEBHOOKS_INDEX
from schemas.query import Query, QueryError
from schemas.settings import Settings
from schemas.webhook import (
    Webhook,
    WebhookCreate,
    WebhookInfo,
    WebhookInvalid,
    WebhookNotFound,
    WebhookState,
    WebhookUpdate,
    new_webhook_id,
)

log = logging.getLogger("eventpipe.webhooks")
DEFAULT_INDEX = "eventpipe-webhooks"
WRITE_ATTEMPTS = 5


def check_plugin_id(plugin_id: str) -> None:
    """A webhook must name a parser that exists, else its events could never be read."""
    known = available_parsers()
    if plugin_id not in known:
        raise WebhookInvalid(f"unknown plugin_id {plugin_id!r}; known: {', '.join(known)}")


class WebhookStore:
    """Create, read, change and delete webhooks; the only code that writes the index.

    Lists are `list_webhooks`'s (a query over the index, the searchable copy).
    """

    def __init__(
        self, es: AsyncElasticsearch, log: WebhookLog, index: str = DEFAULT_INDEX, replicas: int = 0
    ) -> None:
        self._es = es
        self.log = log
        self.index = index
        self._replicas = replicas
        self._ready = False

    async def ensure_index(self) -> None:
        """Create the index with its mapping unless it exists (another process may race us);
        an index made by an earlier version gets the fields added since (the mapping is
        strict: a field it lacks would refuse every copy)."""
        if self._ready:
            return
        await ensure_index(self._es, self.index, WEBHOOKS_INDEX, self._replicas)
        self._ready = True

    async def create(self, request: WebhookCreate) -> tuple[Webhook, str]:
        """Store a new, enabled webhook; returns it with its plain access key (never stored)."""
        if not request.domain_id:
            raise WebhookInvalid("a webhook needs a domain_id")
        check_plugin_id(request.plugin_info.plugin_id)
        access_key = new_access_key()
        now = datetime.now(UTC)
        for _ in range(WRITE_ATTEMPTS):  # a 48-bit id collides almost never; then draw again
            webhook = Webhook(
                webhook_id=new_webhook_id(),
                name=request.name,
                state=WebhookState.ENABLED,
                plugin_info=request.plugin_info,
                project_id=request.project_id,
                domain_id=request.domain_id,
                tags=request.tags,
                duplicate_window_seconds=request.duplicate_window_seconds,
                created_at=now,
                updated_at=now,
                access_key_sha256=hash_access_key(access_key),
            )
            offset = await self.log.append(webhook.webhook_id, webhook, NEW)
            if offset is None:
                continue
            await self._copy(webhook.webhook_id, Version(webhook, offset))
            log.info("webhook %s created in domain %s", webhook.webhook_id, webhook.domain_id)
            return webhook, access_key
        raise RuntimeError("could not draw an unused webhook id")

    async def find(self, webhook_id: str) -> Webhook | None:
        """The current webhook whatever its domain, or None."""
        return await self.log.find(webhook_id)

    async def get(self, webhook_id: str, domain_id: str | None) -> Webhook:
        """The webhook, if it lies in `domain_id` (None: any domain); else WebhookNotFound."""
        webhook, _ = await self._read_in_domain(webhook_id, domain_id)
        return webhook

    async def import_from_index(self) -> int:
        """Copy into the topic the webhooks only the index has (made before the topic was
        the source of truth); how many. A webhook the topic holds, or deleted, is kept."""
        await self.log.wait_loaded()
        imported, after = 0, None
        while True:
            try:
                page = await self._es.search(
                    index=self.index, size=500, sort=[{"webhook_id": "asc"}], search_after=after
                )
            except NotFoundError:
                return imported
            hits = page["hits"]["hits"]
            if not hits:
                return imported
            for hit in hits:
                webhook = Webhook.model_validate(hit["_source"])
                if not self.log.table.knows(webhook.webhook_id):
                    if await self.log.append(webhook.webhook_id, webhook, NEW) is not None:
                        imported += 1
            after = hits[-1]["sort"]

    async def update(self, request: WebhookUpdate, domain_id: str | None) -> Webhook:
        """Replace name, parser options, tags and/or the duplicate window; options and tags
        are replaced whole; a window given as null goes back to the default."""
        changes: dict[str, Any] = {}
        if request.name is not None:
            changes["name"] = request.name
        if request.tags is not None:
            changes["tags"] = request.tags
        if "duplicate_window_seconds" in request.model_fields_set:
            changes["duplicate_window_seconds"] = request.duplicate_window_seconds

        def change(webhook: Webhook) -> Webhook:
            updated = webhook.model_copy(update=changes)
            if request.options is not None:
                updated.plugin_info = webhook.plugin_info.model_copy(
                    update={"options": request.options}
                )
            return updated

        return await self._modify(request.webhook_id, domain_id, change)

    async def enable(self, webhook_id: str, domain_id: str | None) -> Webhook:
        return await self._set_state(webhook_id, domain_id, WebhookState.ENABLED)

    async def disable(self, webhook_id: str, domain_id: str | None) -> Webhook:
        return await self._set_state(webhook_id, domain_id, WebhookState.DISABLED)

    async def rotate_key(self, webhook_id: str, domain_id: str | None) -> tuple[Webhook, str]:
        """A new access key, returned this once; the old one stops working (registry TTL)."""
        access_key = new_access_key()
        digest = hash_access_key(access_key)
        webhook = await self._modify(
            webhook_id, domain_id, lambda w: w.model_copy(update={"access_key_sha256": digest})
        )
        log.info("webhook %s access key rotated", webhook_id)
        return webhook, access_key

    async def delete(self, webhook_id: str, domain_id: str | None) -> None:
        await self._write(webhook_id, domain_id, lambda _: None)
        log.info("webhook %s deleted", webhook_id)

    async def _set_state(
        self, webhook_id: str, domain_id: str | None, state: WebhookState
    ) -> Webhook:
        webhook = await self._modify(
            webhook_id, domain_id, lambda w: w.model_copy(update={"state": state})
        )
        log.info("webhook %s %s", webhook_id, state.value.lower())
        return webhook

    async def _modify(
        self, webhook_id: str, domain_id: str | None, change: Callable[[Webhook], Webhook]
    ) -> Webhook:
        def changed(webhook: Webhook) -> Webhook:
            updated = change(webhook).model_copy(update={"updated_at": datetime.now(UTC)})
            return Webhook.model_validate(updated.model_dump())

        written = await self._write(webhook_id, domain_id, changed)
        assert written is not None
        return written

    async def _write(
        self, webhook_id: str, domain_id: str | None, change: Callable[[Webhook], Webhook | None]
    ) -> Webhook | None:
        """Read, change, append guarded by the version read; again when another change won."""
        lost = False
        for _ in range(WRITE_ATTEMPTS):
            try:
                webhook, base = await self._read_in_domain(webhook_id, domain_id)
            except WebhookNotFound:
                if lost:  # deleted meanwhile: our lost record must not be the newest of its key
                    await self.log.append(webhook_id, None, None)
                raise
            updated = change(webhook)
            offset = await self.log.append(webhook_id, updated, base)
            if offset is None:
                lost = True
                continue
            await self._copy(webhook_id, Version(updated, offset))
            return updated
        raise WebhookInvalid(f"webhook {webhook_id!r} is being changed concurrently; retry")

    async def _read_in_domain(self, webhook_id: str, domain_id: str | None) -> tuple[Webhook, int]:
        """(webhook, offset of its version); one missing or of another domain: WebhookNotFound."""
        version = await self.log.versioned(webhook_id)
        if version is None or version.webhook is None:
            raise WebhookNotFound(f"webhook {webhook_id!r} not found")
        if domain_id is not None and version.webhook.domain_id != domain_id:
            raise WebhookNotFound(f"webhook {webhook_id!r} not found")
        return version.webhook, version.offset

    async def _copy(self, webhook_id: str, version: Version) -> None:
        """The searchable copy, now if Elasticsearch answers; else the mirror writes it later."""
        try:
            await self.write_copies({webhook_id: version})
        except (EsConnectionError, EsConnectionTimeout) as error:
            log.warning("webhook %s changed; its searchable copy follows later (%r)",
                        webhook_id, error)  # fmt: skip

    async def write_copies(self, versions: Mapping[str, Version]) -> None:
        """Index (or delete) each webhook as of its version; an older version never wins."""
        await self.ensure_index()
        operations: list[dict[str, Any]] = []
        for webhook_id, version in versions.items():
            meta = versioned(self.index, webhook_id, version.offset)
            if version.webhook is None:
                operations.append({"delete": meta})
            else:
                operations += [{"index": meta}, version.webhook.model_dump(mode="json")]
        failed = await write_copies(self._es, operations)
        if failed:
            raise WebhookCopyFailed(f"{len(failed)} webhook copies refused: {failed[0]}")


class WebhookCopyFailed(Exception):
    """Elasticsearch refused a webhook's searchable copy; the mirror retries."""


@asynccontextmanager
async def open_store(settings: Settings, es: AsyncElasticsearch) -> AsyncIterator[WebhookStore]:
    """A store following the webhooks topic, for a command or a script (the API keeps its own)."""
    webhooks = WebhookLog(settings)
    await webhooks.start()
    try:
        yield WebhookStore(es, webhooks, settings.indices.webhooks, settings.indices.replicas)
    finally:
        await webhooks.stop()


def creating_domain(caller: Caller, requested: str | None) -> str:
    """A domain key creates in its domain; an admin key must say which domain."""
    domain = domain_scope(caller, requested)
    if domain is None:
        raise RequestError(400, "ERROR_INVALID_ARGUMENT", "domain_id is required with an admin key")
    return domain


# ---- list ------------------------------------------------------------------------------------


SECRET_FIELDS = ("access_key_sha256",)
MINIMAL_FIELDS = ("webhook_id", "name", "state")


def translate_list(
    query: Query, exact: Mapping[str, str], *, now: datetime
) -> tuple[FilterPlan, dict[str, Any]]:
    """The filter (domain not yet applied) and the other `es.search` arguments of a list."""
    plan = build_filter(query.filter, query.filter_or, query.keyword, now=now,
                        searchable=WEBHOOKS)  # fmt: skip
    if exact:
        terms = [{"term": {name: value}} for name, value in exact.items()]
        plan = FilterPlan({"bool": {"filter": [*terms, plan.query]}}, plan.expansions,
                          plan.regexps)  # fmt: skip
    start, limit = query.page.start - 1, query.page.limit or MAX_RESULT_WINDOW
    if query.count_only:
        start, limit = 0, 0
    elif start + limit > MAX_RESULT_WINDOW:
        raise QueryError(INVALID, f"page beyond the first {MAX_RESULT_WINDOW} webhooks")
    return plan, {
        "sort": list(translate_sort(query.sort, WEBHOOKS)),
        "from_": start,
        "size": limit,
        "track_total_hits": True,
        "source_excludes": list(SECRET_FIELDS),
    }


async def list_webhooks(
    es: AsyncElasticsearch,
    index: str,
    query: Query,
    exact: Mapping[str, str] | None = None,
    domain_id: str | None = None,
    *,
    now: datetime | None = None,
) -> tuple[list[WebhookInfo | dict[str, Any]], int]:
    """Webhooks matching a Query (and exact filters) within a domain: (results, total)."""
    plan, options = translate_list(query, exact or {}, now=now or datetime.now(UTC))
    try:
        resolved = await resolve_filter(es, index, plan, domain_id=domain_id)
        found = await es.search(index=index, query=scoped(resolved, domain_id), **options)
    except NotFoundError:  # no webhook was ever created
        return [], 0
    except ApiError as error:
        if not caller_fault(error):
            raise
        raise await refusal(es, index, error, plan) from error
    total = found["hits"]["total"]["value"]
    if query.count_only:
        return [], total
    results: list[WebhookInfo | dict[str, Any]] = []
    for hit in found["hits"]["hits"]:
        info = WebhookInfo.model_validate(hit["_source"])
        if query.only or query.minimal:
            results.append(select_fields(info.model_dump(mode="json"), query))
        else:
            results.append(info)
    return results, total


def select_fields(document: dict[str, Any], query: Query) -> dict[str, Any]:
    """`only` (dotted keys keep their nesting) or `minimal`; the whole document otherwise."""
    names = query.only or (list(MINIMAL_FIELDS) if query.minimal else None)
    if not names:
        return document
    picked: dict[str, Any] = {}
    for name in names:
        source: Any = document
        parts = name.split(".")
        for part in parts:
            source = source.get(part, _MISSING) if isinstance(source, dict) else _MISSING
        if source is _MISSING:
            continue
        target = picked
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = source
    return picked


_MISSING = object()
