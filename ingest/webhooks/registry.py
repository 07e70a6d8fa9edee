"""WebhookRegistry: the one place the HTTP intake and the stream processor authenticate senders.

Lookups are cached per webhook for `ttl_seconds` (default 2 s), so a high event rate
reads Elasticsearch once per webhook per TTL instead of once per event; concurrent
misses for one id share a single read. The bound: a change made through any process
(create, disable, enable, rotate_key, delete) reaches every reader within
`ttl_seconds` plus one GET, i.e. well under 5 s (SPEC §8), because the read is a
realtime GET by id, which sees every acknowledged write without waiting for a refresh.
A per-entry TTL, rather than a loop reloading records changed since the last poll,
also sees deletions (a deleted document leaves nothing to poll for) and needs no
background task. Unknown ids are cached too (negative entries), so a flood of
guesses costs one read per id per TTL; the cache holds at most `max_entries`.

If Elasticsearch cannot be read when an entry expires, the error propagates (the
intake answers 503, the processor retries): a stale entry is never served, which
would let a disabled webhook or a rotated key keep working.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from ingest.webhooks.keys import access_key_matches
from schemas.webhook import (
    WEBHOOK_ID_PATTERN,
    Webhook,
    WebhookDisabled,
    WebhookKeyMismatch,
    WebhookNotFound,
    WebhookState,
)

DEFAULT_TTL_SECONDS = 2.0
DEFAULT_MAX_ENTRIES = 10_000


class WebhookSource(Protocol):
    """Where the registry reads webhooks from: `WebhookStore` (or a fake in unit tests)."""

    async def find(self, webhook_id: str) -> Webhook | None: ...


class WebhookRegistry:
    """Authenticates webhook senders against a short-lived cache of the store."""

    def __init__(
        self,
        source: WebhookSource,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= ttl_seconds <= 4:
            raise ValueError("ttl_seconds must lie in [0, 4] to keep changes visible within 5 s")
        self._source = source
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, Webhook | None]] = OrderedDict()
        self._loading: dict[str, asyncio.Future[Webhook | None]] = {}

    async def authenticate(self, webhook_id: str, access_key: str) -> Webhook:
        """The webhook a sender may post to, checked in SPEC §4.1's order.

        Unknown -> WebhookNotFound, wrong key -> WebhookKeyMismatch, disabled ->
        WebhookDisabled: the key is checked before the state, so only a key holder
        learns that a webhook is disabled.
        """
        webhook = await self.get(webhook_id)
        if webhook is None:
            raise WebhookNotFound(f"webhook {webhook_id!r} not found")
        if not access_key or not access_key_matches(access_key, webhook.access_key_sha256):
            raise WebhookKeyMismatch(f"wrong access key for webhook {webhook_id!r}")
        return _enabled(webhook)

    async def authorize(self, webhook_id: str) -> Webhook:
        """For a record whose key the intake already checked (a verified signed envelope)."""
        webhook = await self.get(webhook_id)
        if webhook is None:
            raise WebhookNotFound(f"webhook {webhook_id!r} not found")
        return _enabled(webhook)

    async def get(self, webhook_id: str) -> Webhook | None:
        """The webhook as of at most `ttl_seconds` ago, or None when there is none."""
        if not WEBHOOK_ID_PATTERN.match(webhook_id):
            return None  # cannot exist: no read, no cache entry
        cached = self._cache.get(webhook_id)
        if cached is not None and cached[0] > self._clock():
            self._cache.move_to_end(webhook_id)
            return cached[1]
        load = self._loading.get(webhook_id)
        if load is None:
            # One read per id however many callers miss at once; a task of its own, so a
            # caller that is cancelled does not cancel the read the others wait for.
            load = asyncio.create_task(self._load(webhook_id))
            self._loading[webhook_id] = load
            load.add_done_callback(lambda done: self._loaded(webhook_id, done))
        return await asyncio.shield(load)

    def forget(self, webhook_id: str | None = None) -> None:
        """Drop one cached entry (or all): for a process that just changed the webhook itself."""
        if webhook_id is None:
            self._cache.clear()
        else:
            self._cache.pop(webhook_id, None)

    async def _load(self, webhook_id: str) -> Webhook | None:
        webhook = await self._source.find(webhook_id)
        self._remember(webhook_id, webhook)
        return webhook

    def _loaded(self, webhook_id: str, done: asyncio.Task[Webhook | None]) -> None:
        if self._loading.get(webhook_id) is done:
            del self._loading[webhook_id]
        if not done.cancelled():
            done.exception()  # marks it retrieved: callers already got it, or all went away

    def _remember(self, webhook_id: str, webhook: Webhook | None) -> None:
        self._cache[webhook_id] = (self._clock() + self._ttl, webhook)
        self._cache.move_to_end(webhook_id)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)


def _enabled(webhook: Webhook) -> Webhook:
    if webhook.state != WebhookState.ENABLED:
        raise WebhookDisabled(f"webhook {webhook.webhook_id!r} is disabled")
    return webhook
