"""A dependency down or slow answers 503 with Retry-After, quickly: never a hang, never a 500.

Elasticsearch "goes away" through a TCP proxy this test cuts (the shared node keeps
running); Kafka is either an address nothing listens on, or a listener that accepts
connections and never answers (a hung broker).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import httpx
import pytest

from ingest.intake.producer import RawProducer
from query_api.rest.app import create_app
from schemas.settings import Settings
from tests.integration.pipeline import TcpProxy, pipeline_settings, running_pipeline


class Blackhole:
    """A TCP listener that accepts connections and never says a word: a hung dependency."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Blackhole:
        async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.append(writer)

        self._server = await asyncio.start_server(hold, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()


@pytest.fixture
async def hung_kafka() -> AsyncIterator[str]:
    async with Blackhole() as hole:
        yield f"127.0.0.1:{hole.port}"


@pytest.mark.parametrize("kafka", ["127.0.0.1:1", "hung"])
async def test_producer_gives_up_within_the_bound(
    settings: Settings, unique_name: str, kafka: str, hung_kafka: str
) -> None:
    broken = pipeline_settings(settings, unique_name)
    broken.kafka.bootstrap_servers = hung_kafka if kafka == "hung" else kafka
    producer = RawProducer(broken)
    try:
        for _ in range(2):  # the first send starts the producer, the second reuses it
            started = time.monotonic()
            with pytest.raises(Exception) as raised:
                await producer.send("webhook-000000000001", b"{}", "signature")
            assert time.monotonic() - started < 5.0
            assert not isinstance(raised.value, AssertionError)
    finally:
        await producer.stop()


async def test_intake_answers_503_with_retry_after_when_kafka_is_unreachable(
    settings: Settings, unique_name: str, tmp_path: object, hung_kafka: str
) -> None:
    async with running_pipeline(settings, unique_name, tmp_path, start_worker=False) as pipeline:
        webhook = await pipeline.create_webhook("standard")
        url = f"/monitoring/v1/webhook/{webhook['webhook_id']}/{webhook['access_key']}/events"
        assert (await pipeline.http.post(url, json={"title": "t"})).status_code == 200
        app = pipeline.http._transport.app  # type: ignore[attr-defined]
        await app.state.intake.producer.stop()
        hung = pipeline.settings.model_copy(deep=True)
        hung.kafka.bootstrap_servers = hung_kafka
        app.state.intake.producer = RawProducer(hung)
        for _ in range(3):
            started = time.monotonic()
            response = await pipeline.http.post(url, json={"title": "t"})
            elapsed = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "ERROR_UNAVAILABLE"
            assert int(response.headers["retry-after"]) >= 1
            assert elapsed < 5.0, f"503 after {elapsed:.1f} s"
        await app.state.intake.producer.stop()


async def test_reads_answer_503_with_retry_after_when_elasticsearch_is_down(
    settings: Settings, unique_name: str
) -> None:
    proxy = TcpProxy(urlparse(settings.elasticsearch.url).port or 9200)
    await proxy.start()
    ours = pipeline_settings(settings, unique_name)
    ours.elasticsearch.url = f"http://127.0.0.1:{proxy.port}"
    app = create_app(ours)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://eventpipe") as http:
            key, _ = await app.state.keys.create("domain-1")
            headers = {"Authorization": f"Bearer {key}"}
            routes = {
                "/monitoring/v1/event/list": {},
                "/monitoring/v1/event/stat": {"query": {"aggregate": [{"count": {"name": "n"}}]}},
                "/monitoring/v1/event/get": {"event_id": "event-000000000001"},
                "/monitoring/v1/webhook/list": {},
            }
            for route, body in routes.items():
                response = await http.post(route, headers=headers, json=body)
                assert response.status_code in (200, 404), (route, response.text)
            await proxy.cut()
            try:
                for route, body in routes.items():
                    started = time.monotonic()
                    response = await http.post(route, headers=headers, json=body)
                    assert response.status_code == 503, (route, response.text)
                    assert response.json()["error"]["code"] == "ERROR_UNAVAILABLE"
                    assert int(response.headers["retry-after"]) >= 1
                    assert time.monotonic() - started < 5.0
                # Still ready: the intake takes alerts without Elasticsearch.
                ready = await http.get("/readyz")
                assert ready.status_code == 200, ready.text
                assert ready.json() == {"status": "ready", "elasticsearch": "unreachable"}
            finally:
                await proxy.start()
            for index in (ours.indices.apikeys, ours.indices.webhooks):
                await app.state.es.indices.delete(index=index, ignore_unavailable=True)
            await app.state.es.options(ignore_status=404).indices.delete_index_template(
                name=ours.indices.events
            )
