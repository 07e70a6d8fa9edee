"""Elasticsearch unreachable for 60 s under steady webhook load: the intake keeps answering 200.

Everything that talks to Elasticsearch (two intakes in this process, the worker) goes
through a TCP proxy that the test cuts for 60 s while webhook requests arrive at
`RATE` per second, spread over both intakes. Meanwhile a second webhook is disabled
through one intake; both must refuse it within a second. When the proxy is back,
every accepted event must be indexed exactly once, and the disable must have reached
the searchable copy that `webhook/list` reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from query_api.rest.app import create_app
from schemas.settings import Settings
from tests.integration.faults import at_rate, distinct_event_keys, wait_indexed
from tests.integration.pipeline import Pipeline, TcpProxy, running_pipeline

RATE = 220  # requests per second
OUTAGE_SECONDS = 60.0
LEAD_SECONDS = 5.0  # load before the cut, and after it is restored


@contextlib.asynccontextmanager
async def second_intake(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://eventpipe") as http:
            yield http


async def steady_load(
    intakes: list[httpx.AsyncClient], url: str, seconds: float, answers: dict[int, int]
) -> None:
    """POST one standard event per request at RATE/s for `seconds`, round-robin over intakes."""

    async def post(i: int) -> None:
        response = await intakes[i % len(intakes)].post(
            url, json={"event_key": f"k{i}", "title": f"event {i}", "severity": "WARNING"}
        )
        answers[i] = response.status_code

    await at_rate(RATE, post, count=int(RATE * seconds))


async def refused_within(intake: httpx.AsyncClient, url: str, started: float) -> float:
    while True:
        response = await intake.post(url, json={"title": "after disable"})
        if response.status_code == 400:
            assert response.json()["error"]["code"] == "ERROR_WEBHOOK_STATE_DISABLED"
            return time.monotonic() - started
        assert response.status_code == 200, response.text
        assert time.monotonic() - started < 5, "the disable did not reach this intake"
        await asyncio.sleep(0.02)


async def webhook_state(pipeline: Pipeline, webhook_id: str) -> Any:
    listed = await pipeline.http.post(
        "/monitoring/v1/webhook/list", headers=pipeline.auth(), json={"webhook_id": webhook_id}
    )
    assert listed.status_code == 200, listed.text
    return [row["state"] for row in listed.json()["results"]]


async def test_sixty_seconds_without_elasticsearch_under_load(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    proxy = TcpProxy(urlparse(settings.elasticsearch.url).port or 9200)
    await proxy.start()
    proxied = settings.model_copy(deep=True)
    proxied.elasticsearch.url = f"http://127.0.0.1:{proxy.port}"
    async with (
        running_pipeline(proxied, unique_name, tmp_path) as pipeline,
        second_intake(pipeline.settings) as other,
    ):
        loaded = await pipeline.create_webhook("standard")
        quiet = await pipeline.create_webhook("standard")
        load_url = f"/monitoring/v1/webhook/{loaded['webhook_id']}/{loaded['access_key']}/events"
        quiet_url = f"/monitoring/v1/webhook/{quiet['webhook_id']}/{quiet['access_key']}/events"
        intakes = [pipeline.http, other]
        for intake in intakes:
            assert (await intake.post(quiet_url, json={"title": "before"})).status_code == 200
        assert await webhook_state(pipeline, quiet["webhook_id"]) == ["ENABLED"]

        answers: dict[int, int] = {}
        load = asyncio.create_task(
            steady_load(intakes, load_url, OUTAGE_SECONDS + 2 * LEAD_SECONDS, answers)
        )
        await asyncio.sleep(LEAD_SECONDS)
        await proxy.cut()
        cut_at = time.monotonic()
        await asyncio.sleep(10)
        asked = time.monotonic()
        disabled = await pipeline.http.post(
            "/monitoring/v1/webhook/disable",
            headers=pipeline.auth(),
            json={"webhook_id": quiet["webhook_id"]},
        )
        assert disabled.status_code == 200, disabled.text
        started = time.monotonic()  # the change is acknowledged: from now on, within 1 s
        took = [await refused_within(intake, quiet_url, started) for intake in intakes]
        await asyncio.sleep(max(0.0, cut_at + OUTAGE_SECONDS - time.monotonic()))
        await proxy.start()  # same port: Elasticsearch is back
        await load

        codes = Counter(answers.values())
        accepted = sorted(i for i, status in answers.items() if status == 200)
        await wait_indexed(pipeline, len(accepted), 300)
        await asyncio.sleep(2)  # a late duplicate would show up here
        index = pipeline.settings.indices.events
        await pipeline.es.indices.refresh(index=index)
        only_loaded = {"term": {"webhook_id": loaded["webhook_id"]}}
        indexed = (await pipeline.es.count(index=index, query=only_loaded))["count"]
        keys = await distinct_event_keys(pipeline)
        wanted = {f"k{i}" for i in accepted}
        lost = len(wanted - keys)
        duplicates = indexed - len(wanted & keys)
        print(
            f"\nanswers by code: {dict(codes)}; accepted {len(accepted)}, indexed "
            f"{indexed}, lost {lost}, duplicates {duplicates}"
            f"; disable answered in {started - asked:.2f} s, then refused by the two intakes "
            f"after {[f'{t:.2f} s' for t in took]}"
        )
        assert codes == {200: len(answers)}, codes
        assert len(answers) >= RATE * (OUTAGE_SECONDS + 2 * LEAD_SECONDS) * 0.99
        assert all(t <= 1.0 for t in took), took
        assert lost == 0
        assert duplicates == 0
        assert indexed == len(accepted)
        for _ in range(50):  # the mirror writes the disable once it can
            if await webhook_state(pipeline, quiet["webhook_id"]) == ["DISABLED"]:
                break
            await asyncio.sleep(0.2)
        assert await webhook_state(pipeline, quiet["webhook_id"]) == ["DISABLED"]
