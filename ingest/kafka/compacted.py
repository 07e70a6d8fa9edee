"""A compacted Kafka topic as a source of truth that every process reads whole and follows.

One record per change, key = the item's id, value = the item's JSON, a tombstone (no value)
for a deletion, and a header `eventpipe-base` = the offset of the version the change was
made on (`-1`: a create). One partition, so every reader sees every change in the same
order; compaction keeps the newest record of each key, so the topic stays as small as the
set itself. Webhooks (`ingest.webhooks.log`) and event rules (`ingest.rules.log`) live so.

Why a topic: a change is pushed to every reader (a fetch long-poll returns as soon as it is
written), not polled; readers need only Kafka, which they need anyway; a change made while
Elasticsearch is down is kept and reaches the searchable copy when it is back.

Concurrent changes of one key never lose one another: `VersionedTable.apply` accepts a
record only when its base is still the current version (or when the reader knows no version
of that key: a create, or history compacted away), so every reader accepts and rejects the
same records, and a writer whose change lost re-reads and tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from pydantic import BaseModel, ValidationError

from ingest.kafka.produce import LazyProducer
from ingest.kafka.topics import ensure_topics
from ingest.retry import Backoff
from schemas.settings import Settings
from schemas.topics import HEADER_BASE

log = logging.getLogger("eventpipe.compacted")
NEW = -1  # the base of a create: no version may exist yet
OUTCOMES_KEPT = 10_000

T = TypeVar("T")


@dataclass(frozen=True)
class Version(Generic[T]):
    """An item as of the record at `offset` (None: deleted there)."""

    value: T | None
    offset: int

    @property
    def webhook(self) -> T | None:
        """The webhooks' name for `value`."""
        return self.value


Decode = Callable[[str, bytes | None], T | None]
M = TypeVar("M", bound=BaseModel)


def model_decoder(model: type[M], key_of: Callable[[M], str]) -> Decode[M]:
    """Decode a record's value as `model`: None for a tombstone, and for a value that does
    not read as one or holds another key than the record's (written by something else:
    logged, never applied)."""

    def decode(key: str, value: bytes | None) -> M | None:
        if value is None:
            return None
        try:
            item = model.model_validate_json(value)
        except ValidationError as error:
            log.error("%s record for %s unreadable, read as deleted: %s", model.__name__, key,
                      error)  # fmt: skip
            return None
        return item if key_of(item) == key else None

    return decode


def encode_model(item: BaseModel | None) -> bytes | None:
    """A record's value: the item's JSON, or None (a tombstone)."""
    return None if item is None else item.model_dump_json().encode()


class VersionedTable(Generic[T]):
    """The items as of the records applied so far; pure, fed by `CompactedLog`."""

    def __init__(self, decode: Decode[T]) -> None:
        self._decode = decode
        self._current: dict[str, Version[T]] = {}
        self._deleted: dict[str, int] = {}  # key -> tombstone offset, for bases
        self._outcomes: OrderedDict[int, bool] = OrderedDict()
        self.position = 0  # the next offset to apply

    def apply(self, offset: int, key: str, value: bytes | None, base: int | None) -> bool:
        """Apply one record; False when it was made on a version that is no longer current."""
        self.position = offset + 1
        accepted = self._admits(key, base)
        if accepted:
            item = self._decode(key, value)
            if item is None:
                self._current.pop(key, None)
                self._deleted[key] = offset
            else:
                self._current[key] = Version(item, offset)
                self._deleted.pop(key, None)
        self._outcomes[offset] = accepted
        while len(self._outcomes) > OUTCOMES_KEPT:
            self._outcomes.popitem(last=False)
        return accepted

    def _admits(self, key: str, base: int | None) -> bool:
        current = self._current.get(key)
        if base is None:  # unconditional (a repair)
            return True
        if base == NEW:  # a create: the key must be free (one drawn twice loses)
            return current is None
        if current is not None:
            return current.offset == base
        # No version known: deleted meanwhile (the change lost), or history compacted away.
        return key not in self._deleted

    def get(self, key: str) -> Version[T] | None:
        return self._current.get(key)

    def knows(self, key: str) -> bool:
        """Whether the topic holds this key or its deletion."""
        return key in self._current or key in self._deleted

    def accepted(self, offset: int) -> bool | None:
        """Whether the record at `offset` was applied (None: not read yet, or long ago)."""
        return self._outcomes.get(offset)

    def versions(self) -> Iterator[tuple[str, Version[T]]]:
        """Every item's current version, and a None version for each deletion still known."""
        current = list(self._current.items())
        deleted = [(key, Version[T](None, at)) for key, at in self._deleted.items()]
        return iter(current + deleted)

    def __len__(self) -> int:
        return len(self._current)


def record_base(headers: Sequence[tuple[str, bytes]]) -> int | None:
    for name, value in headers:
        if name == HEADER_BASE:
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def ensure_compacted_topic(settings: Settings, topic: str) -> None:
    """Create the compacted, single-partition topic unless it exists, replicated as the
    settings ask (`ingest.kafka.topics.wanted_topics` declares it with the others)."""
    await ensure_topics(settings, [topic])


class LogUnavailable(Exception):
    """Kafka cannot be reached to read or change the items: retry later."""


