"""Webhooks stored in one Elasticsearch index (`eventpipe-webhooks`), the document id = webhook_id.

Why an index rather than a compacted Kafka topic: Elasticsearch is already the one
durable store the API talks to (API keys live there too), so nothing new has to be
run, backed up or secured; a GET by id is realtime, so a reader sees a change the
moment it is acknowledged, without replaying a topic into a local table first; and
the management API gets read-your-writes (writes refresh the index) plus the same
Query filters, sort and paging as event list. Webhooks change rarely, so the cost of
refreshing on every write is nothing next to that.

Every write is a whole-document write guarded by the version it read
(`if_seq_no`/`if_primary_term`), so two concurrent changes never lose one another.
A webhook outside the caller's domain is reported as not found, so ids do not leak.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from elasticsearch import AsyncElasticsearch, BadRequestError, ConflictError, NotFoundError

from ingest.parsers.registry import available_parsers
from ingest.webhooks.keys import hash_access_key, new_access_key
from schemas.index import WEBHOOK_MAPPINGS
from schemas.webhook import (
    Webhook,
    WebhookCreate,
    WebhookInvalid,
    WebhookNotFound,
    WebhookState,
    WebhookUpdate,
    new_webhook_id,
)

log = logging.getLogger("eventpipe.webhooks")
DEFAULT_INDEX = "eventpipe-webhooks"
WRITE_ATTEMPTS = 5
INDEX_SETTINGS = {
    "number_of_shards": 1,
    "number_of_replicas": 0,
    # Many distinct tag keys must not make creates fail: keys past the limit stay in
    # _source, unindexed, instead of refusing the document.
    "mapping.total_fields.limit": 2000,
    "mapping.total_fields.ignore_dynamic_beyond_limit": True,
}


def check_plugin_id(plugin_id: str) -> None:
    """A webhook must name a parser that exists, else its events could never be read."""
    known = available_parsers()
    if plugin_id not in known:
        raise WebhookInvalid(f"unknown plugin_id {plugin_id!r}; known: {', '.join(known)}")


class WebhookStore:
    """Create, read, change and delete webhooks; the only code that writes the index.

    Lists are `query_api.webhook_list`'s (a query over the index, like event list).
    """

    def __init__(self, es: AsyncElasticsearch, index: str = DEFAULT_INDEX) -> None:
        self._es = es
        self.index = index
        self._ready = False

    async def ensure_index(self) -> None:
        """Create the index with its mapping unless it exists (another process may race us)."""
        if self._ready:
            return
        if not await self._es.indices.exists(index=self.index):
            try:
                await self._es.indices.create(
                    index=self.index, mappings=WEBHOOK_MAPPINGS, settings=INDEX_SETTINGS
                )
            except BadRequestError as error:
                if error.message != "resource_already_exists_exception":
                    raise
        self._ready = True

    async def create(self, request: WebhookCreate) -> tuple[Webhook, str]:
        """Store a new, enabled webhook; returns it with its plain access key (never stored)."""
        if not request.domain_id:
            raise WebhookInvalid("a webhook needs a domain_id")
        check_plugin_id(request.plugin_info.plugin_id)
        await self.ensure_index()
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
                created_at=now,
                updated_at=now,
                access_key_sha256=hash_access_key(access_key),
            )
            try:
                await self._es.index(
                    index=self.index,
                    id=webhook.webhook_id,
                    document=webhook.model_dump(mode="json"),
                    op_type="create",
                    refresh=True,
                )
            except ConflictError:
                continue
            log.info("webhook %s created in domain %s", webhook.webhook_id, webhook.domain_id)
            return webhook, access_key
        raise RuntimeError("could not draw an unused webhook id")

    async def find(self, webhook_id: str) -> Webhook | None:
        """The stored webhook whatever its domain, or None; a realtime GET (the registry's read)."""
        found = await self._read(webhook_id)
        return found[0] if found else None

    async def get(self, webhook_id: str, domain_id: str | None) -> Webhook:
        """The webhook, if it lies in `domain_id` (None: any domain); else WebhookNotFound."""
        webhook, _, _ = await self._read_in_domain(webhook_id, domain_id)
        return webhook

    async def update(self, request: WebhookUpdate, domain_id: str | None) -> Webhook:
        """Replace name, parser options and/or tags; options and tags are replaced whole."""
        changes: dict[str, Any] = {}
        if request.name is not None:
            changes["name"] = request.name
        if request.tags is not None:
            changes["tags"] = request.tags

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
        _, seq_no, primary_term = await self._read_in_domain(webhook_id, domain_id)
        try:
            await self._es.delete(
                index=self.index,
                id=webhook_id,
                if_seq_no=seq_no,
                if_primary_term=primary_term,
                refresh=True,
            )
        except NotFoundError:
            raise WebhookNotFound(f"webhook {webhook_id!r} not found") from None
        except ConflictError:  # changed meanwhile: the domain cannot change, so delete anyway
            await self._es.options(ignore_status=404).delete(
                index=self.index, id=webhook_id, refresh=True
            )
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
        """Read, change, write back guarded by the version read; retried when it moved."""
        for _ in range(WRITE_ATTEMPTS):
            webhook, seq_no, primary_term = await self._read_in_domain(webhook_id, domain_id)
            updated = change(webhook).model_copy(update={"updated_at": datetime.now(UTC)})
            updated = Webhook.model_validate(updated.model_dump())
            try:
                await self._es.index(
                    index=self.index,
                    id=webhook_id,
                    document=updated.model_dump(mode="json"),
                    if_seq_no=seq_no,
                    if_primary_term=primary_term,
                    refresh=True,
                )
            except ConflictError:
                continue
            return updated
        raise WebhookInvalid(f"webhook {webhook_id!r} is being changed concurrently; retry")

    async def _read_in_domain(
        self, webhook_id: str, domain_id: str | None
    ) -> tuple[Webhook, int, int]:
        """As `_read`, but a missing webhook or one of another domain is WebhookNotFound."""
        found = await self._read(webhook_id)
        if found is None or (domain_id is not None and found[0].domain_id != domain_id):
            raise WebhookNotFound(f"webhook {webhook_id!r} not found")
        return found

    async def _read(self, webhook_id: str) -> tuple[Webhook, int, int] | None:
        """(webhook, seq_no, primary_term) by a realtime GET, or None (also when no index)."""
        try:
            found = await self._es.get(index=self.index, id=webhook_id)
        except NotFoundError:
            return None
        return Webhook.model_validate(found["_source"]), found["_seq_no"], found["_primary_term"]
