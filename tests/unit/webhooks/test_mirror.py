"""WebhookMirror over a fake log and store: everything after the first read, each change once
Elasticsearch takes it, coalesced per webhook, retried while it refuses."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from ingest.kafka import mirror as mirror_module
from ingest.webhooks.log import NEW, Version, WebhookTable, encode
from ingest.webhooks.mirror import WebhookMirror
from tests.unit.webhooks.test_registry import ID, webhook

OTHER = "webhook-ffffffffffff"


class FakeLog:
    def __init__(self) -> None:
        self.table = WebhookTable()
        self.queue: asyncio.Queue[tuple[str, Version]] = asyncio.Queue()
        self.ready = asyncio.Event()

    def listen(self) -> asyncio.Queue[tuple[str, Version]]:
        return self.queue

    async def wait_loaded(self) -> None:
        await self.ready.wait()

    def change(self, offset: int, webhook_id: str, value: Any, base: int | None) -> None:
        self.table.apply(offset, webhook_id, encode(value), base)
        found = self.table.get(webhook_id)
        self.queue.put_nowait((webhook_id, found or Version(None, offset)))


class FakeStore:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.writes: list[dict[str, int | None]] = []

    async def write_copies(self, versions: Mapping[str, Version]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Elasticsearch unreachable")
        self.writes.append(
            {k: (v.offset if v.webhook is not None else None) for k, v in versions.items()}
        )


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mirror_module, "MAX_BACKOFF_SECONDS", 0.01)


async def test_writes_the_whole_table_after_the_first_read_then_each_change() -> None:
    log, store = FakeLog(), FakeStore()
    log.table.apply(0, ID, encode(webhook()), NEW)
    log.table.apply(1, OTHER, encode(webhook().model_copy(update={"webhook_id": OTHER})), NEW)
    log.table.apply(2, OTHER, None, 1)
    task = asyncio.create_task(WebhookMirror(log, store).run())  # type: ignore[arg-type]
    try:
        await settle()
        assert store.writes == []  # not before the topic was read whole
        log.ready.set()
        await settle()
        assert store.writes == [{ID: 0, OTHER: None}]  # a deletion the topic holds, too
        log.change(3, ID, webhook().model_copy(update={"name": "renamed"}), 0)
        await settle()
        assert store.writes[-1] == {ID: 3}
    finally:
        task.cancel()


async def test_changes_while_elasticsearch_refuses_are_kept_coalesced_and_written_later() -> None:
    log, store = FakeLog(), FakeStore(failures=3)
    log.ready.set()
    mirror = WebhookMirror(log, store)  # type: ignore[arg-type]
    task = asyncio.create_task(mirror.run())
    try:
        log.change(0, ID, webhook(), NEW)
        log.change(1, ID, webhook().model_copy(update={"name": "b"}), 0)
        log.change(2, ID, None, 1)
        for _ in range(50):
            await asyncio.sleep(0.01)
            if store.writes:
                break
        assert store.writes == [{ID: None}]  # only the newest version, once it could
        assert mirror.pending == {}
    finally:
        task.cancel()
