"""`alert/list | get` and `apikey/whoami` over HTTP against the real Elasticsearch node.

Alerts of two domains are written into a uniquely named alerts index with the mapping
the worker creates it with (`ensure_alerts_index`); the app runs in-process behind
httpx's ASGI transport, lifespan included. Everything is deleted afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from elasticsearch import AsyncElasticsearch

from ingest.elasticsearch.indices import ensure_alerts_index
from query_api.rest.app import create_app
from schemas.alert import Alert
from schemas.settings import Settings
from tests.integration.pipeline import _remove, pipeline_settings

LIST, GET, WHOAMI = (
    "/monitoring/v1/alert/list",
    "/monitoring/v1/alert/get",
    "/monitoring/v1/apikey/whoami",
)
NOW = datetime.now(UTC).replace(microsecond=0)


def make_alerts() -> list[Alert]:
    """12 alerts: domain-a has 8 (every third resolved), domain-b has 4."""
    alerts = []
    for i in range(12):
        resolved = i % 3 == 0
        first = NOW - timedelta(hours=12 - i)
        alerts.append(
            Alert(
                alert_id=f"alert-{i:012x}", event_key=f"key-{i % 4}",
                project_id=f"project-{i % 2}", domain_id="domain-a" if i < 8 else "domain-b",
                state="RESOLVED" if resolved else "TRIGGERED", urgency="HIGH" if i % 2 else "LOW",
                first_event_at=first, last_event_at=first + timedelta(minutes=i),
                resolved_at=first + timedelta(minutes=i) if resolved else None, event_count=i + 1,
            )
        )  # fmt: skip
    return alerts


ALERTS = make_alerts()


@dataclass
class Api:
    http: httpx.AsyncClient
    keys: dict[str, str]

    async def post(self, path: str, who: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(path, headers={"Authorization": f"Bearer {self.keys[who]}"},
                                    json=body)  # fmt: skip


@pytest.fixture(scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    local = pipeline_settings(settings, f"test-alerts-{datetime.now(UTC):%H%M%S%f}")
    es = AsyncElasticsearch(**local.elasticsearch.client_options())
    app = create_app(local)
    try:
        await ensure_alerts_index(es, local.indices.alerts)
        for alert in ALERTS:
            await es.index(index=local.indices.alerts, id=alert.alert_id,
                           document=alert.model_dump(mode="json"))  # fmt: skip
        await es.indices.refresh(index=local.indices.alerts)
        async with app.router.lifespan_context(app):
            keys = {"admin": (await app.state.keys.create(None))[0]}
            for domain in ("domain-a", "domain-b"):
                keys[domain] = (await app.state.keys.create(domain))[0]
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://eventpipe") as http:
                yield Api(http, keys)
    finally:
        await _remove(local, es)
        await es.close()


async def test_a_domain_key_lists_only_its_domains_alerts(api: Api) -> None:
    response = await api.post(LIST, "domain-b", {})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total_count"] == 4
    assert {a["domain_id"] for a in body["results"]} == {"domain-b"}
    last_seen = [a["last_event_at"] for a in body["results"]]
    assert last_seen == sorted(last_seen, reverse=True)


async def test_filters_sort_and_paging(api: Api) -> None:
    query = {
        "filter": [{"k": "event_count", "v": 3, "o": "gte"}],
        "sort": [{"key": "event_count", "desc": False}],
        "page": {"start": 2, "limit": 2},
    }
    body = {"state": "TRIGGERED", "query": query}
    response = await api.post(LIST, "domain-a", body)
    assert response.status_code == 200, response.text
    expected = sorted(
        (a for a in ALERTS if a.domain_id == "domain-a" and a.state == "TRIGGERED"
         and a.event_count >= 3),
        key=lambda a: a.event_count,
    )  # fmt: skip
    answer = response.json()
    assert answer["total_count"] == len(expected)
    assert [a["alert_id"] for a in answer["results"]] == [a.alert_id for a in expected[1:3]]


async def test_admin_sees_every_domain_or_picks_one(api: Api) -> None:
    everything = (await api.post(LIST, "admin", {"query": {"count_only": True}})).json()
    assert everything == {"results": [], "total_count": 12}
    picked = (await api.post(LIST, "admin", {"domain_id": "domain-b"})).json()
    assert picked["total_count"] == 4


async def test_get_of_another_domains_alert_is_not_found(api: Api) -> None:
    own = await api.post(GET, "domain-a", {"alert_id": ALERTS[0].alert_id})
    assert own.status_code == 200 and own.json()["alert_id"] == ALERTS[0].alert_id
    other = await api.post(GET, "domain-b", {"alert_id": ALERTS[0].alert_id})
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "ERROR_NOT_FOUND"
    refused = await api.post(LIST, "domain-b", {"domain_id": "domain-a"})
    assert refused.status_code == 403


async def test_a_bad_condition_is_a_clear_400(api: Api) -> None:
    response = await api.post(
        LIST, "domain-a", {"query": {"filter": [{"k": "severity", "v": "x"}]}}
    )
    assert response.status_code == 400
    assert "not an alert field" in response.json()["error"]["message"]


async def test_whoami(api: Api) -> None:
    domain = (await api.post(WHOAMI, "domain-a", {})).json()
    assert (domain["domain_id"], domain["admin"]) == ("domain-a", False)
    admin = (await api.post(WHOAMI, "admin", {})).json()
    assert (admin["domain_id"], admin["admin"]) == (None, True)
    refused = await api.http.post(WHOAMI, headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401
