"""Nothing lost, nothing twice: worker crashes, Elasticsearch outages and graceful stops."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from urllib.parse import urlparse

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from schemas.settings import Settings
from tests.integration.faults import distinct_event_keys, second_worker, wait_indexed
from tests.integration.pipeline import (
    Pipeline,
    TcpProxy,
    produce_standard_events,
    running_pipeline,
)


async def test_sigkill_twice_loses_and_duplicates_nothing(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    total = 20_000
    async with running_pipeline(settings, unique_name, tmp_path) as pipeline:
        webhook = await pipeline.create_webhook("standard")
        await produce_standard_events(pipeline.settings, webhook, 0, total)
        for fraction in (0.25, 0.6):
            await wait_indexed(pipeline, int(total * fraction), 240)
            await pipeline.worker.kill()
            assert pipeline.worker.proc is not None
            assert pipeline.worker.proc.returncode == -signal.SIGKILL
            await pipeline.worker.start()
        await wait_indexed(pipeline, total, 300)
        await asyncio.sleep(2)  # a late duplicate would show up here
        assert await pipeline.count_indexed() == total
        assert await distinct_event_keys(pipeline) == {f"k{i}" for i in range(total)}


async def test_elasticsearch_outage_midstream_loses_nothing(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    es_port = urlparse(settings.elasticsearch.url).port or 9200
    proxy = TcpProxy(es_port)
    await proxy.start()
    proxy_url = f"http://127.0.0.1:{proxy.port}"
    total = 6_000
    async with running_pipeline(
        settings, unique_name, tmp_path, worker_es_url=proxy_url
    ) as pipeline:
        webhook = await pipeline.create_webhook("standard")
        await produce_standard_events(pipeline.settings, webhook, 0, total // 2)
        await wait_indexed(pipeline, 1, 120)
        await proxy.cut()
        await produce_standard_events(pipeline.settings, webhook, total // 2, total // 2)
        await asyncio.sleep(8)  # the worker keeps retrying, and must not ack meanwhile
        stalled = await pipeline.count_indexed()
        assert stalled < total
        await proxy.start()  # same port: Elasticsearch is back
        await wait_indexed(pipeline, total, 240)
        assert await pipeline.count_indexed() == total
        assert await distinct_event_keys(pipeline) == {f"k{i}" for i in range(total)}


async def committed_lag(pipeline: Pipeline) -> int:
    """Records of both input topics not yet committed by the worker's consumer group."""
    settings = pipeline.settings
    consumer = AIOKafkaConsumer(
        **settings.kafka.client_options(),
        group_id=settings.ingest.worker_group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        lag = 0
        for topic in (settings.topics.raw, settings.topics.normalized):
            partitions = [
                TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []
            ]
            ends = await consumer.end_offsets(partitions)
            for tp in partitions:
                lag += ends[tp] - (await consumer.committed(tp) or 0)
        return lag
    finally:
        await consumer.stop()


async def test_sigterm_stops_quickly_and_commits_what_was_indexed(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    async with running_pipeline(settings, unique_name, tmp_path) as pipeline:
        webhook = await pipeline.create_webhook("standard")
        await produce_standard_events(pipeline.settings, webhook, 0, 3000)
        await wait_indexed(pipeline, 3000, 240)
        seconds, code = await pipeline.worker.terminate()
        assert seconds < 10, f"worker took {seconds:.1f} s to stop"
        assert code == 0
        assert await committed_lag(pipeline) == 0  # a restart re-reads nothing

        await pipeline.worker.start()
        await produce_standard_events(pipeline.settings, webhook, 3000, 1000)
        await wait_indexed(pipeline, 4000, 240)
        assert await pipeline.count_indexed() == 4000


async def test_two_workers_share_the_work_and_the_correlation_state(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    """Alerts opened while two workers share the partitions are resolved after one of them
    dies: its partitions, and their correlation state, move to the other."""
    keys = 400
    async with running_pipeline(settings, unique_name, tmp_path) as pipeline:
        async with second_worker(pipeline, tmp_path) as second:
            webhook = await pipeline.create_webhook("standard")
            await produce_standard_events(pipeline.settings, webhook, 0, keys)
            await wait_indexed(pipeline, keys, 180)
            await second.kill()  # its partitions and their table state must move over
            await produce_standard_events(pipeline.settings, webhook, 0, keys, "RECOVERY")
            await wait_indexed(pipeline, 2 * keys, 240)
        index = pipeline.settings.indices.events
        await pipeline.es.indices.refresh(index=index)
        found = await pipeline.es.search(
            index=index, size=2 * keys, source=["event_key", "event_type", "alert_id"]
        )
        by_key: dict[str, dict[str, str]] = {}
        for hit in found["hits"]["hits"]:
            doc = hit["_source"]
            by_key.setdefault(doc["event_key"], {})[doc["event_type"]] = doc["alert_id"]
        assert len(by_key) == keys
        for key, pair in by_key.items():
            assert pair["ALERT"].startswith("alert-"), key
            assert pair["RECOVERY"] == pair["ALERT"], f"{key}: recovery lost its alert"
