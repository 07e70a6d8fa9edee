"""The webhooks' source of truth: a compacted Kafka topic that every intake and worker reads whole.

One record per change (key webhook_id, value the Webhook's JSON with its access key only as
a SHA-256, a tombstone for a deletion: `schemas.topics`), read and written as every
compacted topic is (`ingest.kafka.compacted`).

Why a topic and not Elasticsearch (the searchable copy `webhook/list` reads, kept by
`ingest.webhooks.mirror`): authenticating a sender then needs only Kafka, which the
intake needs anyway to accept anything, so an Elasticsearch outage never refuses an
alert; a change is pushed to every reader (a fetch long-poll returns as soon as it is
written), not polled; and a change made while Elasticsearch is down is kept (Kafka has
it) and reaches the index when it is back. The cost: every process holds every webhook
in memory (about 1 KB each) and reads the topic at start-up.

The topic is read and followed by `ingest.kafka.compacted.CompactedLog`, the mechanism the
event rules share; concurrent changes of one webhook never lose one another (a writer
whose change lost re-reads and tries again, `WebhookStore`).
"""

from __future__ import annotations

from ingest.kafka.compacted import (
    HEADER_BASE,
    NEW,
    CompactedLog,
    Version,
    VersionedTable,
    encode_model,
    model_decoder,
    record_base,
)
from schemas.settings import Settings
from schemas.webhook import WEBHOOK_ID_PATTERN, Webhook, WebhookError

__all__ = [
    "HEADER_BASE", "NEW", "Version", "WebhookLog", "WebhookTable", "WebhooksUnavailable",
    "encode", "record_base",
]  # fmt: skip


class WebhooksUnavailable(WebhookError):
    """Kafka cannot be reached to read or change webhooks: retry later."""

    status, code = 503, "ERROR_UNAVAILABLE"


class WebhookTable(VersionedTable[Webhook]):
    """The webhooks as of the records applied so far; pure, fed by `WebhookLog`."""

    def __init__(self) -> None:
        super().__init__(model_decoder(Webhook, lambda webhook: webhook.webhook_id))


encode = encode_model


class WebhookLog(CompactedLog[Webhook]):
    """The webhooks topic read into a `WebhookTable`, and appended to.

    `find` waits until the table has read the whole topic once (at start-up), then
    answers from memory.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, settings.topics.webhooks, WebhookTable(), WebhooksUnavailable)

    async def find(self, webhook_id: str) -> Webhook | None:
        """The current webhook or None; waits for the first full read of the topic.

        An id not in memory is looked up again once the reader has caught up with the
        topic's end as of now (`catch_up`): a webhook created a moment ago, whose first
        alert arrives before its record was read here, is found, not refused.
        """
        if not WEBHOOK_ID_PATTERN.match(webhook_id):
            return None
        if not self.loaded:
            await self.wait_loaded()
        version = self.table.get(webhook_id)
        if version is None and not self.table.knows(webhook_id):
            await self.catch_up()
            version = self.table.get(webhook_id)
        return version.value if version else None

    async def append(  # type: ignore[override]
        self, webhook_id: str, webhook: Webhook | None, base: int | None
    ) -> int | None:
        """Write one change; the offset it was applied at, or None when another change won."""
        return await super().append(webhook_id, encode(webhook), base)
