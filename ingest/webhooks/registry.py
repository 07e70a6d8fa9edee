"""WebhookRegistry: the one place the HTTP intake and the stream processor authenticate senders.

It reads the in-memory copy of the webhooks topic (`ingest.webhooks.log.WebhookLog`),
so authenticating needs no Elasticsearch and no I/O per request: a change made through
any process (create, disable, enable, rotate_key, delete) reaches every registry as soon
as its record is fetched (a long-poll, well under a second). Until the topic has been
read whole once (start-up), lookups wait; the intake bounds that wait and answers 503.
"""

from __future__ import annotations

from typing import Protocol

from ingest.webhooks.keys import access_key_matches
from ingest.webhooks.log import WebhookLog
from schemas.settings import Settings
from schemas.webhook import (
    Webhook,
    WebhookDisabled,
    WebhookKeyMismatch,
    WebhookNotFound,
    WebhookState,
)


class WebhookSource(Protocol):
    """Where the registry reads webhooks from: `WebhookLog` (or a fake in unit tests)."""

    async def find(self, webhook_id: str) -> Webhook | None: ...


class WebhookRegistry:
    """Authenticates webhook senders against the current webhooks."""

    def __init__(self, source: WebhookSource) -> None:
        self._source = source

    async def authenticate(self, webhook_id: str, access_key: str) -> Webhook:
        """The webhook a sender may post to, checked in SPEC §4.1's order.

        Unknown -> WebhookNotFound, wrong key -> WebhookKeyMismatch, disabled ->
        WebhookDisabled: the key is checked before the state, so only a key holder
        learns that a webhook is disabled.
        """
        webhook = await self.get(webhook_id)
        if webhook is None:
            raise WebhookNotFound(f"webhook {webhook_id[:64]!r} not found")
        if not access_key or not access_key_matches(access_key, webhook.access_key_sha256):
            raise WebhookKeyMismatch(f"wrong access key for webhook {webhook_id!r}")
        return _enabled(webhook)

    async def authorize(self, webhook_id: str) -> Webhook:
        """For a record whose key the intake already checked (a verified signed envelope)."""
        webhook = await self.get(webhook_id)
        if webhook is None:
            raise WebhookNotFound(f"webhook {webhook_id[:64]!r} not found")
        return _enabled(webhook)

    async def get(self, webhook_id: str) -> Webhook | None:
        return await self._source.find(webhook_id)

    @property
    def ready(self) -> bool:
        """False while the source is still loading (a lookup would wait)."""
        return bool(getattr(self._source, "loaded", True))

    async def close(self) -> None:
        """Stop reading the source when the registry owns it (see `open_registry`)."""
        stop = getattr(self._source, "stop", None)
        if stop is not None:
            await stop()


async def open_registry(settings: Settings) -> WebhookRegistry:
    """A registry following the webhooks topic, for a process that has no `WebhookLog` yet
    (the worker); it reads the topic in the background from now on."""
    log = WebhookLog(settings)
    await log.start()
    return WebhookRegistry(log)


def _enabled(webhook: Webhook) -> Webhook:
    if webhook.state != WebhookState.ENABLED:
        raise WebhookDisabled(f"webhook {webhook.webhook_id!r} is disabled")
    return webhook
