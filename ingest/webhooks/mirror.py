"""Keeps the Elasticsearch webhooks index (the searchable copy `webhook/list` reads) equal
to the webhooks topic (the source of truth, `ingest.webhooks.log`).

Every API process runs one: after the topic's first full read it writes every webhook
(and every deletion the topic still holds), then each change as it is read. A change
that cannot be written (Elasticsearch down) stays pending, coalesced per webhook, and is
retried with backoff, so a change made during an outage reaches the index when it is
back. Each document's version is its record's offset + 1 with external versioning, so
several mirrors, replays and the writer's own immediate copy never put an older version
over a newer one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from ingest.retry import Backoff
from ingest.webhooks.log import Version, WebhookLog

log = logging.getLogger("eventpipe.webhooks")
MAX_BACKOFF_SECONDS = 5.0


class CopyWriter(Protocol):
    """Where the copies go: the webhook store's index (`query_api.services.webhooks`)."""

    async def write_copies(self, versions: Mapping[str, Version]) -> None: ...


class WebhookMirror:
    """Copies the webhooks topic into the store's index, from start-up on."""

    def __init__(self, webhooks: WebhookLog, store: CopyWriter) -> None:
        self._log = webhooks
        self._store = store
        self._changes = webhooks.listen()  # before the first read ends: nothing slips by
        self.pending: dict[str, Version] = {}

    async def run(self) -> None:
        await self._log.wait_loaded()
        self.pending.update(self._log.table.versions())
        backoff = Backoff(cap=MAX_BACKOFF_SECONDS)
        while True:
            self._drain()
            if not self.pending:
                webhook_id, version = await self._changes.get()
                self.pending[webhook_id] = version
                continue
            batch = dict(self.pending)
            try:
                await self._store.write_copies(batch)
            except Exception as error:  # unreachable, busy, refusing: retry later
                log.warning(
                    "webhook copies not written (%r); again in %.1f s", error, backoff.delay
                )
                await backoff.wait()
                continue
            for webhook_id, version in batch.items():
                if self.pending.get(webhook_id) is version:
                    del self.pending[webhook_id]
            backoff.reset()

    def _drain(self) -> None:
        while not self._changes.empty():
            webhook_id, version = self._changes.get_nowait()
            self.pending[webhook_id] = version
