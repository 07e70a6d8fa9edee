"""The Kafka broker SIGKILLed and restarted under webhook load: only 200 or 503, each 503
within 5 s, and every 200 indexed exactly once; with a sender that retries every 503 as
Alertmanager does, every notification indexed exactly once (SPEC §4.6).

The broker is one of the test's own (`SeparateKafka`: other ports, another data
directory); the shared broker is never touched. The intake runs in this process, the
worker as a child process; both use the test's broker and the shared Elasticsearch.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from ingest.kafka.identity import read_cluster_id
from schemas.settings import Settings
from tests.integration.faults import at_rate, distinct_event_keys, wait_indexed, worker_joined
from tests.integration.kafka_instance import SeparateKafka, free_port
from tests.integration.pipeline import running_pipeline

RATE = 100  # requests per second
BEFORE, DOWN, AFTER = 5.0, 12.0, 10.0  # seconds of load around the outage
IN_FLIGHT = 64  # the retrying sender's requests at a time
# The retrying sender's notifications per second, and its longest wait between attempts:
# every notification of the outage is retried until the broker is back, in this process
# as the intake is, so fewer than RATE keep the test's event loop answering on 2 shared
# cores (a starved loop cannot even see the broker come back).
RETRY_RATE, MAX_BACKOFF = 50, 8.0


async def load(
    http: httpx.AsyncClient, url: str, stop: asyncio.Event, answers: dict[int, tuple[int, float]]
) -> None:
    """One standard event per request (key k<i>) at RATE/s until `stop`: answers[i] =
    (status, seconds)."""

    async def post(i: int) -> None:
        started = time.monotonic()
        try:
            response = await http.post(url, json={"event_key": f"k{i}", "title": f"e{i}"})
            status = response.status_code
        except httpx.HTTPError:
            status = -1
        answers[i] = (status, time.monotonic() - started)

    await at_rate(RATE, post, stop=stop)


async def test_broker_killed_and_restarted_under_load(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    broker = SeparateKafka(settings.engines, tmp_path / "kafka")
    await broker.start()
    try:
        ours = settings.model_copy(deep=True)
        ours.kafka.bootstrap_servers = broker.bootstrap
        async with running_pipeline(ours, unique_name, tmp_path) as pipeline:
            webhook = await pipeline.create_webhook("standard")
            await pipeline.wait_for(
                lambda: worker_joined(pipeline.settings), 120, "the worker in its group"
            )
            url = f"/monitoring/v1/webhook/{webhook['webhook_id']}/{webhook['access_key']}/events"
            answers: dict[int, tuple[int, float]] = {}
            stop = asyncio.Event()
            loading = asyncio.create_task(load(pipeline.http, url, stop, answers))
            await asyncio.sleep(BEFORE)
            broker.kill()
            killed = len(answers)
            await asyncio.sleep(DOWN)
            await broker.start()
            back = len(answers)
            await asyncio.sleep(AFTER)
            stop.set()
            await loading
            after = Counter(answers[i][0] for i in range(back + 4 * RATE, len(answers)))
            restarted = (
                pipeline.worker.proc is not None and pipeline.worker.proc.returncode is not None
            )
            if restarted:  # as its supervisor would (README: the worker exits for a restart)
                await pipeline.worker.start()

            codes = Counter(status for status, _ in answers.values())
            slowest_503 = max((s for status, s in answers.values() if status == 503), default=0)
            fast_503 = sum(1 for status, s in answers.values() if status == 503 and s < 0.5)
            accepted = {f"k{i}" for i, (status, _) in answers.items() if status == 200}
            await wait_indexed(pipeline, len(accepted), 300)
            await asyncio.sleep(3)  # a late duplicate would show up here
            keys = await distinct_event_keys(pipeline)
            indexed = await pipeline.count_indexed()
            ambiguous = len(keys - accepted)  # answered 503, yet Kafka had it: the sender retries
            print(
                f"\nanswers by code: {dict(codes)} (requests {killed}..{back} while the broker "
                f"was down or starting; {fast_503} 503s at once); slowest 503 "
                f"{slowest_503:.2f} s; from 4 s after it was back: {dict(after)}; accepted "
                f"{len(accepted)}, lost {len(accepted - keys)}, indexed {indexed} "
                f"({ambiguous} of them answered 503), duplicates {indexed - len(keys)}; "
                f"worker restarted: {restarted}"
            )
            assert set(codes) <= {200, 503}, codes
            assert codes[200] > RATE * BEFORE * 0.9 and codes[503] > 0, codes
            assert slowest_503 < 5.0
            assert set(after) == {200}, after  # the intake recovers on its own
            assert accepted <= keys  # nothing accepted is lost
            assert indexed == len(keys)  # and nothing is indexed twice
    finally:
        broker.stop()


def alertmanager_notification(i: int) -> dict[str, Any]:
    """An Alertmanager webhook (v4) of one firing alert, fingerprint i (its event_key)."""
    labels = {"alertname": f"HighLoad{i}", "severity": "warning", "instance": f"host-{i}:9100"}
    return {
        "version": "4", "status": "firing", "receiver": "eventpipe",
        "groupKey": f'{{}}:{{alertname="HighLoad{i}"}}', "truncatedAlerts": 0,
        "groupLabels": {"alertname": f"HighLoad{i}"}, "commonLabels": labels,
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing", "labels": labels,
            "annotations": {"summary": f"load above 4 on host-{i}"},
            "startsAt": "2026-12-01T10:00:00.000Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": f"{i:016x}",
        }],
    }  # fmt: skip


async def retrying_load(
    http: httpx.AsyncClient, url: str, stop: asyncio.Event, attempts: dict[int, list[int]]
) -> None:
    """Notifications at RETRY_RATE/s until `stop`, each sent as Alertmanager sends it: the
    same body again after a 5xx or a broken connection, backing off from 0.5 s, until a
    2xx (a 4xx other than 429 is not retried); at most IN_FLIGHT requests at a time.
    attempts[i] = every answer's status."""
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def notify(i: int) -> None:
        body, delay = alertmanager_notification(i), 0.5
        answers = attempts[i] = []
        while True:
            async with slots:
                try:
                    status = (await http.post(url, json=body)).status_code
                except httpx.HTTPError:
                    status = -1
            answers.append(status)
            if 200 <= status < 300 or (400 <= status < 500 and status != 429):
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    await at_rate(RETRY_RATE, notify, stop=stop)


