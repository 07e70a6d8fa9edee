"""The Query API over HTTP against the real Elasticsearch node: tenancy, auth, errors, shapes.

A dataset of 60 events in two domains (`domain-a`: 32, `domain-b`: 28) is bulk-written
straight into daily indices of a uniquely named prefix; pairs of events share titles,
event keys, projects and providers across the two domains, so any leak shows up. The
app runs in-process (lifespan included) behind httpx's ASGI transport, with one API key
per domain and an admin key. Everything is deleted afterwards, by name.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_bulk
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from query_api.rest.app import create_app
from query_api.services.apikeys import ApiKeyStore
from schemas.event import format_timestamp
from schemas.index import events_index_for, events_template
from schemas.settings import Settings
from tests.integration.pipeline import pipeline_settings

GET = "/monitoring/v1/event/get"
LIST = "/monitoring/v1/event/list"
STAT = "/monitoring/v1/event/stat"

A, B = "domain-a", "domain-b"
OTHER = {A: B, B: A}
TITLES = ["Disk full on web-1", "CPU high on db-2", "Latency p99 over 2s", "Memory pressure",
          "Pod crash loop", "Certificate expires soon", "Queue backlog growing"]  # fmt: skip
SEVERITIES = ["CRITICAL", "ERROR", "WARNING", "INFO", "NOT_AVAILABLE", "NONE"]
PROVIDERS = ["aws", "google_cloud", "prometheus", "zabbix"]
EVENT_TYPES = ["ALERT", "ALERT", "RECOVERY", "ERROR"]
MINIMAL = {"event_id", "event_key", "event_type", "title", "severity", "alert_id"}
# Every event lies within the four whole days before today (UTC): inside the retention
# window the app's retention loop enforces at start-up, and never in the future.
BASE = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=4)


def make_events() -> list[dict[str, Any]]:
    """60 events; i and i+1 (i even) share title, key, severity, provider and project."""
    events = []
    for i in range(60):
        pair = i // 2
        domain = B if i % 2 and i < 56 else A
        created = BASE + timedelta(minutes=95 * i, milliseconds=37 * i)
        events.append(
            {
                "event_id": "event-" + hashlib.md5(f"http-{i}".encode()).hexdigest()[:12],
                "event_key": f"key-{pair % 10}",
                "event_type": EVENT_TYPES[pair % 4],
                "title": TITLES[pair % len(TITLES)],
                "description": f"description of pair {pair}",
                "severity": SEVERITIES[pair % len(SEVERITIES)],
                "rule": f"rule-{pair % 3}",
                "resource": {
                    "resource_id": f"res-{pair % 7}",
                    "resource_type": "host",
                    "name": f"host-{pair % 7}",
                },
                "provider": PROVIDERS[pair % len(PROVIDERS)],
                "account": f"account-{pair % 2}",
                "image_url": f"https://img.example/{pair}.png",
                "raw_data": {"source": "seed", "n": str(i)},
                "additional_info": {"env": "prod" if pair % 3 else "dev", "team": f"t{pair % 4}"},
                "alert_id": "alert-" + hashlib.md5(f"alert-{i}".encode()).hexdigest()[:12],
                "webhook_id": f"webhook-{'a' if domain == A else 'b'}{pair % 2:011x}",
                "project_id": f"project-{pair % 3}",
                "domain_id": domain,
                "created_at": format_timestamp(created),
                "occurred_at": format_timestamp(created - timedelta(seconds=30)),
            }
        )
    return events


EVENTS = make_events()
BY_ID = {e["event_id"]: e for e in EVENTS}
IDS = {d: {e["event_id"] for e in EVENTS if e["domain_id"] == d} for d in (A, B)}
assert len(IDS[A]) == 32 and len(IDS[B]) == 28


def of(domain: str | None) -> list[dict[str, Any]]:
    return [e for e in EVENTS if domain is None or e["domain_id"] == domain]


def newest_first(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(events, key=lambda e: e["created_at"], reverse=True)


@dataclass
class Api:
    http: httpx.AsyncClient
    settings: Settings
    keys: dict[str, str]  # "domain-a" | "domain-b" | "admin" -> plain key
    store: ApiKeyStore  # the app's own store

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def post(self, path: str, who: str, body: Any) -> httpx.Response:
        for _ in range(20):
            response = await self.http.post(path, headers=self.auth(who), json=body)
            if response.status_code != 503:  # 503: retry, as the API asks
                return response
            await asyncio.sleep(0.25)
        return response

    async def ok(self, path: str, who: str, body: Any) -> Any:
        response = await self.post(path, who, body)
        assert response.status_code == 200, response.text
        return response.json()


async def _drop(es: AsyncElasticsearch, settings: Settings) -> None:
    # This node refuses wildcard deletes (destructive_requires_name): delete by name.
    prefix = settings.indices.events
    daily = await es.indices.get(index=f"{prefix}-*", allow_no_indices=True)
    for name in daily:
        await es.indices.delete(index=name)
    await es.options(ignore_status=404).indices.delete_index_template(name=prefix)
    for index in (settings.indices.alerts, settings.indices.apikeys, settings.indices.webhooks):
        await es.indices.delete(index=index, ignore_unavailable=True)


@pytest.fixture(scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    name = f"test-http-{uuid.uuid4().hex[:12]}"
    ours = pipeline_settings(settings, name)
    es = AsyncElasticsearch(**ours.elasticsearch.client_options())
    try:
        prefix = ours.indices.events
        await es.indices.put_index_template(name=prefix, **events_template(prefix))
        actions = (
            {
                "_index": events_index_for(prefix, datetime.fromisoformat(e["created_at"])),
                "_id": e["event_id"],
                "_source": e,
            }
            for e in EVENTS
        )
        await async_bulk(es, actions, refresh="wait_for")
        app = create_app(ours)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://eventpipe") as http:
                store: ApiKeyStore = app.state.keys
                keys = {
                    A: (await store.create(A))[0],
                    B: (await store.create(B))[0],
                    "admin": (await store.create(None))[0],
                }
                yield Api(http, ours, keys, store)
    finally:
        await _drop(es, ours)
        await es.close()


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body


def assert_confined(results: list[dict[str, Any]], domain: str) -> None:
    for row in results:
        if "domain_id" in row:
            assert row["domain_id"] == domain, row
        if "event_id" in row:
            assert row["event_id"] in IDS[domain], row


# ---- 1. tenancy ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", [A, B])
async def test_list_without_filters_sees_only_own_domain(api: Api, who: str) -> None:
    got = await api.ok(LIST, who, {})
    assert got["total_count"] == len(IDS[who])
    assert {r["event_id"] for r in got["results"]} == IDS[who]
    assert all(r["domain_id"] == who for r in got["results"])


def tenancy_bodies(me: str) -> list[tuple[dict[str, Any], int | None]]:
    """(list body trying to reach the other domain, expected total or None: just confined)."""
    other = OTHER[me]
    mine = len(IDS[me])
    other_id = sorted(IDS[other])[0]
    shared_title = BY_ID[other_id]["title"]

    def f(o: str, v: Any, k: str = "domain_id") -> dict[str, Any]:
        return {"k": k, "v": v, "o": o}

    return [
        ({"query": {"filter": [f("eq", other)]}}, 0),
        ({"query": {"filter": [f("eq", me)]}}, mine),
        ({"query": {"filter": [f("in", [A, B])]}}, mine),
        ({"query": {"filter": [f("in", [other])]}}, 0),
        ({"query": {"filter": [f("not", me)]}}, 0),
        ({"query": {"filter": [f("not", other)]}}, mine),
        ({"query": {"filter": [f("not_in", [me])]}}, 0),
        ({"query": {"filter": [f("regex", ".*")]}}, mine),
        ({"query": {"filter": [f("regex", other)]}}, 0),
        ({"query": {"filter": [f("regex_in", ["domain-.", "b$"])]}}, mine),
        ({"query": {"filter": [f("contain", "domain")]}}, mine),
        ({"query": {"filter": [f("exists", True)]}}, mine),
        ({"query": {"filter": [f("exists", False)]}}, 0),
        ({"query": {"filter_or": [f("eq", other)]}}, 0),
        ({"query": {"filter_or": [f("eq", other), f("eq", me)]}}, mine),
        ({"query": {"filter_or": [f("eq", other), f("exists", True, "event_id")]}}, mine),
        ({"query": {"filter": [f("eq", other_id, "event_id")]}}, 0),
        ({"query": {"keyword": other_id}}, 0),
        ({"query": {"keyword": shared_title}}, None),
        ({"query": {"keyword": "domain-a domain-b"}}, None),
        ({"query": {"filter": [f("exists", True, "domain_id")], "only": ["domain_id"]}}, mine),
        ({"event_id": other_id}, 0),
        ({"domain_id": me}, mine),
    ]


@pytest.mark.parametrize("me", [A, B])
async def test_list_filters_never_reach_the_other_domain(api: Api, me: str) -> None:
    for body, total in tenancy_bodies(me):
        got = await api.ok(LIST, me, body)
        assert_confined(got["results"], me)
        assert got["total_count"] <= len(IDS[me]), body
        if total is not None:
            assert got["total_count"] == total, body
        assert len(got["results"]) == got["total_count"], body
    # A shared title matches events of both domains; only ours come back.
    title = TITLES[0]
    got = await api.ok(LIST, me, {"query": {"filter": [{"k": "title", "v": title}]}})
    expected = {e["event_id"] for e in of(me) if e["title"] == title}
    assert expected and {r["event_id"] for r in got["results"]} == expected


@pytest.mark.parametrize("me", [A, B])
async def test_stat_never_reaches_the_other_domain(api: Api, me: str) -> None:
    other = OTHER[me]
    group = {"group": {"keys": [{"key": "domain_id", "name": "domain"}],
                       "fields": [{"operator": "count", "name": "n"}]}}  # fmt: skip
    got = await api.ok(STAT, me, {"query": {"aggregate": [group]}})
    assert got["results"] == [{"domain": me, "n": len(IDS[me])}]

    got = await api.ok(STAT, me, {"query": {"distinct": "domain_id"}})
    assert got["results"] == [me]

    for condition in (
        {"k": "domain_id", "v": other, "o": "eq"},
        {"k": "domain_id", "v": [other], "o": "in"},
        {"k": "domain_id", "v": me, "o": "not"},
        {"k": "domain_id", "v": other, "o": "regex"},
    ):
        body = {"query": {"filter": [condition], "aggregate": [group]}}
        assert (await api.ok(STAT, me, body))["results"] == [], condition
        body = {"query": {"filter_or": [condition], "aggregate": {"count": {"name": "n"}}}}
        assert (await api.ok(STAT, me, body))["results"] == [], condition  # no row for none

    body = {"query": {"distinct": "event_id", "keyword": sorted(IDS[other])[0]}}
    assert (await api.ok(STAT, me, body))["results"] == []
    body = {"query": {"distinct": "event_id", "filter": [{"k": "event_key", "v": "key-0"}]}}
    expected = sorted(e["event_id"] for e in of(me) if e["event_key"] == "key-0")
    assert (await api.ok(STAT, me, body))["results"] == expected


async def test_list_with_null_values_and_a_regex_too_complex(api: Api) -> None:
    """MongoDB's null; a regex Elasticsearch cannot run is the caller's mistake, named."""
    everyone = await api.ok(LIST, A, {"query": {"count_only": True}})
    for condition, total in [
        ({"k": "alert_id", "v": None, "o": "eq"}, 0),
        ({"k": "alert_id", "v": None, "o": "not"}, everyone["total_count"]),
        ({"k": "no_such_field", "v": None, "o": "eq"}, everyone["total_count"]),
        ({"k": "alert_id", "v": [None], "o": "not_in"}, everyone["total_count"]),
    ]:
        got = await api.ok(LIST, A, {"query": {"filter": [condition], "count_only": True}})
        assert got["total_count"] == total, condition
    hard = "(.*a.*b.*c.*d.*e.*f.*g.*h.*i.*j.*){1,40}"
    for key in ("title", "additional_info.env"):
        body = {"query": {"filter_or": [{"k": key, "v": hard, "o": "regex"}]}}
        response = await api.post(LIST, A, body)
        assert_error(response, 400, "ERROR_INVALID_ARGUMENT")
        assert "filter_or[0]" in response.json()["error"]["message"]


@pytest.mark.parametrize("me", [A, B])
async def test_get_of_the_other_domains_event_is_not_found(api: Api, me: str) -> None:
    own = sorted(IDS[me])[0]
    assert (await api.ok(GET, me, {"event_id": own}))["domain_id"] == me
    for other_id in sorted(IDS[OTHER[me]])[:5]:
        response = await api.post(GET, me, {"event_id": other_id})
        assert_error(response, 404, "ERROR_NOT_FOUND")
        assert BY_ID[other_id]["title"] not in response.text
        response = await api.post(GET, me, {"event_id": other_id, "domain_id": me})
        assert_error(response, 404, "ERROR_NOT_FOUND")


@pytest.mark.parametrize("me", [A, B])
@pytest.mark.parametrize(
    ("path", "body"),
    [
        (GET, {"event_id": "event-000000000000"}),
        (LIST, {}),
        (LIST, {"query": {"count_only": True}}),
        (STAT, {"query": {"distinct": "domain_id"}}),
    ],
)
async def test_body_naming_the_other_domain_is_refused(
    api: Api, me: str, path: str, body: dict[str, Any]
) -> None:
    if path == GET:
        body = {**body, "event_id": sorted(IDS[OTHER[me]])[0]}
    response = await api.post(path, me, {**body, "domain_id": OTHER[me]})
    assert_error(response, 403, "ERROR_PERMISSION_DENIED")
    assert "results" not in response.text


async def test_admin_sees_both_domains_and_can_narrow(api: Api) -> None:
    got = await api.ok(LIST, "admin", {})
    assert got["total_count"] == len(EVENTS)
    assert {r["event_id"] for r in got["results"]} == set(BY_ID)
    for domain in (A, B):
        got = await api.ok(LIST, "admin", {"domain_id": domain})
        assert got["total_count"] == len(IDS[domain])
        assert_confined(got["results"], domain)
        an_id = sorted(IDS[domain])[0]
        assert (await api.ok(GET, "admin", {"event_id": an_id}))["domain_id"] == domain
        response = await api.post(GET, "admin", {"event_id": an_id, "domain_id": OTHER[domain]})
        assert_error(response, 404, "ERROR_NOT_FOUND")
    body = {"query": {"distinct": "domain_id"}}
    assert (await api.ok(STAT, "admin", body))["results"] == [A, B]
    assert (await api.ok(STAT, "admin", {**body, "domain_id": B}))["results"] == [B]


# ---- 2. authentication --------------------------------------------------------------------

ROUTES = [(GET, {"event_id": "event-000000000000"}), (LIST, {}),
          (STAT, {"query": {"distinct": "domain_id"}})]  # fmt: skip


@pytest.mark.parametrize(("path", "body"), ROUTES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer   "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Token ep_0123456789ab_" + "x" * 40},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer ep_0123456789ab_" + "x" * 40},  # well-formed, unknown
    ],
)
async def test_missing_malformed_or_unknown_keys_are_refused(
    api: Api, path: str, body: dict[str, Any], headers: dict[str, str]
) -> None:
    response = await api.http.post(path, headers=headers, json=body)
    assert_error(response, 401, "ERROR_AUTHENTICATE_FAILURE")


async def test_wrong_secret_of_a_known_key_is_refused(api: Api) -> None:
    prefix, _, secret = api.keys[A].rpartition("_")
    forged = f"{prefix}_{secret[::-1]}"
    response = await api.http.post(LIST, headers={"Authorization": f"Bearer {forged}"}, json={})
    assert_error(response, 401, "ERROR_AUTHENTICATE_FAILURE")


async def test_revoked_key_is_refused_within_six_seconds(api: Api) -> None:
    # Revoked through another store (another API process): the app's cache holds the key
    # for up to 5 s, then every route refuses it.
    key, info = await api.store.create(A)
    headers = {"Authorization": f"Bearer {key}"}
    assert (await api.http.post(LIST, headers=headers, json={})).status_code == 200
    es = AsyncElasticsearch(**api.settings.elasticsearch.client_options())
    try:
        assert await ApiKeyStore(es, api.settings.indices.apikeys).revoke(info.key_id)
    finally:
        await es.close()
    revoked_at = time.monotonic()
    while True:
        response = await api.http.post(LIST, headers=headers, json={})
        if response.status_code == 401:
            break
        assert response.status_code == 200, response.text
        assert time.monotonic() - revoked_at <= 6, "revocation not applied within 6 s"
        await asyncio.sleep(0.2)
    assert time.monotonic() - revoked_at <= 6
    for path, body in ROUTES:
        assert_error(
            await api.http.post(path, headers=headers, json=body),
            401,
            "ERROR_AUTHENTICATE_FAILURE",
        )
    # The other keys are untouched.
    assert (await api.post(LIST, A, {})).status_code == 200


async def test_key_revoked_through_the_apps_store_is_refused_at_once(api: Api) -> None:
    key, info = await api.store.create(B)
    headers = {"Authorization": f"Bearer {key}"}
    assert (await api.http.post(LIST, headers=headers, json={})).status_code == 200
    assert await api.store.revoke(info.key_id)
    response = await api.http.post(LIST, headers=headers, json={})
    assert_error(response, 401, "ERROR_AUTHENTICATE_FAILURE")


# ---- 3. errors ----------------------------------------------------------------------------


def cond(k: str, o: str, v: Any) -> dict[str, Any]:
    return {"k": k, "o": o, "v": v}


QUERY_ERRORS = [
    (cond("severity", "eq", ["CRITICAL"]), "ERROR_OPERATOR_VALUE_TYPE"),
    (cond("severity", "not", ["CRITICAL", "INFO"]), "ERROR_OPERATOR_VALUE_TYPE"),
    (cond("title", "contain", ["disk"]), "ERROR_OPERATOR_VALUE_TYPE"),
    (cond("severity", "in", "CRITICAL"), "ERROR_OPERATOR_LIST_VALUE_TYPE"),
    (cond("severity", "not_in", "CRITICAL"), "ERROR_OPERATOR_LIST_VALUE_TYPE"),
    (cond("title", "regex_in", "disk"), "ERROR_OPERATOR_LIST_VALUE_TYPE"),
    (cond("severity", "like", "CRIT"), "ERROR_DB_QUERY"),
    (cond("severity", "", "CRITICAL"), "ERROR_DB_QUERY"),
    (cond("title", "regex", "(unclosed"), "ERROR_INVALID_ARGUMENT"),
    (cond("title", "regex_in", ["ok", "[z-a]"]), "ERROR_INVALID_ARGUMENT"),
    (cond("created_at", "datetime_gt", "not-a-date"), "ERROR_INVALID_ARGUMENT"),
    (cond("created_at", "datetime_lte", "2024-13-45T99:00:00Z"), "ERROR_INVALID_ARGUMENT"),
    (cond("created_at", "timediff_gt", "yesterday"), "ERROR_INVALID_ARGUMENT"),
    (cond("title", "exists", "yes"), "ERROR_INVALID_ARGUMENT"),
    (cond("title", "exists", None), "ERROR_INVALID_ARGUMENT"),
    (cond("severity", "in", []), "ERROR_INVALID_ARGUMENT"),
    (cond("title", "contain_in", []), "ERROR_INVALID_ARGUMENT"),
]


@pytest.mark.parametrize("who", [A, "admin"])
@pytest.mark.parametrize("group", ["filter", "filter_or"])
@pytest.mark.parametrize(("condition", "code"), QUERY_ERRORS)
async def test_query_errors_over_http(
    api: Api, who: str, group: str, condition: dict[str, Any], code: str
) -> None:
    response = await api.post(LIST, who, {"query": {group: [condition]}})
    assert_error(response, 400, code)
    body = {"query": {group: [condition], "aggregate": [{"count": {"name": "n"}}]}}
    assert_error(await api.post(STAT, who, body), 400, code)


GROUP = {"group": {"keys": [{"key": "severity"}], "fields": [{"operator": "count", "name": "n"}]}}
MALFORMED = [
    (LIST, {"query": {"page": {"start": 0, "limit": 5}}}),
    (LIST, {"query": {"page": {"start": 1, "limit": -1}}}),
    (LIST, {"bogus": 1}),
    (LIST, {"query": {"bogus": 1}}),
    (LIST, {"query": {"filter": [{"v": "x"}]}}),
    (LIST, {"query": {"filter": "severity=CRITICAL"}}),
    (LIST, {"query": {"only": ["title.*"]}}),
    (LIST, []),
    (LIST, "a string"),
    (GET, {}),
    (GET, {"event_id": ""}),
    (GET, {"event_id": "event-000000000000", "bogus": True}),
    (STAT, {}),
    (STAT, {"query": {}}),
    (STAT, {"query": {"aggregate": [{"limit": 3, "skip": 1}]}}),
    (STAT, {"query": {"aggregate": [{}]}}),
    (STAT, {"query": {"aggregate": [{"frobnicate": {}}]}}),
    (STAT, {"query": {"aggregate": [{"sort": {"key": "resource"}}]}}),
    (STAT, {"query": {"aggregate": [GROUP, {"project": {"exclude_keys": ["severity"]}}]}}),
    (STAT, {"query": {"aggregate": [GROUP, {"limit": -1}]}}),
    (
        STAT,
        {
            "query": {
                "aggregate": [
                    {
                        "group": {
                            "keys": [{"key": "severity"}],
                            "fields": [{"operator": "median", "key": "x", "name": "m"}],
                        }
                    }
                ]
            }
        },
    ),
    (STAT, {"query": {"aggregate": [{"group": {"keys": [{"key": "no_such_field"}]}}]}}),
    (
        STAT,
        {"query": {"aggregate": [{"group": {"keys": [{"key": "severity", "date_format": "%Y"}]}}]}},
    ),
    (STAT, {"query": {"aggregate": [GROUP], "distinct": "severity"}}),
]


@pytest.mark.parametrize(("path", "body"), MALFORMED)
async def test_malformed_bodies_are_invalid_arguments(api: Api, path: str, body: Any) -> None:
    assert_error(await api.post(path, A, body), 400, "ERROR_INVALID_ARGUMENT")


@pytest.mark.parametrize("path", [GET, LIST, STAT])
@pytest.mark.parametrize(
    ("content", "content_type"),
    [("{not json", "application/json"), ("", "application/json"), ("{}", "text/plain")],
)
async def test_non_json_bodies_are_invalid_arguments(
    api: Api, path: str, content: str, content_type: str
) -> None:
    headers = {**api.auth(A), "Content-Type": content_type}
    response = await api.http.post(path, headers=headers, content=content)
    assert_error(response, 400, "ERROR_INVALID_ARGUMENT")


async def test_unknown_route_and_wrong_method_are_json_errors(api: Api) -> None:
    for path in ("/monitoring/v1/event/nope", "/nope", "/monitoring/v1/event"):
        assert_error(await api.post(path, A, {}), 404, "ERROR_NOT_FOUND")
    for path in (GET, LIST, STAT):
        response = await api.http.get(path, headers=api.auth(A))
        assert_error(response, 405, "ERROR_METHOD_NOT_ALLOWED")


# ---- 4. shapes: get, list, stat, health and docs ------------------------------------------


async def test_get_returns_the_whole_event_or_exactly_only(api: Api) -> None:
    event = of(B)[3]
    assert await api.ok(GET, B, {"event_id": event["event_id"]}) == event
    only = ["event_id", "title", "resource.name", "additional_info.env"]
    got = await api.ok(GET, B, {"event_id": event["event_id"], "only": only})
    assert got == {
        "event_id": event["event_id"],
        "title": event["title"],
        "resource": {"name": event["resource"]["name"]},
        "additional_info": {"env": event["additional_info"]["env"]},
    }
    got = await api.ok(GET, B, {"event_id": event["event_id"], "only": ["severity"]})
    assert got == {"severity": event["severity"]}
    response = await api.post(GET, B, {"event_id": "event-ffffffffffff"})
    assert_error(response, 404, "ERROR_NOT_FOUND")


async def test_list_minimal_count_only_and_only(api: Api) -> None:
    got = await api.ok(LIST, A, {"query": {"minimal": True}})
    assert got["total_count"] == len(IDS[A])
    assert all(set(r) == MINIMAL for r in got["results"])
    assert {r["event_id"] for r in got["results"]} == IDS[A]

    body = {"query": {"count_only": True, "filter": [{"k": "severity", "v": "CRITICAL"}]}}
    got = await api.ok(LIST, A, body)
    assert got == {"results": [], "total_count": sum(e["severity"] == "CRITICAL" for e in of(A))}

    only = ["event_id", "resource.resource_id", "domain_id"]
    got = await api.ok(LIST, A, {"query": {"only": only, "page": {"limit": 4}}})
    assert got["total_count"] == len(IDS[A])
    assert [r["event_id"] for r in got["results"]] == [
        e["event_id"] for e in newest_first(of(A))[:4]
    ]
    for row in got["results"]:
        source = BY_ID[row["event_id"]]
        assert row == {"event_id": source["event_id"], "domain_id": A,
                       "resource": {"resource_id": source["resource"]["resource_id"]}}  # fmt: skip


async def test_list_paging_and_sort(api: Api) -> None:
    ordered = newest_first(of(B))
    seen = []
    for start in (1, 11, 21):  # start is the 1-based position of the first event
        body = {"query": {"page": {"start": start, "limit": 10}, "only": ["event_id"]}}
        got = await api.ok(LIST, B, body)
        assert got["total_count"] == len(ordered)
        seen += [r["event_id"] for r in got["results"]]
    assert seen == [e["event_id"] for e in ordered]
    body = {"query": {"page": {"start": 29, "limit": 10}}}
    assert await api.ok(LIST, B, body) == {"results": [], "total_count": len(ordered)}
    body = {"query": {"sort": {"key": "created_at", "desc": False}, "page": {"limit": 3}}}
    got = await api.ok(LIST, B, body)
    assert [r["event_id"] for r in got["results"]] == [e["event_id"] for e in ordered[::-1][:3]]
    body = {"query": {"sort": [{"key": "event_key"}, {"key": "event_id", "desc": True}]}}
    got = await api.ok(LIST, B, body)
    expected = sorted(of(B), key=lambda e: e["event_id"], reverse=True)
    expected = sorted(expected, key=lambda e: e["event_key"])
    assert [r["event_id"] for r in got["results"]] == [e["event_id"] for e in expected]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("resource_id", "res-3"),
        ("severity", "WARNING"),
        ("provider", "aws"),
        ("project_id", "project-1"),
        ("event_key", "key-4"),
        ("event_type", "RECOVERY"),
        ("account", "account-1"),
        ("webhook_id", "webhook-b00000000001"),
        ("webhook_id", "webhook-a00000000001"),
    ],
)
@pytest.mark.parametrize("who", [A, B])
async def test_list_exact_filters(api: Api, who: str, field: str, value: str) -> None:
    def value_of(event: dict[str, Any]) -> Any:
        return event["resource"]["resource_id"] if field == "resource_id" else event[field]

    expected = {e["event_id"] for e in of(who) if value_of(e) == value}
    got = await api.ok(LIST, who, {field: value})
    assert {r["event_id"] for r in got["results"]} == expected
    assert got["total_count"] == len(expected)
    # Combined with a query filter: both apply.
    body = {field: value, "query": {"filter": [{"k": "additional_info.env", "v": "prod"}]}}
    got = await api.ok(LIST, who, body)
    both = {i for i in expected if BY_ID[i]["additional_info"]["env"] == "prod"}
    assert {r["event_id"] for r in got["results"]} == both
    if field == "webhook_id":
        assert (not expected) == (value[8] != who[-1])


async def test_list_exact_event_id_of_own_and_other_domain(api: Api) -> None:
    own, other = sorted(IDS[A])[0], sorted(IDS[B])[0]
    got = await api.ok(LIST, A, {"event_id": own})
    assert got == {"results": [BY_ID[own]], "total_count": 1}
    assert await api.ok(LIST, A, {"event_id": other}) == {"results": [], "total_count": 0}


async def test_stat_with_the_spec_example(api: Api) -> None:
    body = {
        "query": {
            "filter": [], "filter_or": [], "keyword": "",
            "aggregate": [
                {"group": {"keys": [{"key": "severity", "name": "severity"},
                                    {"key": "created_at", "name": "day",
                                     "date_format": "%Y-%m-%d"}],
                           "fields": [{"operator": "count", "name": "total"},
                                      {"operator": "add_to_set", "key": "provider",
                                       "name": "providers"}]}},
                {"sort": {"key": "total", "desc": True}},
                {"limit": 10},
            ],
            "page": {"start": 1, "limit": 0},
        },
        "domain_id": A,
    }  # fmt: skip
    got = await api.ok(STAT, A, body)
    assert set(got) == {"results"}  # page.limit 0: no total_count
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in of(A):
        groups.setdefault((e["severity"], e["created_at"][:10]), []).append(e)
    rows = {
        key: {"severity": key[0], "day": key[1], "total": len(events),
              "providers": sorted({e["provider"] for e in events})}
        for key, events in groups.items()
    }  # fmt: skip
    results = got["results"]
    assert len(results) == min(10, len(rows))
    for row in results:
        assert row == rows[(row["severity"], row["day"])]
    totals = [row["total"] for row in results]
    assert totals == sorted(totals, reverse=True)
    assert Counter(totals) == Counter(
        sorted((r["total"] for r in rows.values()), reverse=True)[:10]
    )

    # The same over both domains (admin) with paging: total_count counts every row.
    body["query"]["aggregate"] = body["query"]["aggregate"][:1]
    body["query"]["page"] = {"start": 1, "limit": 5}
    del body["domain_id"]
    got = await api.ok(STAT, "admin", body)
    every = {(e["severity"], e["created_at"][:10]) for e in EVENTS}
    assert got["total_count"] == len(every)
    assert [(r["severity"], r["day"]) for r in got["results"]] == sorted(every)[:5]


async def test_health_docs_and_openapi(api: Api) -> None:
    response = await api.http.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    response = await api.http.get("/readyz")
    assert response.status_code == 200, response.text
    response = await api.http.get("/docs")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    response = await api.http.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (GET, LIST, STAT):
        assert "post" in paths[path], path


# ---- 5. property: whatever a domain-b key sends, only domain-b comes back -----------------

FIELD_VALUES: dict[str, list[Any]] = {
    "domain_id": [A, B, "domain-", "DOMAIN-A", ""],
    "severity": SEVERITIES,
    "project_id": ["project-0", "project-1", "project-2"],
    "provider": PROVIDERS,
    "title": [*TITLES[:3], "disk", "CPU"],
    "event_key": ["key-0", "key-3", "key-9"],
    "event_id": [sorted(IDS[A])[0], sorted(IDS[B])[0], "event-"],
    "resource.name": ["host-1", "host-6"],
    "additional_info.env": ["prod", "dev"],
    "webhook_id": ["webhook-a00000000000", "webhook-b00000000001"],
}
SCALAR_OPS = ["eq", "not", "contain", "not_contain", "gt", "lte"]
LIST_OPS = ["in", "not_in", "contain_in", "not_contain_in"]
REGEXES = [".*", "domain-a", "a$", "^d", "host-[0-9]", "(?:b|c)"]


@st.composite
def condition(draw: st.DrawFn) -> dict[str, Any]:
    key = draw(st.sampled_from(sorted(FIELD_VALUES)))
    values = FIELD_VALUES[key]
    kind = draw(st.sampled_from(["scalar", "list", "regex", "regex_in", "exists"]))
    if kind == "scalar":
        return cond(key, draw(st.sampled_from(SCALAR_OPS)), draw(st.sampled_from(values)))
    if kind == "list":
        value = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3))
        return cond(key, draw(st.sampled_from(LIST_OPS)), value)
    if kind == "regex":
        return cond(key, "regex", draw(st.sampled_from(REGEXES)))
    if kind == "regex_in":
        return cond(key, "regex_in", draw(st.lists(st.sampled_from(REGEXES), min_size=1)))
    return cond(key, "exists", draw(st.booleans()))


@st.composite
def list_body(draw: st.DrawFn) -> dict[str, Any]:
    query: dict[str, Any] = {
        "filter": draw(st.lists(condition(), max_size=3)),
        "filter_or": draw(st.lists(condition(), max_size=3)),
    }
    if draw(st.booleans()):
        query["keyword"] = draw(
            st.sampled_from(["", "disk", "cpu pod", sorted(IDS[A])[0], "domain-a", "event-"])
        )
    if draw(st.booleans()):
        query["page"] = {"start": draw(st.integers(1, 4)), "limit": draw(st.integers(0, 12))}
    if draw(st.booleans()):
        key = draw(st.sampled_from(["created_at", "severity", "title", "domain_id"]))
        query["sort"] = {"key": key, "desc": draw(st.booleans())}
    shape = draw(st.sampled_from(["full", "only", "minimal", "count_only"]))
    if shape == "only":
        extra = draw(st.lists(st.sampled_from(["title", "resource.name", "severity"])))
        query["only"] = ["domain_id", "event_id", *extra]
    elif shape != "full":
        query[shape] = True
    body: dict[str, Any] = {"query": query}
    exact = draw(st.sampled_from([None, None, "severity", "project_id", "provider",
                                  "event_key", "resource_id", "domain_id"]))  # fmt: skip
    if exact == "domain_id":
        body["domain_id"] = B
    elif exact is not None:
        body[exact] = draw(st.sampled_from(FIELD_VALUES.get(exact, ["key-0", "key-3"])))
    return body


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=list_body())
async def test_random_list_bodies_stay_in_domain_b(api: Api, body: dict[str, Any]) -> None:
    response = await api.post(LIST, B, body)
    assert response.status_code == 200, (body, response.text)
    got = response.json()
    assert got["total_count"] <= len(IDS[B]), body
    for row in got["results"]:
        if "domain_id" in row:
            assert row["domain_id"] == B, (body, row)
        assert row["event_id"] in IDS[B], (body, row)
    # The same body from the admin, narrowed to domain-b, counts the same events.
    admin = await api.ok(LIST, "admin", {**body, "domain_id": B})
    assert admin["total_count"] == got["total_count"], body
