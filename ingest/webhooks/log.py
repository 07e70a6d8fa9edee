"""The webhooks' source of truth: a compacted Kafka topic that every intake and worker reads whole.

One record per change, key = webhook_id, value = the Webhook's JSON (its access key
only as a SHA-256), a tombstone (no value) for a deleted webhook, and a header
`eventpipe-base` = the offset of the version the change was made on (`-1`: a create).
One partition, so every reader sees every change in the same order; compaction keeps
the newest record of each webhook, so the topic stays as small as the set itself.

Why a topic and not Elasticsearch (the searchable copy `webhook/list` reads, kept by
`ingest.webhooks.mirror`): authenticating a sender then needs only Kafka, which the
intake needs anyway to accept anything, so an Elasticsearch outage never refuses an
alert; a change is pushed to every reader (a fetch long-poll returns as soon as it is
written), not polled; and a change made while Elasticsearch is down is kept (Kafka has
it) and reaches the index when it is back. The cost: every process holds every webhook
in memory (about 1 KB each) and reads the topic at start-up.

Concurrent changes of one webhook never lose one another: `WebhookTable.apply`
accepts a record only when its base is still the current version (or when the reader
knows no version of that webhook: a create, or history compacted away), so every
reader accepts and rejects the same records, and a writer whose change lost re-reads
and tries again (`WebhookStore`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from pydantic import ValidationError

from ingest.kafka.produce import LazyProducer
from ingest.kafka.topics import ensure_topics
from ingest.retry import Backoff
from schemas.settings import Settings
from schemas.webhook import WEBHOOK_ID_PATTERN, Webhook, WebhookError

log = logging.getLogger("eventpipe.webhooks")
HEADER_BASE = "eventpipe-base"
NEW = -1  # the base of a create: no version may exist yet
OUTCOMES_KEPT = 10_000


class WebhooksUnavailable(WebhookError):
    """Kafka cannot be reached to read or change webhooks: retry later."""

    status, code = 503, "ERROR_UNAVAILABLE"


@dataclass(frozen=True)
class Version:
    """A webhook as of the record at `offset` (None: deleted there)."""

    webhook: Webhook | None
    offset: int


class WebhookTable:
    """The webhooks as of the records applied so far; pure, fed by `WebhookLog`."""

    def __init__(self) -> None:
        self._current: dict[str, Version] = {}
        self._deleted: dict[str, int] = {}  # webhook_id -> tombstone offset, for bases
        self._outcomes: OrderedDict[int, bool] = OrderedDict()
        self.position = 0  # the next offset to apply

    def apply(self, offset: int, webhook_id: str, value: bytes | None, base: int | None) -> bool:
        """Apply one record; False when it was made on a version that is no longer current."""
        self.position = offset + 1
        accepted = self._admits(webhook_id, base)
        if accepted:
            webhook = _decode(webhook_id, value)
            if webhook is None:
                self._current.pop(webhook_id, None)
                self._deleted[webhook_id] = offset
            else:
                self._current[webhook_id] = Version(webhook, offset)
                self._deleted.pop(webhook_id, None)
        self._outcomes[offset] = accepted
        while len(self._outcomes) > OUTCOMES_KEPT:
            self._outcomes.popitem(last=False)
        return accepted

    def _admits(self, webhook_id: str, base: int | None) -> bool:
        current = self._current.get(webhook_id)
        if base is None:  # unconditional (a repair)
            return True
        if base == NEW:  # a create: the id must be free (one drawn twice loses)
            return current is None
        if current is not None:
            return current.offset == base
        # No version known: deleted meanwhile (the change lost), or history compacted away.
        return webhook_id not in self._deleted

    def get(self, webhook_id: str) -> Version | None:
        return self._current.get(webhook_id)

    def knows(self, webhook_id: str) -> bool:
        """Whether the topic holds this webhook or its deletion."""
        return webhook_id in self._current or webhook_id in self._deleted

    def accepted(self, offset: int) -> bool | None:
        """Whether the record at `offset` was applied (None: not read yet, or long ago)."""
        return self._outcomes.get(offset)

    def versions(self) -> Iterator[tuple[str, Version]]:
        """Every webhook's current version, and a None version for each deletion still known."""
        current = list(self._current.items())
        deleted = [(webhook_id, Version(None, at)) for webhook_id, at in self._deleted.items()]
        return iter(current + deleted)

    def __len__(self) -> int:
        return len(self._current)


def _decode(webhook_id: str, value: bytes | None) -> Webhook | None:
    if value is None:
        return None
    try:
        webhook = Webhook.model_validate_json(value)
    except ValidationError as error:  # written by something else: never served
        log.error("webhook record for %s unreadable, treated as deleted: %s", webhook_id, error)
        return None
    return webhook if webhook.webhook_id == webhook_id else None


