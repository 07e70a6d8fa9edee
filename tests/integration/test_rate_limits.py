"""429 with Retry-After past a webhook's or an API key's rate; the others are unaffected."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx

from ingest.intake.ratelimit import RateLimiter
from schemas.settings import Settings
from tests.integration.pipeline import running_pipeline


def limited(metrics: str, scope: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(f'eventpipe_rate_limited_requests_total{{scope="{scope}"}}'):
            return float(line.split()[-1])
    return 0.0


def assert_too_many(response: httpx.Response) -> None:
    assert response.json()["error"]["code"] == "ERROR_TOO_MANY_REQUESTS", response.text
    assert int(response.headers["retry-after"]) >= 1


async def test_a_noisy_webhook_gets_429_and_another_is_unaffected(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    async with running_pipeline(
        settings, unique_name, tmp_path, start_worker=False,
        webhook_rate_per_second=20, webhook_burst=20,
    ) as pipeline:  # fmt: skip
        noisy = await pipeline.create_webhook("standard")
        quiet = await pipeline.create_webhook("standard")

        def url(hook: dict[str, str]) -> str:
            return f"/monitoring/v1/webhook/{hook['webhook_id']}/{hook['access_key']}/events"

        before = limited((await pipeline.http.get("/metrics")).text, "webhook")
        flood = [pipeline.http.post(url(noisy), json={"title": "n"}) for _ in range(120)]
        calm = [pipeline.http.post(url(quiet), json={"title": "q"}) for _ in range(10)]
        answers = await asyncio.gather(*flood, *calm)
        noisy_codes = Counter(r.status_code for r in answers[:120])
        assert [r.status_code for r in answers[120:]] == [200] * 10
        assert set(noisy_codes) == {200, 429}, noisy_codes
        assert 20 <= noisy_codes[200] < 60, noisy_codes  # the burst, plus what refilled
        for response in answers[:120]:
            if response.status_code == 429:
                assert_too_many(response)
        after = limited((await pipeline.http.get("/metrics")).text, "webhook")
        assert after - before == noisy_codes[429]

        await asyncio.sleep(1.0)  # refilled: the noisy webhook is served again
        assert (await pipeline.http.post(url(noisy), json={"title": "n"})).status_code == 200


async def test_an_api_key_over_its_rate_gets_429_and_another_key_is_unaffected(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    async with running_pipeline(settings, unique_name, tmp_path, start_worker=False) as pipeline:
        app = pipeline.http._transport.app  # type: ignore[attr-defined]
        assert app.state.key_limiter.rate == settings.api.key_rate_per_second == 100
        app.state.key_limiter = RateLimiter(10, burst=10)
        other, _ = await app.state.keys.create("domain-1")
        await pipeline.list_events()  # the index exists and the key is cached

        def post(key: str) -> object:
            return pipeline.http.post(
                "/monitoring/v1/event/list", headers={"Authorization": f"Bearer {key}"}, json={}
            )

        before = limited((await pipeline.http.get("/metrics")).text, "apikey")
        answers = await asyncio.gather(*(post(pipeline.admin_key) for _ in range(40)))
        codes = Counter(r.status_code for r in answers)
        assert set(codes) == {200, 429} and codes[200] <= 15, codes
        for response in answers:
            if response.status_code == 429:
                assert_too_many(response)
        assert limited((await pipeline.http.get("/metrics")).text, "apikey") - before == codes[429]
        others = await asyncio.gather(*(post(other) for _ in range(5)))
        assert [r.status_code for r in others] == [200] * 5
