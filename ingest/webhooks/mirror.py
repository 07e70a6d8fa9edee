"""Keeps the Elasticsearch webhooks index (the searchable copy `webhook/list` reads) equal
to the webhooks topic (the source of truth, `ingest.webhooks.log`): `ingest.kafka.mirror`'s
CopyMirror over the webhooks topic, writing through `WebhookStore.write_copies`.
"""

from __future__ import annotations

from ingest.kafka.mirror import CopyMirror
from ingest.webhooks.log import WebhookLog
from ingest.webhooks.store import WebhookStore
from schemas.webhook import Webhook


class WebhookMirror(CopyMirror[Webhook]):
    """Copies the webhooks topic into the store's index, from start-up on."""

    def __init__(self, webhooks: WebhookLog, store: WebhookStore) -> None:
        super().__init__(webhooks, store)