async def deduplicated(port: int) -> float:
    """The worker's eventpipe_events_deduplicated_total (since its last start)."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    for line in text.splitlines():
        if line.startswith("eventpipe_events_deduplicated_total "):
            return float(line.split()[1])
    return 0.0


async def test_retrying_sender_through_a_broker_restart_makes_no_duplicate(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    broker = SeparateKafka(settings.engines, tmp_path / "kafka")
    await broker.start()
    try:
        ours = settings.model_copy(deep=True)
        ours.kafka.bootstrap_servers = broker.bootstrap
        metrics_port = free_port()
        # Another cluster, another id: its events' ids cannot meet the shared broker's.
        assert await read_cluster_id(ours.kafka) != await read_cluster_id(settings.kafka)
        async with running_pipeline(
            ours, unique_name, tmp_path, worker_metrics_port=metrics_port
        ) as pipeline:
            webhook = await pipeline.create_webhook("prometheus")
            await pipeline.wait_for(
                lambda: worker_joined(pipeline.settings), 120, "the worker in its group"
            )
            url = f"/monitoring/v1/webhook/{webhook['webhook_id']}/{webhook['access_key']}/events"
            attempts: dict[int, list[int]] = {}
            stop = asyncio.Event()
            loading = asyncio.create_task(retrying_load(pipeline.http, url, stop, attempts))
            await asyncio.sleep(BEFORE)
            broker.kill()
            await asyncio.sleep(DOWN)
            await broker.start(within=300)
            await asyncio.sleep(AFTER)
            stop.set()
            await asyncio.wait_for(loading, 180)
            restarted = (
                pipeline.worker.proc is not None and pipeline.worker.proc.returncode is not None
            )
            if restarted:  # as its supervisor would (README: the worker exits for a restart)
                await pipeline.worker.start()

            sent = {f"{i:016x}" for i in attempts}
            answers = Counter(status for tries in attempts.values() for status in tries)
            retried = sum(1 for tries in attempts.values() if len(tries) > 1)
            await wait_indexed(pipeline, len(sent), 300)
            await asyncio.sleep(3)  # a late duplicate would show up here
            keys = await distinct_event_keys(pipeline)
            indexed = await pipeline.count_indexed()
            dropped = await deduplicated(metrics_port)
            print(
                f"\nnotifications {len(sent)}, answers by code {dict(answers)}, {retried} "
                f"sent more than once; indexed {indexed}, distinct {len(keys)}, lost "
                f"{len(sent - keys)}, duplicates {indexed - len(keys)}; retries dropped by "
                f"the worker {dropped:.0f}{' (since its restart)' if restarted else ''}"
            )
            assert all(tries[-1] == 200 for tries in attempts.values())
            assert answers[503] > 0 and retried > 0  # the broker's death was felt
            assert keys == sent  # nothing lost
            assert indexed == len(sent)  # and nothing twice
    finally:
        broker.stop()
