"""Health, readiness and metrics of the HTTP service."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from query_api.rest.app import create_app
from schemas.settings import Settings
from tests.integration.pipeline import pipeline_settings, running_pipeline


async def test_readyz_fails_without_kafka(settings: Settings, unique_name: str) -> None:
    broken = pipeline_settings(settings, unique_name)
    broken.kafka.bootstrap_servers = "127.0.0.1:1"  # nothing listens there
    app = create_app(broken)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://eventpipe") as http:
            assert (await http.get("/healthz")).status_code == 200
            response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"] == {"code": "ERROR_UNAVAILABLE", "message": "Kafka unreachable"}


async def test_readyz_and_intake_metrics(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    async with running_pipeline(settings, unique_name, tmp_path, start_worker=False) as pipeline:
        ready = await pipeline.http.get("/readyz")
        assert ready.json() == {"status": "ready", "elasticsearch": "ok"}, ready.text

        def accepted(text: str) -> float:
            for line in text.splitlines():
                if line.startswith('eventpipe_intake_requests_total{status="200"}'):
                    return float(line.split()[-1])
            return 0.0

        before = accepted((await pipeline.http.get("/metrics")).text)
        webhook = await pipeline.create_webhook("standard")
        url = f"/monitoring/v1/webhook/{webhook['webhook_id']}/{webhook['access_key']}/events"
        for _ in range(3):
            response = await pipeline.http.post(url, json={"event_key": "k", "title": "t"})
            assert response.status_code == 200
        metrics = await pipeline.http.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert accepted(metrics.text) == before + 3


async def test_the_intake_alone_takes_alerts_and_serves_no_query(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    """`eventpipe intake`: the webhook routes and health only; webhooks come from Kafka."""
    async with running_pipeline(settings, unique_name, tmp_path, start_worker=False) as pipeline:
        webhook = await pipeline.create_webhook("standard")
        app = create_app(pipeline.settings, query=False)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
                deadline = time.monotonic() + 30
                while (ready := await http.get("/readyz")).status_code != 200:
                    assert time.monotonic() < deadline, ready.text  # the topic read whole
                    await asyncio.sleep(0.1)
                assert ready.json() == {"status": "ready"}, ready.text
                hook = f"/monitoring/v1/webhook/{webhook['webhook_id']}"
                sent = await http.post(f"{hook}/{webhook['access_key']}/events", json={"t": 1})
                assert sent.status_code == 200, sent.text
                keyed = await http.post(
                    f"{hook}/events", json={"t": 2},
                    headers={"X-Access-Key": webhook["access_key"]},
                )  # fmt: skip
                assert keyed.status_code == 200, keyed.text
                wrong = await http.post(f"{hook}/not-the-key/events", json={"t": 3})
                assert wrong.status_code == 403, wrong.text
                created = await http.post("/monitoring/v1/event/create", json={
                    "webhook_id": webhook["webhook_id"], "access_key": webhook["access_key"],
                    "data": {"t": 4},
                })  # fmt: skip
                assert created.status_code == 200, created.text
                listed = await http.post("/monitoring/v1/event/list", json={})
                assert listed.status_code in (404, 405), listed.text
                assert (await http.get("/console/")).status_code == 404
                paths = set(app.openapi()["paths"])
                assert "/monitoring/v1/event/create" in paths
                assert not any(path.startswith("/monitoring/v1/event/list") for path in paths)
