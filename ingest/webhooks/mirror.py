"""Keeps the Elasticsearch webhooks index (the searchable copy `webhook/list` reads) equal
to the webhooks topic (the source of truth, `ingest.webhooks.log`): `ingest.kafka.mirror`'s
CopyMirror over the webhooks topic, writing through the webhook store's `write_copies`
(`query_api.services.webhooks`).
"""

from __future__ import annotations

from ingest.kafka.mirror import CopyMirror, CopyWriter
from ingest.webhooks.log import WebhookLog
from schemas.webhook import Webhook

__all__ = ["CopyWriter", "WebhookMirror"]


class WebhookMirror(CopyMirror[Webhook]):
    """Copies the webhooks topic into the store's index, from start-up on."""

    def __init__(self, webhooks: WebhookLog, store: CopyWriter) -> None:
        super().__init__(webhooks, store)
