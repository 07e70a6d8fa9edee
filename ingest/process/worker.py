"""The stream processor (`eventpipe worker`): the stages of `ingest.process.flow` fed from
Kafka (parse) and faust (correlate and index). Nothing here touches a record: this is
the wiring, the clients' lifecycles and what happens at shutdown.

    events.raw ──parse (batch consumer)──▶ events.normalized ──correlate + index (faust)──▶ ES
         └─────────────────────────────────▶ events.dlq ◀───────────────────┘

One process, two stages, each a batch at a time:

- **parse** is stateless, so it runs on a plain aiokafka batch consumer
  (`ingest.kafka.batch_consumer`): a batch of raw records is parsed, its events are
  grouped by the partition of their correlation key and produced as one record per
  partition (many events to a record, `normalize.encode_events`), dead letters go to
  `events.dlq`; the batch's offsets are committed once Kafka acknowledged all of it.
- **correlate + index** needs state keyed by correlation key, so it is a faust agent over
  `events.normalized` with the correlation Table (changelog, recovery, rebalancing). As a
  record carries a few hundred events, faust's per-record cost is paid once per few
  hundred events. `take_events()` acks a batch when the body returns *or raises* (faust's
  ack trap), so the body never raises for a bad record (dead letters) and never returns
  before Elasticsearch and the changelog acknowledged the batch (`Worker.finish`).

When the worker is stopped mid-batch, the batch gets `shutdown_grace_seconds` to finish;
if it cannot, the process exits at once without acking or committing, and the records
are read again after a restart, where deterministic ids make the replay harmless.
Everything that touches faust's internals is in `ingest.kafka.faust_runtime`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
from aiokafka import ConsumerRecord, TopicPartition
from elasticsearch import AsyncElasticsearch

from ingest.elasticsearch.indices import ensure_alert_indices, ensure_events_template
from ingest.elasticsearch.writer import client_serializers
from ingest.kafka import faust_runtime
from ingest.kafka.batch_consumer import BatchConsumer
from ingest.kafka.faust_runtime import LeanMonitor, RecoveryWatch
from ingest.kafka.identity import read_cluster_id
from ingest.kafka.produce import BatchProducer, LazyProducer
from ingest.metrics import CONSUMER_LAG, PARTITIONS_REREAD
from ingest.process.flow import IndexStage, ParseStage
from ingest.process.normalize import Position
from ingest.process.parse import RawRecord
from ingest.process.states import StateStore
from ingest.retry import retry
from ingest.rules.log import EventRuleLog, open_rules
from ingest.secrets import signing_secret
from ingest.webhooks.registry import WebhookRegistry, open_registry
from schemas.settings import Settings
from schemas.topics import CORRELATION_TABLE, topic_specs

log = logging.getLogger("eventpipe.worker")

QUIET_MARGIN = timedelta(minutes=5)
STALL_CHECK_SECONDS = 5.0
EXIT_UNACKED = 75  # EX_TEMPFAIL: stopped with a batch not done; it will be read again
# Each events.normalized record carries a few hundred events: the index stage takes
# this many records at a time, and faust buffers few of them.
INDEX_TAKE_RECORDS = 16
STREAM_BUFFER_RECORDS = 32
INDEX_WITHIN_SECONDS = 0.02


def raw_record(message: ConsumerRecord, cluster_id: str) -> RawRecord:
    headers = {str(k): bytes(v) for k, v in (message.headers or ()) if v is not None}
    return RawRecord(
        position=Position(message.topic, message.partition, message.offset),
        timestamp=datetime.fromtimestamp(message.timestamp / 1000, UTC),
        value=message.value,
        headers=headers,
        cluster_id=cluster_id,
    )


class Worker:
    """The stages' clients, started on first use (each waited for while unreachable), and
    the stages over them (`ingest.process.flow`); `build_app` wires them into faust."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = topic_specs(settings)
        self.stopping = False
        self._es: AsyncElasticsearch | None = None
        self._registry: WebhookRegistry | None = None
        self._rules: EventRuleLog | None = None
        self._rules_ready = asyncio.Lock()
        self._kafka = LazyProducer(
            settings.kafka, max_batch_size=1024 * 1024, max_request_size=2 * 1024 * 1024
        )
        self._batches: BatchProducer | None = None
        self._states: StateStore | None = None
        self._secret = signing_secret(settings)
        self._es_ready = asyncio.Lock()
        self._registry_ready = asyncio.Lock()
        self._producer_ready = asyncio.Lock()
        self._cluster_id = ""  # the Kafka cluster's id, read once: part of every event id
        # The newest created_at indexed: the clock quiet keys are judged by, so a replay
        # of old records never finds its keys forgotten.
        self.stream_time: datetime | None = None

    def is_stopping(self) -> bool:
        return self.stopping

    async def elasticsearch(self) -> AsyncElasticsearch:
        """The index stage's client, the templates in place (waited for while unreachable)."""
        async with self._es_ready:
            if self._es is None:
                es = AsyncElasticsearch(
                    **self.settings.elasticsearch.client_options(),
                    serializers=client_serializers(),
                )
                await retry(lambda: self._prepare(es), "preparing Elasticsearch", self.is_stopping)
                self._es = es
        return self._es

    async def webhooks(self) -> WebhookRegistry:
        """The parse stage's webhooks, from Kafka alone: parsing goes on while Elasticsearch
        is down."""
        async with self._registry_ready:
            if self._registry is None:
                self._registry = await retry(
                    lambda: open_registry(self.settings), "reading the webhooks", self.is_stopping
                )
        return self._registry

    async def event_rules(self) -> EventRuleLog:
        """The event rules, from Kafka alone, read whole before the first batch is parsed:
        no event slips past a rule that was there when the worker started."""
        async with self._rules_ready:
            if self._rules is None:
                self._rules = await retry(
                    lambda: open_rules(self.settings), "reading the event rules", self.is_stopping
                )
        await self._rules.wait_loaded()
        return self._rules

    async def producer(self) -> BatchProducer:
        """All output (parsed events, dead letters, table changelog) goes out a batch at a
        time, acknowledged as a whole before the batch is acked."""
        async with self._producer_ready:
            if self._batches is None:
                kafka = await retry(self._kafka.get, "connecting to Kafka", self.is_stopping)
                self._batches = BatchProducer(kafka)
        return self._batches

    async def state_store(self, table: Any) -> StateStore:
        """The correlation table's states and their changelog (one writer for both stages)."""
        if self._states is None:
            out = await self.producer()
            self._states = StateStore(
                lambda: faust_runtime.local_store(table),
                faust_runtime.changelog_topic(table),
                out,
                self.is_stopping,
            )
        return self._states

    async def cluster_id(self) -> str:
        """The id of the Kafka cluster events.raw is read from (event ids derive from it)."""
        if not self._cluster_id:
            kafka = self.settings.kafka
            self._cluster_id = await retry(
                lambda: read_cluster_id(kafka), "reading the Kafka cluster id", self.is_stopping
            )
        return self._cluster_id

    async def parse_stage(self) -> ParseStage:
        topics = self.topics
        return ParseStage(
            registry=await self.webhooks(),
            rules=await self.event_rules(),
            secret=self._secret,
            out=await self.producer(),
            normalized=topics.normalized.name,
            dlq=topics.raw.dead_letters or topics.dlq.name,
            stopping=self.is_stopping,
            duplicate_window=self.settings.ingest.duplicate_window_seconds,
        )

    async def index_stage(self, table: Any) -> IndexStage:
        settings = self.settings
        return IndexStage(
            es=await self.elasticsearch(),
            states=await self.state_store(table),
            out=await self.producer(),
            events_prefix=settings.indices.events,
            alerts_index=settings.indices.alerts,
            numbers_index=settings.indices.alert_numbers,
            dlq=self.topics.normalized.dead_letters or self.topics.dlq.name,
            window=timedelta(seconds=settings.ingest.dedup_window_seconds),
            stopping=self.is_stopping,
        )

    async def close(self) -> None:
        if self._registry is not None:
            await self._registry.close()
        if self._rules is not None:
            await self._rules.stop()
        await self._kafka.stop()
        if self._es is not None:
            await self._es.close()

    async def _prepare(self, es: AsyncElasticsearch) -> None:
        indices = self.settings.indices
        await ensure_events_template(
            es, indices.events, shards=indices.events_shards, replicas=indices.replicas
        )
        await ensure_alert_indices(es, indices)

    async def parse_batch(self, messages: Sequence[ConsumerRecord]) -> None:
        """Parse a batch of raw records; return once Kafka acknowledged all it produced."""
        stage, cluster_id = await self.parse_stage(), await self.cluster_id()
        await stage.run([(raw_record(message, cluster_id), message.key) for message in messages])

    async def index_batch(self, events: Sequence[Any], table: Any) -> None:
        """Correlate and index; return once Elasticsearch has acknowledged every event."""
        stage = await self.index_stage(table)
        records = [
            (Position(e.message.topic, e.message.partition, e.message.offset), e.message.value)
            for e in events
        ]
        outcome = await stage.run(records)
        if outcome.newest:
            newest = datetime.fromisoformat(outcome.newest)
            self.stream_time = max(self.stream_time or newest, newest)

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