def record_base(headers: Sequence[tuple[str, bytes]]) -> int | None:
    for name, value in headers:
        if name == HEADER_BASE:
            try:
                return int(value)
            except ValueError:
                return None
    return None


def encode(webhook: Webhook | None) -> bytes | None:
    return None if webhook is None else webhook.model_dump_json().encode()


async def ensure_webhooks_topic(settings: Settings) -> None:
    """Create the compacted, single-partition topic unless it exists, replicated as the
    settings ask (`ingest.kafka.topics` declares it with the others)."""
    await ensure_topics(settings, [settings.topics.webhooks])


class WebhookLog:
    """The topic read into a `WebhookTable` by a task of its own, and appended to.

    `find` waits until the table has read the whole topic once (at start-up), then
    answers from memory. `listen` gives a queue of (webhook_id, Version) for every
    record applied, for the Elasticsearch mirror.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topic = TopicPartition(settings.topics.webhooks, 0)
        self.table = WebhookTable()
        self._loaded = asyncio.Event()
        self._progress = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._producer = LazyProducer(settings.kafka)
        self._listeners: list[asyncio.Queue[tuple[str, Version]]] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._catching_up: asyncio.Future[None] | None = None
        self._catch_up_started = -1.0
        self._caught_up_from = -1.0

    async def start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="webhook log reader")

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

    def listen(self) -> asyncio.Queue[tuple[str, Version]]:
        """A queue of every change applied from now on."""
        queue: asyncio.Queue[tuple[str, Version]] = asyncio.Queue()
        self._listeners.append(queue)
        return queue

    async def find(self, webhook_id: str) -> Webhook | None:
        """The current webhook or None; waits for the first full read of the topic.

        An id not in memory is looked up again once the reader has caught up with the
        topic's end as of now (`catch_up`): a webhook created a moment ago, whose first
        alert arrives before its record was read here, is found, not refused.
        """
        if not WEBHOOK_ID_PATTERN.match(webhook_id):
            return None
        if not self._loaded.is_set():
            await self._loaded.wait()
        version = self.table.get(webhook_id)
        if version is None and not self.table.knows(webhook_id):
            await self.catch_up()
            version = self.table.get(webhook_id)
        return version.webhook if version else None

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
            log.warning("could not catch up with %s: %r", self._topic.topic, error)
            return
        self._caught_up_from = max(self._caught_up_from, started)

    async def versioned(self, webhook_id: str) -> Version | None:
        await self.wait_loaded()
        return self.table.get(webhook_id)

    async def append(
        self, webhook_id: str, webhook: Webhook | None, base: int | None
    ) -> int | None:
        """Write one change; the offset it was applied at, or None when another change won.

        Returns once this process's table has read the record, so the writer reads its
        own write. WebhooksUnavailable when Kafka does not take it within the bound.
        """
        headers = [] if base is None else [(HEADER_BASE, str(base).encode())]
        try:
            async with asyncio.timeout(self._settings.ingest.webhook_write_timeout_seconds):
                producer = await self._producer.get()
                sent = await producer.send_and_wait(
                    self._topic.topic, value=encode(webhook), key=webhook_id.encode(),
                    partition=0, headers=headers,
                )  # fmt: skip
                async with self._progress:
                    await self._progress.wait_for(lambda: self.table.position > sent.offset)
        except (KafkaError, OSError, TimeoutError) as error:
            raise WebhooksUnavailable(
                f"Kafka unavailable; the change may not have been made, read it back: {error!r}"
            ) from None
        return sent.offset if self.table.accepted(sent.offset) else None

    async def _read(self) -> None:
        """Read the topic from the start, then follow it; reconnect with backoff on failure."""
        backoff = Backoff()
        while True:
            consumer: AIOKafkaConsumer | None = None
            try:
                await ensure_webhooks_topic(self._settings)
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
                        log.info("webhooks loaded: %d from %s", len(self.table), self._topic.topic)
                    batch = await consumer.getmany(self._topic, timeout_ms=1000)
                    records = batch.get(self._topic, [])
                    if records:
                        self._apply(records)
                        async with self._progress:
                            self._progress.notify_all()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("reading %s failed (%r); again in %.1f s", self._topic.topic, error,
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
            webhook_id = record.key.decode(errors="replace")
            base = record_base(record.headers)
            if self.table.apply(record.offset, webhook_id, record.value, base):
                version = self.table.get(webhook_id) or Version(None, record.offset)
                for queue in self._listeners:
                    queue.put_nowait((webhook_id, version))
