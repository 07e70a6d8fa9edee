"""What the stats, alerts and accessibility browser tests share: their own domain's events
and alerts, and the small page helpers.

Events come two ways, both real: through a webhook URL (the worker parses, correlates and
indexes them, so they have alerts), and written straight into the events index with
created_at spread over the last 7 days (the pipeline stamps created_at on receipt, so a week
of history can only be written), as an older index would hold them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_bulk

from schemas.event import format_timestamp
from schemas.index import events_index_for
from tests.browser.conftest import Console

DOMAIN = "domain-views"
PROVIDERS = [f"provider-{n:02d}" for n in range(14)]
SEVERITIES = ["CRITICAL", "ERROR", "WARNING", "INFO", "NOT_AVAILABLE", "NONE"]
WEBHOOK_EVENTS = 30
RESOLVED = 5
HISTORY = 1_500
HISTORY_ALERTS = 300


@dataclass
class Views:
    """The seeded domain: how many events, and the numbers of additional_info.value."""

    domain: str
    events: int
    values: list[str]
    alert_keys: list[str]
    webhook_id: str


def _value(rng: random.Random, n: int) -> str:
    # numbers that compare differently as text ("9.5" > "10") and a few that are not numbers
    if n % 17 == 0:
        return "n/a"
    return rng.choice([f"{rng.uniform(0, 20):.2f}", str(rng.randrange(1, 120))])


async def seed(console: Console) -> Views:
    rng = random.Random(21)
    webhook = await console.create_webhook("standard", "project-v", domain=DOMAIN)
    values: list[str] = []
    tag = f"{random.getrandbits(24):06x}"  # a module's keys: never another module's alerts
    keys = [f"svc-{tag}-{n}" for n in range(WEBHOOK_EVENTS)]
    for n, key in enumerate(keys):
        value = _value(rng, n + 1)
        values.append(value)
        body = {"event_key": key, "title": f"latency high on host-{n}",
                "severity": SEVERITIES[n % len(SEVERITIES)], "provider": PROVIDERS[n % 3],
                "additional_info": {"value": value}}  # fmt: skip
        response = await console.http.post(webhook["webhook_url"], json=body)
        assert response.status_code == 200, response.text
    for key in keys[:RESOLVED]:
        body = {"event_key": key, "event_type": "RECOVERY", "title": "latency back to normal",
                "severity": "INFO", "provider": PROVIDERS[0]}  # fmt: skip
        response = await console.http.post(webhook["webhook_url"], json=body)
        assert response.status_code == 200, response.text

    now = datetime.now(UTC)
    docs = []
    for n in range(HISTORY):
        created = now - timedelta(seconds=rng.uniform(120, 7 * 86_400 - 3_600))
        value = _value(rng, n)
        values.append(value)
        docs.append({
            "event_id": f"event-{rng.getrandbits(48):012x}",
            "event_key": f"old-{n % 40}",
            "event_type": "ALERT",
            "title": f"old event {n}",
            "severity": SEVERITIES[rng.randrange(len(SEVERITIES))],
            # skewed: a few providers hold most events, so a top N has a real "other"
            "provider": PROVIDERS[min(len(PROVIDERS) - 1, int(rng.expovariate(0.25)))],
            "alert_id": f"alert-{n % HISTORY_ALERTS:012x}",
            "additional_info": {"value": value},
            "project_id": "project-v",
            "domain_id": DOMAIN,
            "created_at": format_timestamp(created),
        })  # fmt: skip
    es = AsyncElasticsearch(**console.settings.elasticsearch.client_options())
    try:
        prefix = console.settings.indices.events
        actions = [
            {"_index": events_index_for(prefix, datetime.fromisoformat(d["created_at"])),
             "_id": d["event_id"], "_source": d}
            for d in docs
        ]  # fmt: skip
        assert await async_bulk(es, actions, refresh="wait_for") == (len(docs), [])
    finally:
        await es.close()
    total = WEBHOOK_EVENTS + RESOLVED + HISTORY
    await console.wait_for_events({"domain_id": DOMAIN}, total)
    await wait_for_alerts(console, WEBHOOK_EVENTS)
    return Views(DOMAIN, total, values, keys, webhook["webhook_id"])


async def remove(console: Console, views: Views) -> None:
    """The domain's events, alerts, notes and webhook, gone."""
    await console.http.post(
        "/monitoring/v1/webhook/delete", headers=console.auth(),
        json={"webhook_id": views.webhook_id, "domain_id": DOMAIN},
    )  # fmt: skip
    es = AsyncElasticsearch(**console.settings.elasticsearch.client_options())
    try:
        indices = console.settings.indices
        names = ",".join([f"{indices.events}*", indices.alerts, f"{indices.alerts}*"])
        # no delete_by_query on this node (no reindex module): ids, then one bulk delete
        found = await es.search(
            index=names, query={"term": {"domain_id": DOMAIN}}, size=10_000, source=False,
            ignore_unavailable=True, allow_no_indices=True,
        )  # fmt: skip
        actions = [{"_op_type": "delete", "_index": hit["_index"], "_id": hit["_id"]}
                   for hit in found["hits"]["hits"]]  # fmt: skip
        await async_bulk(es, actions, refresh="wait_for", raise_on_error=False)
    finally:
        await es.close()


async def wait_for_alerts(console: Console, count: int, seconds: float = 60) -> None:
    import asyncio

    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        response = await console.http.post(
            "/monitoring/v1/alert/list", headers=console.auth(),
            json={"domain_id": DOMAIN, "query": {"count_only": True}},
        )  # fmt: skip
        if response.status_code == 200 and response.json()["total_count"] >= count:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"fewer than {count} alerts in {seconds} s")


async def api(console: Console, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await console.http.post(
        path, headers=console.auth(), json={**body, "domain_id": DOMAIN}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def open_view(page: Any, console: Console, view: str, theme: str = "light",
                    **params: str) -> None:  # fmt: skip
    """Signed in with the admin key, the seeded domain picked, the view drawn."""
    await page.goto(f"{console.url}/console/")
    await page.evaluate(
        """([key, domain, theme]) => {
            sessionStorage.setItem('eventpipe.apikey', key);
            sessionStorage.setItem('eventpipe.domain', domain);
            localStorage.setItem('eventpipe.theme', theme);
        }""",
        [console.admin_key, DOMAIN, theme],
    )
    query = f"?{urlencode(params)}" if params else ""
    await page.goto(f"{console.url}/console/#/{view}{query}")
    await page.reload()
    await ready(page)


async def ready(page: Any) -> None:
    await page.wait_for_selector("#content[data-ready='true']", timeout=30_000)


async def shot(page: Any, console: Console, name: str) -> None:
    await page.screenshot(path=console.shots / f"{name}.png", full_page=True)
