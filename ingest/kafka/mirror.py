"""Keeps an Elasticsearch index (a searchable copy) equal to a compacted topic
(`ingest.kafka.compacted`), the source of truth: webhooks and event rules are copied so.

Every API process runs one per topic: after the topic's first full read it writes every
item (and every deletion the topic still holds), then each change as it is read. A change
that cannot be written (Elasticsearch down) stays pending, coalesced per key, and is retried
with backoff, so a change made during an outage reaches the index when it is back. Writers
version each document with its record's offset + 1 (external versioning), so several
mirrors, replays and a writer's own immediate copy never put an older version over a newer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Generic, Protocol, TypeVar

from ingest.kafka.compacted import CompactedLog, Version
from ingest.retry import Backoff

log = logging.getLogger("eventpipe.mirror")
MAX_BACKOFF_SECONDS = 5.0
T = TypeVar("T")


class CopyWriter(Protocol):
    async def write_copies(self, versions: Mapping[str, Version[Any]]) -> None: ...


class CopyMirror(Generic[T]):
    """Copies a compacted topic into its index through `store.write_copies`, from start-up on."""

    def __init__(self, source: CompactedLog[T], store: CopyWriter) -> None:
        self._log = source
        self._store = store
        self._changes = source.listen()  # before the first read ends: nothing slips by
        self.pending: dict[str, Version[T]] = {}

    async def run(self) -> None:
        await self._log.wait_loaded()
        self.pending.update(self._log.table.versions())
        backoff = Backoff(cap=MAX_BACKOFF_SECONDS)
        while True:
            self._drain()
            if not self.pending:
                key, version = await self._changes.get()
                self.pending[key] = version
                continue
            batch = dict(self.pending)
            try:
                await self._store.write_copies(batch)
            except Exception as error:  # unreachable, busy, refusing: retry later
                log.warning("copies of %s not written (%r); again in %.1f s",
                            getattr(self._log, "topic", "a topic"), error,
                            backoff.delay)  # fmt: skip
                await backoff.wait()
                continue
            for key, version in batch.items():
                if self.pending.get(key) is version:
                    del self.pending[key]
            backoff.reset()

    def _drain(self) -> None:
        while not self._changes.empty():
            key, version = self._changes.get_nowait()
            self.pending[key] = version
