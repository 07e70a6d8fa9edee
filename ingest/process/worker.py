"""The stream processor (`eventpipe worker`): a faust-streaming app with two agents.

    events.raw ──parse──▶ events.normalized ──correlate + index──▶ Elasticsearch
         └──────────────▶ events.dlq ◀─────────────┘

Both agents take batches with `take_events()`, which acks a batch when the loop
body returns *or raises* (faust's ack trap). So a body never raises for a bad
record (those go to the dead-letter topic) and never returns before its output
is safe: the parse agent waits for Kafka to acknowledge what it produced, the
index agent for Kafka to acknowledge the table's changelog and for Elasticsearch
to acknowledge every event. Output goes out a batch at a time (`ingest.kafka.produce`),
and offsets are committed only as runs of processed records (`ingest.kafka.faust_runtime`).
When the worker is
stopped mid-batch, the batch gets `shutdown_grace_seconds` to finish; if it
cannot, the process exits at once, without acking, and the records are read
again after a restart, where deterministic ids make the replay harmless.
More workers share the work through the consumer group: partitions decide the
parallelism.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from elasticsearch import AsyncElasticsearch
from faust.sensors.monitor import Monitor
from pydantic import ValidationError

from ingest.elasticsearch.indices import ensure_alerts_index, ensure_events_template
from ingest.kafka.faust_runtime import DenseOffsetConsumer, RecoveryWatch
from ingest.kafka.produce import BatchProducer, Record
from ingest.metrics import (
    CONSUMER_LAG,
    DEAD_LETTERS,
    EVENTS_DUPLICATE,
    EVENTS_INDEXED,
    EVENTS_PRODUCED,
    EVENTS_RETRIED,
    ORPHAN_RECOVERIES,
    PARTITIONS_REREAD,
    RECORDS_RECEIVED,
)
from ingest.process.correlate import correlation_key, is_quiet
from ingest.process.index import (
    Stopping,
    correlate_batch,
    index_alerts,
    index_events,
    load_state,
)
from ingest.process.normalize import Position
from ingest.process.parse import DeadLetter, RawRecord, parse_record
from ingest.secrets import signing_secret
from ingest.webhooks.registry import WebhookRegistry, open_registry
from schemas.alert import KeyState
from schemas.event import EventInfo
from schemas.settings import Settings

log = logging.getLogger("eventpipe.worker")

QUIET_MARGIN = timedelta(minutes=5)
STALL_CHECK_SECONDS = 5.0
SCAN_CHUNK = 2000
EXIT_UNACKED = 75  # EX_TEMPFAIL: stopped with a batch not done; it will be read again


def faust_broker(bootstrap_servers: str) -> str:
    """`host1:9092,host2:9092` -> faust's `kafka://host1:9092;kafka://host2:9092`."""
    return ";".join(f"kafka://{host.strip()}" for host in bootstrap_servers.split(",") if host)


def _headers(message: Any) -> dict[str, bytes]:
    headers = message.headers or {}
    items = headers.items() if isinstance(headers, dict) else headers
    return {str(k): bytes(v) for k, v in items if v is not None}


def raw_record(message: Any) -> RawRecord:
    return RawRecord(
        position=Position(message.topic, message.partition, message.offset),
        timestamp=datetime.fromtimestamp(message.timestamp, UTC),
        value=message.value,
        headers=_headers(message),
    )


def local_store(table: Any) -> dict[bytes, Any]:
    """The table's local state as the plain dict of its `memory://` store.

    Read and written directly: through the Table, a missing key costs a KeyError and
    every write its own changelog send (the changelog is written a batch at a time).
    """
    store: dict[bytes, Any] = table.data.data
    return store


