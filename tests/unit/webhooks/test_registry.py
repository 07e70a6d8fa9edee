"""WebhookRegistry over a fake store: SPEC §4.1's checks, and a cache that stays fresh."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from ingest.webhooks.keys import hash_access_key
from ingest.webhooks.registry import WebhookRegistry
from schemas.webhook import (
    PluginInfo,
    Webhook,
    WebhookDisabled,
    WebhookKeyMismatch,
    WebhookNotFound,
    WebhookState,
)

ID = "webhook-0123456789ab"
KEY = "the-right-key-0123456789012345678901234567"


def webhook(state: WebhookState = WebhookState.ENABLED, key: str = KEY) -> Webhook:
    now = datetime.now(UTC)
    return Webhook(
        webhook_id=ID,
        name="n",
        state=state,
        plugin_info=PluginInfo(plugin_id="standard"),
        project_id="p",
        domain_id="d",
        tags={},
        created_at=now,
        updated_at=now,
        access_key_sha256=hash_access_key(key),
    )


class FakeStore:
    def __init__(self) -> None:
        self.records: dict[str, Webhook] = {ID: webhook()}
        self.reads = 0
        self.delay = 0.0
        self.fail: Exception | None = None

    async def find(self, webhook_id: str) -> Webhook | None:
        self.reads += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return self.records.get(webhook_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(store: FakeStore, clock: Clock) -> WebhookRegistry:
    return WebhookRegistry(store, ttl_seconds=2.0, clock=clock)


async def test_checks_in_spec_order(registry: WebhookRegistry, store: FakeStore) -> None:
    assert (await registry.authenticate(ID, KEY)).webhook_id == ID
    with pytest.raises(WebhookNotFound) as not_found:
        await registry.authenticate("webhook-ffffffffffff", KEY)
    assert (not_found.value.status, not_found.value.code) == (404, "ERROR_NOT_FOUND")
    with pytest.raises(WebhookKeyMismatch) as mismatch:
        await registry.authenticate(ID, "wrong")
    assert (mismatch.value.status, mismatch.value.code) == (403, "ERROR_PERMISSION_DENIED")
    with pytest.raises(WebhookKeyMismatch):
        await registry.authenticate(ID, "")


async def test_disabled_is_told_only_to_a_key_holder(clock: Clock, store: FakeStore) -> None:
    store.records[ID] = webhook(WebhookState.DISABLED)
    registry = WebhookRegistry(store, clock=clock)
    with pytest.raises(WebhookKeyMismatch):
        await registry.authenticate(ID, "wrong")
    with pytest.raises(WebhookDisabled) as disabled:
        await registry.authenticate(ID, KEY)
    assert (disabled.value.status, disabled.value.code) == (400, "ERROR_WEBHOOK_STATE_DISABLED")
    with pytest.raises(WebhookDisabled):
        await registry.authorize(ID)


async def test_reads_once_per_ttl(
    registry: WebhookRegistry, store: FakeStore, clock: Clock
) -> None:
    for _ in range(100):
        await registry.authenticate(ID, KEY)
    assert store.reads == 1
    clock.now += 1.99
    await registry.authenticate(ID, KEY)
    assert store.reads == 1
    clock.now += 0.02
    await registry.authenticate(ID, KEY)
    assert store.reads == 2


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda records: records.update({ID: webhook(WebhookState.DISABLED)}), WebhookDisabled),
        (lambda records: records.update({ID: webhook(key="rotated")}), WebhookKeyMismatch),
        (lambda records: records.pop(ID), WebhookNotFound),
    ],
)
async def test_a_change_applies_once_the_entry_expires(
    registry: WebhookRegistry, store: FakeStore, clock: Clock, change, error
) -> None:
    await registry.authenticate(ID, KEY)
    change(store.records)
    await registry.authenticate(ID, KEY)  # still the cached record: that is the point of a cache
    clock.now += 2.0
    with pytest.raises(error):
        await registry.authenticate(ID, KEY)


async def test_unknown_ids_are_cached_and_malformed_ones_never_read(
    registry: WebhookRegistry, store: FakeStore, clock: Clock
) -> None:
    for _ in range(5):
        assert await registry.get("webhook-aaaaaaaaaaaa") is None
    assert store.reads == 1
    for bad in ["", "webhook-", "webhook-XYZ", "../../etc", "webhook-0123456789abc"]:
        assert await registry.get(bad) is None
    assert store.reads == 1
    store.records["webhook-aaaaaaaaaaaa"] = webhook()  # created meanwhile
    clock.now += 2.0
    assert await registry.get("webhook-aaaaaaaaaaaa") is not None


async def test_concurrent_misses_share_one_read(
    registry: WebhookRegistry, store: FakeStore
) -> None:
    store.delay = 0.05
    found = await asyncio.gather(*(registry.authenticate(ID, KEY) for _ in range(50)))
    assert len(found) == 50
    assert store.reads == 1


async def test_a_cancelled_caller_does_not_cancel_the_others(
    registry: WebhookRegistry, store: FakeStore
) -> None:
    store.delay = 0.05
    first = asyncio.create_task(registry.get(ID))
    second = asyncio.create_task(registry.get(ID))
    await asyncio.sleep(0.01)
    first.cancel()
    assert (await second) is not None
    assert first.cancelled()
    assert store.reads == 1


async def test_a_failed_read_propagates_and_is_not_cached(
    registry: WebhookRegistry, store: FakeStore
) -> None:
    store.fail = ConnectionError("elasticsearch down")
    with pytest.raises(ConnectionError):
        await registry.authenticate(ID, KEY)
    store.fail = None
    assert (await registry.authenticate(ID, KEY)).webhook_id == ID
    assert store.reads == 2


async def test_forget_and_size_bound(store: FakeStore, clock: Clock) -> None:
    registry = WebhookRegistry(store, max_entries=3, clock=clock)
    await registry.get(ID)
    registry.forget(ID)
    await registry.get(ID)
    assert store.reads == 2
    for suffix in "bcd":
        await registry.get(f"webhook-{suffix * 12}")
    await registry.get(ID)  # evicted as the least recently used
    assert store.reads == 6


def test_ttl_must_keep_the_five_second_promise(store: FakeStore) -> None:
    with pytest.raises(ValueError):
        WebhookRegistry(store, ttl_seconds=10)