def build_app(settings: Settings) -> faust.App:
    """The faust app: topics, the correlation table, the parse task and the index agent."""
    partitions = settings.topics.partitions
    datadir = settings.engines.cache_dir / "faust" / settings.ingest.worker_group
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.ingest.worker_group,
        **faust_runtime.broker_options(settings.kafka),
        topic_replication_factor=settings.topics.replication_factor,
        store="memory://",
        datadir=str(datadir),
        topic_partitions=partitions,
        producer_acks=-1,
        producer_linger=0.005,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # A crashed worker's partitions move to the others after 10 s, not faust's 60 s.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        # A record of events.normalized holds hundreds of events: buffer few of them.
        stream_buffer_maxsize=STREAM_BUFFER_RECORDS,
        web_enabled=False,
        Monitor=LeanMonitor,
    )
    faust_runtime.install(app)
    worker = Worker(settings)
    normalized = app.topic(settings.topics.normalized, key_serializer="raw", value_serializer="raw")
    # Keyed and partitioned like events.normalized, so each key's state sits with its events.
    table = app.Table(
        CORRELATION_TABLE,
        partitions=partitions,
        key_type=bytes,  # raw keys, the same bytes as the topic's; values are JSON
        use_partitioner=True,
        # Replicated as the settings ask (topic_replication_factor), and as safe to write.
        extra_topic_configs={"min.insync.replicas": str(settings.topics.min_insync_replicas)},
    )
    batch, within = settings.ingest.batch_size, settings.ingest.batch_seconds
    raw = BatchConsumer(
        settings.topics.raw,
        settings.ingest.parse_group,
        max_records=batch,
        wait_seconds=within,
        **settings.kafka.client_options(),
    )

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

    @app.task
    async def parse() -> None:
        """The parse stage: raw records a batch at a time, committed once produced."""
        await retry(raw.start, "joining the parse consumer group", worker.is_stopping)

        async def handle(messages: Sequence[ConsumerRecord]) -> None:
            await worker.finish(worker.parse_batch(messages))
            last: dict[Any, int] = {}
            for message in messages:
                last[(message.topic, message.partition)] = message.offset
            for (topic, partition), offset in last.items():
                highwater = raw.highwater(TopicPartition(topic, partition))
                if highwater is not None:
                    CONSUMER_LAG.labels(topic, str(partition)).set(max(highwater - offset - 1, 0))

        try:
            await raw.run(handle)
        finally:
            await raw.stop()

    @app.timer(interval=60.0)
    async def forget_quiet_keys() -> None:
        """Drop correlation state older than the dedup window: the table stays bounded."""
        if worker.stream_time is None:
            return
        window = timedelta(seconds=settings.ingest.dedup_window_seconds)
        states, now = await worker.state_store(table), worker.stream_time
        await states.forget_quiet(now - window - QUIET_MARGIN, now)

    watch = RecoveryWatch(settings.ingest.recovery_stall_seconds)

    @app.timer(interval=STALL_CHECK_SECONDS)
    async def exit_if_recovery_stalls() -> None:
        """A table recovery that reads nothing for long never ends (seen once, in faust):
        exit without acking anything, for the supervisor to start the worker again."""
        in_recovery, remaining = faust_runtime.recovery_remaining(app)
        left = sum(remaining.values())
        if watch.stalled(time.monotonic(), in_recovery, left):
            log.error(
                "table recovery read nothing for %.0f s (%d records to go): exiting to restart",
                settings.ingest.recovery_stall_seconds, left,
            )  # fmt: skip
            dump_state(app)
            os._exit(EXIT_UNACKED)

    @app.timer(interval=STALL_CHECK_SECONDS)
    async def heal_stalled_partitions() -> None:
        """Read again a record that was dropped on its way to a stream."""
        try:
            PARTITIONS_REREAD.inc(await faust_runtime.heal_stalls(app))
        except Exception as error:  # a rebalance in the way: try again next time
            log.warning("could not seek a stalled partition back: %r", error)

    @app.agent(normalized, name="correlate-and-index")
    async def correlate_and_index(stream: faust.StreamT[bytes]) -> None:
        # The parse stage already gathered for `within`: its records are taken promptly.
        async for events in stream.take_events(INDEX_TAKE_RECORDS, within=INDEX_WITHIN_SECONDS):
            await worker.finish(worker.index_batch(events, table))
            last = {event.message.tp: event.message.offset for event in events}
            for tp, offset in last.items():
                highwater = faust_runtime.highwater(app, tp)
                if highwater is not None:
                    lag = max(highwater - offset - 1, 0)
                    CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(lag)

    app.eventpipe_worker = worker  # type: ignore[attr-defined]
    return app


def dump_state(app: faust.App) -> None:
    log.warning("worker state:\n%s", "\n".join(faust_runtime.describe_state(app)))


def run(settings: Settings, logging_config: dict[str, Any] | None = None) -> None:
    """Create the topics, then run the faust worker until SIGTERM/SIGINT."""
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
    faust.Worker(
        app, loglevel="INFO", quiet=True, logging_config=logging_config
    ).execute_from_commandline()