def dead_letter_record(key: bytes | None, letter: DeadLetter) -> Record:
    """The events.dlq record of a dead letter: the original bytes, why in the headers."""
    return (key, letter.value or b"", dead_letter_headers(letter))


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    return [
        ("eventpipe-error-code", letter.code.encode()),
        ("eventpipe-error-reason", letter.reason.encode()[:4096]),
        ("eventpipe-source-topic", letter.position.topic.encode()),
        ("eventpipe-source-partition", str(letter.position.partition).encode()),
        ("eventpipe-source-offset", str(letter.position.offset).encode()),
    ]


class Worker:
    """The agents' shared resources and batch bodies; `build_app` wires them into faust."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stopping = False
        self._es: AsyncElasticsearch | None = None
        self._registry: WebhookRegistry | None = None
        self._kafka: AIOKafkaProducer | None = None
        self._batches: BatchProducer | None = None
        self._secret = signing_secret(settings)
        self._ready = asyncio.Lock()
        self._changelog_lock = asyncio.Lock()
        # The newest created_at indexed: the clock quiet keys are judged by, so a replay
        # of old records never finds its keys forgotten.
        self.stream_time: datetime | None = None

    async def resources(self) -> tuple[AsyncElasticsearch, WebhookRegistry, BatchProducer]:
        async with self._ready:
            if self._es is None or self._registry is None:
                es = AsyncElasticsearch(**self.settings.elasticsearch.client_options())
                await self._retry(lambda: self._prepare(es), "preparing Elasticsearch")
                self._es = es
                self._registry = await open_registry(self.settings)
            if self._batches is None:
                # The agents' output (parsed events, dead letters, table changelog) goes
                # out a batch at a time, acknowledged as a whole before the batch is acked.
                kafka = AIOKafkaProducer(
                    bootstrap_servers=self.settings.kafka.bootstrap_servers,
                    acks="all",
                    enable_idempotence=True,
                    max_batch_size=1024 * 1024,
                )
                await self._retry(kafka.start, "connecting to Kafka")
                self._kafka = kafka
                self._batches = BatchProducer(kafka)
        return self._es, self._registry, self._batches

    async def close(self) -> None:
        if self._kafka is not None:
            await self._kafka.stop()
        if self._es is not None:
            await self._es.close()

    async def _prepare(self, es: AsyncElasticsearch) -> None:
        await ensure_events_template(es, self.settings.indices.events)
        await ensure_alerts_index(es, self.settings.indices.alerts)

    async def _retry(self, attempt: Callable[[], Awaitable[Any]], what: str) -> Any:
        """Retry a transient failure with backoff until it works or the worker stops."""
        backoff = 0.1
        while True:
            try:
                return await attempt()
            except (Stopping, asyncio.CancelledError):
                raise
            except Exception as error:
                if self.stopping:
                    raise Stopping(f"{what} failed at shutdown: {error}") from error
                log.warning("%s failed (%s); retrying in %.1f s", what, error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def parse_batch(self, events: Sequence[Any]) -> None:
        """Parse every record; return once Kafka has acknowledged all that it produced."""
        _, registry, batches = await self.resources()
        records = [raw_record(event.message) for event in events]
        outcomes = []
        for record in records:
            outcomes.append(
                await self._retry(
                    lambda record=record: parse_record(record, registry, self._secret),
                    "reading the webhook store",
                )
            )
        parsed: list[Record] = []
        letters: list[Record] = []
        for event, outcome in zip(events, outcomes, strict=True):
            if isinstance(outcome, DeadLetter):
                letters.append(dead_letter_record(event.message.key, outcome))
                continue
            for doc in outcome:
                parsed.append((correlation_key(doc).encode(), doc.model_dump_json().encode(), []))
        topics = self.settings.topics
        await self._retry(lambda: batches.send_all(topics.normalized, parsed), "producing events")
        await self._retry(lambda: batches.send_all(topics.dlq, letters), "producing dead letters")
        RECORDS_RECEIVED.inc(len(records))
        for outcome in outcomes:
            if isinstance(outcome, DeadLetter):
                DEAD_LETTERS.labels(outcome.code).inc()
            else:
                EVENTS_PRODUCED.inc(len(outcome))

    async def index_batch(self, events: Sequence[Any], table: Any) -> None:
        """Correlate and index; return once Elasticsearch has acknowledged every event."""
        es, _, batches = await self.resources()
        docs: list[EventInfo] = []
        positions: dict[str, Position] = {}
        letters: list[tuple[bytes | None, DeadLetter]] = []
        for event in events:
            message = event.message
            position = Position(message.topic, message.partition, message.offset)
            try:
                docs.append(EventInfo.model_validate_json(message.value))
                positions[docs[-1].event_id] = position
            except ValidationError as error:
                letter = DeadLetter(
                    position, message.value,
                    "ERROR_INVALID_EVENT", f"not an EventInfo: {error.errors()[:2]}",
                )  # fmt: skip
                letters.append((message.key, letter))
        window = timedelta(seconds=self.settings.ingest.dedup_window_seconds)
        correlated, alerts, orphans, states = correlate_batch(docs, local_store(table), window)
        if docs:
            newest = max(doc.created_at for doc in docs)
            self.stream_time = max(self.stream_time or newest, newest)
        # Three independent writes, each retried until done, waited for together: the
        # table changelog (Kafka), the events and the alerts (Elasticsearch).
        stopping = lambda: self.stopping  # noqa: E731
        _, result, _ = await asyncio.gather(
            self.write_states(table, states, batches),
            index_events(es, correlated, self.settings.indices.events, stopping),
            index_alerts(es, alerts, self.settings.indices.alerts, stopping),
        )
        for doc, reason in result.dead:
            position = positions[doc.event_id]
            letter = DeadLetter(position, doc.model_dump_json().encode(), "ERROR_INDEX", reason)
            letters.append((correlation_key(doc).encode(), letter))
        if letters:
            records = [dead_letter_record(key, letter) for key, letter in letters]
            dlq = self.settings.topics.dlq
            await self._retry(lambda: batches.send_all(dlq, records), "producing dead letters")
        EVENTS_INDEXED.inc(result.indexed)
        EVENTS_DUPLICATE.inc(result.duplicates)
        EVENTS_RETRIED.inc(result.retried)
        ORPHAN_RECOVERIES.inc(orphans)
        for _, letter in letters:
            DEAD_LETTERS.labels(letter.code).inc()

    async def write_states(
        self, table: Any, states: dict[bytes, KeyState], batches: BatchProducer
    ) -> None:
        """Store each key's new state in the table and its changelog; wait for Kafka's ack.

        faust would send one changelog record per write, each its own future, and not wait
        for them; here the batch's writes go out together and are acknowledged before the
        batch is. The records are what faust's table codecs read (raw key, JSON value), so
        its recovery reads them back into the table as its own.
        """
        if not states:
            return
        store = local_store(table)
        records: list[Record] = []
        for key, state in states.items():
            # Kept as the changelog's own bytes (compact: the table holds every key of
            # the dedup window); recovery decodes them into a dict, which reads the same.
            encoded = state.model_dump_json().encode()
            store[key] = encoded
            records.append((key, encoded, []))
        async with self._changelog_lock:
            await self._send_changelog(table, records, batches)

    async def forget_quiet(self, table: Any, horizon: datetime) -> int:
        """Drop the state of keys nothing touched since `horizon`; tombstones in the changelog.

        The scan yields to the event loop every `SCAN_CHUNK` keys, so a large table never
        holds batches up; a key a batch rewrote meanwhile (a new value object) is kept.
        """
        _, _, batches = await self.resources()
        store = local_store(table)
        candidates: list[tuple[bytes, Any]] = []
        for n, (key, value) in enumerate(list(store.items()), 1):
            state = load_state(value)
            if state is not None and is_quiet(state, horizon):
                candidates.append((key, value))
            if n % SCAN_CHUNK == 0:
                await asyncio.sleep(0)
        async with self._changelog_lock:  # no state record of these keys can overtake
            quiet = [key for key, seen in candidates if store.get(key) is seen]
            for key in quiet:
                del store[key]
            await self._send_changelog(table, [(key, None, []) for key in quiet], batches)
        return len(quiet)

    async def _send_changelog(
        self, table: Any, records: list[Record], batches: BatchProducer
    ) -> None:
        """Under `_changelog_lock`: one writer at a time keeps a key's records in order."""
        topic = table.changelog_topic_name
        await self._retry(lambda: batches.send_all(topic, records), "writing the changelog")

    async def finish(self, body: Coroutine[Any, Any, None]) -> None:
        """Run a batch body to the end; when stopped mid-way, finish it or exit without ack."""
        task = asyncio.ensure_future(body)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            self.stopping = True
            grace = self.settings.ingest.shutdown_grace_seconds
            try:
                await asyncio.wait_for(asyncio.shield(task), grace)
            except BaseException as error:
                log.error("stopping with a batch not done (%r): exiting without ack", error)
                os._exit(EXIT_UNACKED)
            raise
        except BaseException as error:
            # Not a record's fault (those are dead letters): acking now would lose the batch.
            log.exception("batch failed: exiting without ack", exc_info=error)
            os._exit(EXIT_UNACKED)


