"""WebhookRegistry over a fake source (SPEC §4.1's checks) and WebhookTable, the webhooks topic
as every reader applies it: the same records accepted and rejected by all, whatever the order
of concurrent changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.webhooks.keys import hash_access_key
from ingest.webhooks.log import NEW, WebhookTable, encode, record_base
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

    async def find(self, webhook_id: str) -> Webhook | None:
        return self.records.get(webhook_id)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def registry(store: FakeStore) -> WebhookRegistry:
    return WebhookRegistry(store)


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


async def test_disabled_is_told_only_to_a_key_holder(store: FakeStore) -> None:
    store.records[ID] = webhook(WebhookState.DISABLED)
    registry = WebhookRegistry(store)
    with pytest.raises(WebhookKeyMismatch):
        await registry.authenticate(ID, "wrong")
    with pytest.raises(WebhookDisabled) as disabled:
        await registry.authenticate(ID, KEY)
    assert (disabled.value.status, disabled.value.code) == (400, "ERROR_WEBHOOK_STATE_DISABLED")
    with pytest.raises(WebhookDisabled):
        await registry.authorize(ID)


def named(name: str) -> Webhook:
    return webhook().model_copy(update={"name": name})


def current_name(table: WebhookTable) -> str | None:
    version = table.get(ID)
    return version.webhook.name if version and version.webhook else None


def test_table_applies_a_create_and_changes_made_on_the_current_version() -> None:
    table = WebhookTable()
    assert table.apply(0, ID, encode(named("a")), NEW)
    assert table.apply(1, ID, encode(named("b")), 0)
    assert current_name(table) == "b" and table.position == 2
    assert table.accepted(0) and table.accepted(1)


def test_table_rejects_the_loser_of_two_concurrent_changes() -> None:
    table = WebhookTable()
    table.apply(0, ID, encode(named("a")), NEW)
    assert table.apply(1, ID, encode(named("first")), 0)
    assert not table.apply(2, ID, encode(named("second, made on 0 too")), 0)
    assert current_name(table) == "first"
    assert table.accepted(2) is False
    assert table.apply(3, ID, encode(named("second, again on 1")), 1)  # the loser's retry
    assert current_name(table) == "second, again on 1"


def test_table_refuses_a_second_create_of_one_id_and_a_change_after_a_delete() -> None:
    table = WebhookTable()
    table.apply(0, ID, encode(named("a")), NEW)
    assert not table.apply(1, ID, encode(named("drawn twice")), NEW)
    assert table.apply(2, ID, None, 0)
    assert table.get(ID) is None
    assert not table.apply(3, ID, encode(named("changed meanwhile")), 0)
    assert table.get(ID) is None
    assert [(i, v.webhook) for i, v in table.versions()] == [(ID, None)]  # a deletion to mirror


def test_table_accepts_a_change_whose_history_was_compacted_away() -> None:
    table = WebhookTable()
    assert table.apply(7, ID, encode(named("newest")), 5)  # records 0..6 compacted
    assert current_name(table) == "newest"
    assert table.apply(8, ID, None, None)  # an unconditional repair tombstone
    assert table.get(ID) is None


def test_table_treats_an_unreadable_record_as_deleted() -> None:
    table = WebhookTable()
    table.apply(0, ID, encode(named("a")), NEW)
    assert table.apply(1, ID, b"{not json", 0)
    assert table.get(ID) is None
    other = "webhook-ffffffffffff"
    table.apply(2, other, encode(named("id in the value differs from the key")), NEW)
    assert table.get(other) is None


def test_record_base_header() -> None:
    assert record_base([("eventpipe-base", b"12")]) == 12
    assert record_base([("eventpipe-base", b"-1")]) == NEW
    assert record_base([("other", b"1")]) is None
    assert record_base([("eventpipe-base", b"x")]) is None