class CompactedLog(Generic[T]):
    """The topic read into a `VersionedTable` by a task of its own, and appended to.

    Reads wait until the table has read the whole topic once (at start-up), then answer
    from memory. `listen` gives a queue of (key, Version) for every record applied, for a
    searchable copy. `append` raises `unavailable(message)` when Kafka does not take a change.
    """

    def __init__(
        self,
        settings: Settings,
        topic: str,
        table: VersionedTable[T],
        unavailable: Callable[[str], Exception] = LogUnavailable,
    ) -> None:
        self._settings = settings
        self._topic = TopicPartition(topic, 0)
        self.table = table
        self._unavailable = unavailable
        self._loaded = asyncio.Event()
        self._progress = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._producer = LazyProducer(settings.kafka, max_request_size=2 * 1024 * 1024)
        self._listeners: list[asyncio.Queue[tuple[str, Version[T]]]] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._catching_up: asyncio.Future[None] | None = None
        self._catch_up_started = -1.0
        self._caught_up_from = -1.0

    @property
    def topic(self) -> str:
        return self._topic.topic

    @property
    def settings(self) -> Settings:
        return self._settings

    async def start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name=f"{self.topic} reader")

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
            self._reader = None
        await self._producer.stop()

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set()

    async def wait_loaded(self) -> None:
        await self._loaded.wait()

    def listen(self) -> asyncio.Queue[tuple[str, Version[T]]]:
        """A queue of every change applied from now on."""
        queue: asyncio.Queue[tuple[str, Version[T]]] = asyncio.Queue()
        self._listeners.append(queue)
        return queue

    async def catch_up(self) -> None:
        """Return once the table has read every record written before this call (bounded by
        webhook_write_timeout_seconds); concurrent callers share one look at the end."""
        asked = asyncio.get_running_loop().time()
        if self._caught_up_from >= asked:
            return
        task = self._catching_up
        if task is None or task.done() or self._catch_up_started < asked:
            self._catch_up_started = asked
            task = self._catching_up = asyncio.ensure_future(self._catch_up(asked))
        await asyncio.shield(task)

    async def _catch_up(self, started: float) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        try:
            async with asyncio.timeout(self._settings.ingest.webhook_write_timeout_seconds):
                end = (await consumer.end_offsets([self._topic]))[self._topic]
                async with self._progress:
                    await self._progress.wait_for(lambda: self.table.position >= end)
        except (KafkaError, OSError, TimeoutError) as error:
            log.warning("could not catch up with %s: %r", self.topic, error)
            return
        self._caught_up_from = max(self._caught_up_from, started)

    async def versioned(self, key: str) -> Version[T] | None:
        await self.wait_loaded()
        return self.table.get(key)

    async def append(self, key: str, value: bytes | None, base: int | None) -> int | None:
        """Write one change; the offset it was applied at, or None when another change won.

        Returns once this process's table has read the record, so the writer reads its
        own write. `unavailable` when Kafka does not take it within the bound.
        """
        headers = [] if base is None else [(HEADER_BASE, str(base).encode())]
        try:
            async with asyncio.timeout(self._settings.ingest.webhook_write_timeout_seconds):
                producer = await self._producer.get()
                sent = await producer.send_and_wait(
                    self.topic, value=value, key=key.encode(), partition=0, headers=headers
                )
                async with self._progress:
                    await self._progress.wait_for(lambda: self.table.position > sent.offset)
        except (KafkaError, OSError, TimeoutError) as error:
            raise self._unavailable(
                f"Kafka unavailable; the change may not have been made, read it back: {error!r}"
            ) from None
        return sent.offset if self.table.accepted(sent.offset) else None

    async def _read(self) -> None:
        """Read the topic from the start, then follow it; reconnect with backoff on failure."""
        backoff = Backoff()
        while True:
            consumer: AIOKafkaConsumer | None = None
            try:
                await ensure_compacted_topic(self._settings, self.topic)
                consumer = AIOKafkaConsumer(
                    **self._settings.kafka.client_options(),
                    enable_auto_commit=False,
                    fetch_max_wait_ms=200,
                )
                await consumer.start()
                consumer.assign([self._topic])
                self._consumer = consumer
                if self.table.position == 0:
                    await consumer.seek_to_beginning(self._topic)
                else:
                    consumer.seek(self._topic, self.table.position)
                end = (await consumer.end_offsets([self._topic]))[self._topic]
                backoff.reset()
                while True:
                    # The consumer's position, not the last record's offset + 1: compaction
                    # may have removed the newest offsets below the end.
                    if not self._loaded.is_set() and await consumer.position(self._topic) >= end:
                        self._loaded.set()
                        log.info("%d items loaded from %s", len(self.table), self.topic)
                    batch = await consumer.getmany(self._topic, timeout_ms=1000)
                    records = batch.get(self._topic, [])
                    if records:
                        self._apply(records)
                        async with self._progress:
                            self._progress.notify_all()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("reading %s failed (%r); again in %.1f s", self.topic, error,
                            backoff.delay)  # fmt: skip
                await backoff.wait()
            finally:
                self._consumer = None
                if consumer is not None:
                    await consumer.stop()

    def _apply(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            if record.key is None:
                self.table.position = record.offset + 1
                continue
            key = record.key.decode(errors="replace")
            base = record_base(record.headers)
            if self.table.apply(record.offset, key, record.value, base):
                version = self.table.get(key) or Version[T](None, record.offset)
                for queue in self._listeners:
                    queue.put_nowait((key, version))