class LeanMonitor(Monitor):
    """faust's monitor without its per-message timing records, which nothing here reads
    (faust's web views are off; the worker's own metrics count per batch). Those four
    hooks cost about 5 µs per record and stage (bench.faust_floor)."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        pass

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        pass


def build_app(settings: Settings) -> faust.App:
    """The faust app: topics, the correlation table and the two agents."""
    partitions = settings.topics.partitions
    datadir = settings.engines.cache_dir / "faust" / settings.ingest.worker_group
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.ingest.worker_group,
        broker=faust_broker(settings.kafka.bootstrap_servers),
        store="memory://",
        datadir=str(datadir),
        topic_partitions=partitions,
        producer_acks=-1,
        # faust's own producer writes little now (see BatchProducer); a short linger
        # still groups what it does write.
        producer_linger=0.005,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # A crashed worker's partitions move to the others after 10 s, not faust's 60 s.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        web_enabled=False,
        Monitor=LeanMonitor,
    )
    # Commits only runs of processed offsets (see ingest/kafka/faust_runtime.py).
    app.transport.Consumer = DenseOffsetConsumer  # type: ignore[misc]
    worker = Worker(settings)
    raw = app.topic(settings.topics.raw, key_serializer="raw", value_serializer="raw")
    normalized = app.topic(settings.topics.normalized, key_serializer="raw", value_serializer="raw")
    # Keyed and partitioned like events.normalized, so each key's state sits with its events.
    table = app.Table(
        "alert-state",
        partitions=partitions,
        key_type=bytes,  # raw keys, the same bytes as the topic's; values are JSON
        use_partitioner=True,
    )
    batch, within = settings.ingest.batch_size, settings.ingest.batch_seconds

    @app.on_before_shutdown.connect
    async def close_clients(app: faust.App, **kwargs: Any) -> None:
        await worker.close()

    @app.task
    async def freeze_start_up_objects() -> None:
        """Keep start-up objects out of the collector's full passes: shorter pauses."""
        gc.freeze()

    @app.task
    async def dump_on_sigusr1() -> None:
        """`kill -USR1 <pid>` logs where every task waits: for a worker that seems stuck."""
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, lambda: dump_state(app))

    @app.timer(interval=60.0)
    async def forget_quiet_keys() -> None:
        """Drop correlation state older than the dedup window: the table stays bounded."""
        if worker.stream_time is None:
            return
        window = timedelta(seconds=settings.ingest.dedup_window_seconds)
        await worker.forget_quiet(table, worker.stream_time - window - QUIET_MARGIN)

    watch = RecoveryWatch(settings.ingest.recovery_stall_seconds)

    @app.timer(interval=STALL_CHECK_SECONDS)
    async def exit_if_recovery_stalls() -> None:
        """A table recovery that reads nothing for long never ends (seen once, in faust):
        exit without acking anything, for the supervisor to start the worker again."""
        recovery = app.tables.recovery
        remaining = sum(recovery.active_remaining().values())
        if watch.stalled(time.monotonic(), recovery.in_recovery, remaining):
            log.error(
                "table recovery read nothing for %.0f s (%d records to go): exiting to restart",
                settings.ingest.recovery_stall_seconds, remaining,
            )  # fmt: skip
            dump_state(app)
            os._exit(EXIT_UNACKED)

    @app.timer(interval=STALL_CHECK_SECONDS)
    async def heal_stalled_partitions() -> None:
        """Read again a record that was dropped on its way to a stream (see DenseOffsetConsumer)."""
        consumer = app.consumer
        if isinstance(consumer, DenseOffsetConsumer):
            try:
                PARTITIONS_REREAD.inc(len(await consumer.heal_stalls()))
            except Exception as error:  # a rebalance in the way: try again next time
                log.warning("could not seek a stalled partition back: %r", error)

    def record_lag(events: Sequence[Any]) -> None:
        last = {event.message.tp: event.message.offset for event in events}
        for tp, offset in last.items():
            highwater = app.consumer.highwater(tp)
            if highwater is not None:
                CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(highwater - offset - 1, 0))

    @app.agent(raw, name="parse")
    async def parse(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(batch, within=within):
            await worker.finish(worker.parse_batch(events))
            record_lag(events)

    @app.agent(normalized, name="correlate-and-index")
    async def correlate_and_index(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(batch, within=within):
            await worker.finish(worker.index_batch(events, table))
            record_lag(events)

    app.eventpipe_worker = worker  # type: ignore[attr-defined]
    return app


def await_chain(awaitable: Any) -> list[str]:
    """`function:line` of each coroutine down what a task is awaiting."""
    chain = []
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "ag_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "ag_await", None)
    return chain


def dump_state(app: faust.App) -> None:
    """Log each asyncio task's stack, the stream buffers and the consumer's flow state."""
    lines = []
    for task in asyncio.all_tasks():
        lines.append(f"task {task.get_name()}: {' -> '.join(await_chain(task.get_coro()))}")
    for topic in app.topics:
        queue = getattr(topic, "queue", None)
        if queue is not None:
            lines.append(f"buffer {topic}: {queue.qsize()}/{queue.maxsize}")
    recovery = app.tables.recovery
    remaining = {str(tp): n for tp, n in recovery.active_remaining().items() if n}
    lines.append(f"recovery in_recovery={recovery.in_recovery} remaining={remaining}")
    consumer = app.consumer
    lines.append(
        f"consumer flow_active={consumer.flow_active} "
        f"paused={sorted(map(str, consumer._paused_partitions))} "
        f"assigned={len(consumer.assignment())}"
    )
    log.warning("worker state:\n%s", "\n".join(lines))


def run(settings: Settings, logging_config: dict[str, Any] | None = None) -> None:
    """Create the topics, then run the faust worker until SIGTERM/SIGINT."""
    from faust.worker import Worker as FaustWorker
    from prometheus_client import start_http_server

    from ingest.kafka.topics import ensure_topics

    asyncio.run(ensure_topics(settings))
    app = build_app(settings)
    if settings.ingest.worker_metrics_port:
        # A thread of prometheus_client's own: scraping never waits on the event loop.
        try:
            start_http_server(settings.ingest.worker_metrics_port, addr="127.0.0.1")
        except OSError:  # another worker on this host has the port: take a free one
            server, _ = start_http_server(0, addr="127.0.0.1")
            print(
                f"metrics port {settings.ingest.worker_metrics_port} is taken; "
                f"this worker's metrics are on port {server.server_port}",
                file=sys.stderr,
            )
    FaustWorker(
        app, loglevel="INFO", quiet=True, logging_config=logging_config
    ).execute_from_commandline()
