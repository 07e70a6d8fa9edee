"""Event stat over HTTP against the real Elasticsearch node, checked against SPEC §6's reference.

One seeded set of events (several years, months and days, two domains, missing
keys, lists and numbers in additional_info) is written straight into daily
indices behind the read alias, and the Query API runs in-process (httpx's ASGI
transport) with an API key per domain and an admin key. Every case posts a
StatisticsQuery and compares the JSON answer with `tests/reference/stat_eval.py`
exactly: order, keys and types (count an int, average a float; floats within a
tolerance).
"""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest import mock

import httpx
import pytest
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_bulk
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from query_api.query.stat import rows as pipeline
from query_api.rest.app import create_app
from query_api.services import events as stat_search
from query_api.services.apikeys import ApiKeyStore
from query_api.services.events import run_stat
from schemas.event import format_timestamp
from schemas.index import events_index_for, events_template
from schemas.query import QueryError, StatisticsQuery
from schemas.settings import Settings
from tests.integration.pipeline import pipeline_settings
from tests.reference.stat_eval import evaluate_stat

STAT = "/monitoring/v1/event/stat"

NOW = datetime(2024, 5, 3, 12, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))
MS = timedelta(milliseconds=1)
DOMAIN = "domain-1"
OTHER = "domain-2"
DAYS = [
    datetime(2022, 12, 31, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC),
    datetime(2023, 6, 15, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC),
    datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC),
    datetime(2024, 5, 3, tzinfo=UTC),
]  # fmt: skip
SEVERITIES = ["CRITICAL", "ERROR", "WARNING", "INFO", "NOT_AVAILABLE", "NONE"]
TITLES = ["CPU high on web-1", "Disk full on db-2", "Memory pressure", "Pod crash loop"]


def seed_events(count: int = 300) -> list[dict[str, Any]]:
    """Events as they are indexed, with every shape a group stage must handle."""
    rng = random.Random(20240501)
    events: list[dict[str, Any]] = []
    for i in range(count):
        day = rng.choice(DAYS)
        if i % 6 == 5 and events:  # same created_at as the previous: ties go by event_id
            created = events[-1]["created_at"]
        elif i % 4 == 1:  # the first and last instants of a day are crowded, for first/last
            created = format_timestamp(day + rng.choice([timedelta(0), timedelta(days=1) - MS]))
        else:
            created = format_timestamp(day + rng.randrange(86_400_000) * MS)
        event: dict[str, Any] = {
            "event_id": f"event-{rng.getrandbits(48):012x}",
            "event_key": f"key-{i % 17}",
            "event_type": rng.choice(["ALERT", "ALERT", "RECOVERY", "ERROR"]),
            "title": rng.choice(TITLES),
            "description": rng.choice(["", "load above 90%", "node not ready"]),
            "domain_id": OTHER if i % 5 == 4 else DOMAIN,
            "project_id": f"project-{i % 3}",
            "created_at": created,
        }
        if rng.random() < 0.9:
            event["severity"] = rng.choice(SEVERITIES)
        if rng.random() < 0.1:
            event["rule"] = rng.choice(["cpu", "disk"])
        if rng.random() < 0.85:
            event["provider"] = rng.choice(["aws", "azure", "google_cloud", ""])
        if rng.random() < 0.6:
            offset = timedelta(minutes=-rng.randrange(600))
            occurred = datetime.fromisoformat(created.replace("Z", "+00:00")) + offset
            # EventInfo form, another zone (the instant is what counts), or null.
            event["occurred_at"] = rng.choice(
                [format_timestamp(occurred), occurred.astimezone(PLUS_TWO).isoformat(), None]
            )
        if rng.random() < 0.8:
            resource = {"resource_id": f"res-{i % 7}", "name": f"host-{i % 4}"}
            if rng.random() < 0.7:
                resource["resource_type"] = rng.choice(["instance", "pod", "container"])
            event["resource"] = resource
        info: dict[str, Any] = {}
        if rng.random() < 0.7:
            info["env"] = rng.choice(["prod", "dev", "staging"])
        if rng.random() < 0.75:
            info["n"] = rng.choice([rng.randrange(-5, 40), str(rng.randrange(0, 12)), "n/a"])
        if rng.random() < 0.5:
            info["score"] = rng.choice([0.5, 1.25, 2.75, -1.5, 3])
        if rng.random() < 0.6:
            info["tags"] = rng.sample(["a", "b", "c"], rng.randrange(0, 4))
        if rng.random() < 0.3:
            info["flag"] = rng.choice([True, False])
        if rng.random() < 0.4:
            info["labels"] = {"team": rng.choice(["ops", "db"]), "tier": rng.randrange(1, 3)}
        if info or rng.random() < 0.5:
            event["additional_info"] = info
        events.append(event)
    return events


@dataclass(frozen=True)
class Seeded:
    es: AsyncElasticsearch
    index: str
    docs: list[dict[str, Any]]
    http: httpx.AsyncClient
    keys: dict[str | None, str]  # domain (None: admin) -> API key


@pytest.fixture(scope="module")
async def seeded(settings: Settings) -> AsyncIterator[Seeded]:
    name = f"test-stat-{uuid.uuid4().hex[:12]}"
    ours = pipeline_settings(settings, name)
    # The seeded days are years old: the app's retention loop must keep them.
    ours.indices.retention_days = 100_000
    es = AsyncElasticsearch(**ours.elasticsearch.client_options())
    prefix = ours.indices.events
    docs = seed_events()
    await es.indices.put_index_template(name=prefix, **events_template(prefix))
    try:
        actions = [
            {"_index": events_index_for(prefix, datetime.fromisoformat(d["created_at"])),
             "_id": d["event_id"], "_source": d}
            for d in docs
        ]  # fmt: skip
        assert await async_bulk(es, actions, refresh="wait_for") == (len(docs), [])
        app = create_app(ours)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://eventpipe") as http:
                store: ApiKeyStore = app.state.keys
                keys = {DOMAIN: (await store.create(DOMAIN))[0],
                        None: (await store.create(None))[0]}  # fmt: skip
                yield Seeded(es, prefix, docs, http, keys)
    finally:
        names = await es.options(ignore_status=404).indices.get(index=f"{prefix}-*")
        if names.body:
            await es.indices.delete(index=",".join(names.body))
        await es.indices.delete_index_template(name=prefix)
        await es.indices.delete(index=ours.indices.apikeys, ignore_unavailable=True)
        await es.close()


async def post_stat(seeded: Seeded, raw: dict[str, Any], domain: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {seeded.keys[domain]}"}
    body = {"query": raw, "domain_id": domain}
    return await seeded.http.post(STAT, headers=headers, json=body)


async def check(seeded: Seeded, raw: dict[str, Any], domain: str | None = DOMAIN) -> dict[str, Any]:
    """Run a stat over HTTP and against the reference; they must agree. Returns the answer."""
    response = await post_stat(seeded, raw, domain)
    assert response.status_code == 200, (raw, response.text)
    actual = response.json()
    now = datetime.now(UTC)
    expected = evaluate_stat(seeded.docs, StatisticsQuery.model_validate(raw), domain, now)
    assert_same(actual, expected)
    return actual


def assert_same(actual: Any, expected: Any, where: str = "") -> None:
    if isinstance(expected, float):  # an average is a float, even when it is whole
        assert type(actual) is float, (where, actual, expected)
        assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9), (where, actual)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), (where, actual)
        for key in expected:
            assert_same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (where, actual)
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{where}[{i}]")
    else:
        assert type(actual) is type(expected) and actual == expected, (where, actual, expected)


def in_domain(seeded: Seeded) -> list[dict[str, Any]]:
    return [d for d in seeded.docs if d["domain_id"] == DOMAIN]


# ---- explicit cases ------------------------------------------------------------------------


async def test_spec_example(seeded: Seeded) -> None:
    result = await check(seeded, {
        "filter": [], "filter_or": [], "keyword": "",
        "aggregate": [
            {"group": {"keys": [{"key": "severity", "name": "severity"},
                                {"key": "created_at", "name": "day", "date_format": "%Y-%m-%d"}],
                       "fields": [{"operator": "count", "name": "total"},
                                  {"operator": "add_to_set", "key": "provider",
                                   "name": "providers"}]}},
            {"sort": {"key": "total", "desc": True}},
            {"limit": 10}],
        "page": {"start": 1, "limit": 0}})  # fmt: skip
    rows = result["results"]
    assert len(rows) == 10 and "total_count" not in result
    assert [r["total"] for r in rows] == sorted((r["total"] for r in rows), reverse=True)
    assert all(list(r) == ["severity", "day", "total", "providers"] for r in rows)
    assert all(r["providers"] == sorted(set(r["providers"])) for r in rows)
    # The biggest group, counted by hand.
    top = rows[0]
    by_hand = sum(
        1
        for d in in_domain(seeded)
        if d.get("severity") == top["severity"] and d["created_at"][:10] == top["day"]
    )
    assert top["total"] == by_hand


async def test_count_of_everything(seeded: Seeded) -> None:
    result = await check(seeded, {"aggregate": [{"group": {"fields": [
        {"operator": "count", "name": "n"}]}}]})  # fmt: skip
    assert result == {"results": [{"n": len(in_domain(seeded))}]}
    counted = await check(seeded, {"aggregate": [{"count": {"name": "n"}}]})
    assert counted == result
    none = await check(seeded, {"filter": [{"k": "severity", "v": "NOPE", "o": "eq"}],
                                "aggregate": [{"group": {"fields": [
                                    {"operator": "count", "name": "n"}]}}]})  # fmt: skip
    assert none == {"results": []}


async def test_sum_and_average_by_hand(seeded: Seeded) -> None:
    result = await check(seeded, {"aggregate": [{"group": {"keys": [{"key": "additional_info.env",
        "name": "env"}], "fields": [{"operator": "sum", "key": "additional_info.n", "name": "s"},
        {"operator": "average", "key": "additional_info.score", "name": "a"}]}}]})  # fmt: skip
    prod = next(r for r in result["results"] if r["env"] == "prod")
    infos = [d["additional_info"] for d in in_domain(seeded)
             if d.get("additional_info", {}).get("env") == "prod"]  # fmt: skip
    numbers = [int(i["n"]) for i in infos if str(i.get("n", "x")).lstrip("-").isdigit()]
    scores = [i["score"] for i in infos if "score" in i]
    assert prod["s"] == sum(numbers) and isinstance(prod["s"], int)
    assert math.isclose(prod["a"], sum(scores) / len(scores))
    assert [r["env"] for r in result["results"]] == ["dev", "prod", "staging", None]


async def test_max_and_min_compare_numbers_as_numbers(seeded: Seeded) -> None:
    """Regression: max/min over an event field compared the indexed text, so the min of
    additional_info.n (numbers, numeric text and "n/a") was "-2" where -5 was there. Values
    that read as numbers compare by value and come before text (MongoDB's order of types),
    on the composite path and on the scan path alike."""
    fields = [{"operator": "max", "key": "additional_info.score", "name": "hi"},
              {"operator": "min", "key": "additional_info.score", "name": "lo"},
              {"operator": "max", "key": "additional_info.n", "name": "n_hi"},
              {"operator": "min", "key": "additional_info.n", "name": "n_lo"}]  # fmt: skip
    infos = [d.get("additional_info", {}) for d in in_domain(seeded)]
    scores = [info["score"] for info in infos if "score" in info]
    numbers = [float(info["n"]) for info in infos if str(info.get("n", "x")).lstrip("-").isdigit()]
    scanned = [{"operator": "push", "key": "event_id", "name": "ids"}]  # push reads every event
    for extra in ([], scanned):
        result = await check(seeded, {"aggregate": [{"group": {"fields": fields + extra}}]})
        row = result["results"][0]
        assert (float(row["hi"]), float(row["lo"])) == (max(scores), min(scores)), row
        assert (row["n_hi"], float(row["n_lo"])) == ("n/a", min(numbers)), row


# A severity is never a number, nor is a date: their sum is 0 and their average null.
NEVER_NUMBERS = {("sum", "severity"), ("average", "created_at")}
OPERATOR_FIELDS = [
    ("count", None), ("sum", "additional_info.n"), ("sum", "severity"),
    ("average", "additional_info.score"), ("average", "created_at"),
    ("max", "additional_info.n"), ("max", "occurred_at"), ("min", "title"), ("min", "provider"),
    ("first", "title"), ("first", "occurred_at"), ("last", "resource"), ("last", "created_at"),
    ("first", "additional_info.tags"), ("push", "additional_info.n"), ("push", "occurred_at"),
    ("add_to_set", "additional_info.tags"), ("add_to_set", "occurred_at"),
    ("merge_objects", "resource"), ("merge_objects", "additional_info.labels"),
]  # fmt: skip


@pytest.mark.parametrize(("operator", "key"), OPERATOR_FIELDS)
@pytest.mark.parametrize("group_key", ["severity", "additional_info.tags"])
async def test_each_operator(
    seeded: Seeded, operator: str, key: str | None, group_key: str
) -> None:
    field: dict[str, Any] = {"operator": operator, "name": "value"}
    if key:
        field["key"] = key
    result = await check(seeded, {"aggregate": [{"group": {
        "keys": [{"key": group_key, "name": "g"}], "fields": [field]}}]})  # fmt: skip
    values = [row["value"] for row in result["results"]]
    assert len(values) >= 4
    if (operator, key) in NEVER_NUMBERS:
        assert set(values) == {0 if operator == "sum" else None}
    else:
        assert any(value not in (None, [], {}, 0) for value in values)


@pytest.mark.parametrize(
    "date_format", [None, "year", "month", "day", "%Y-%m", "%H", "%a %H:%M", "%j", "%S", "%f",
                    "%G-W%V", "no directive"],
)  # fmt: skip
@pytest.mark.parametrize("key", ["created_at", "occurred_at"])
async def test_date_formats(seeded: Seeded, key: str, date_format: str | None) -> None:
    group_key: dict[str, Any] = {"key": key, "name": "when"}
    if date_format:
        group_key["date_format"] = date_format
    result = await check(seeded, {"aggregate": [{"group": {"keys": [group_key], "fields": [
        {"operator": "count", "name": "n"},
        {"operator": "first", "key": "event_id", "name": "first"}]}}]})  # fmt: skip
    total = sum(row["n"] for row in result["results"])
    assert total == len(in_domain(seeded))


async def test_named_formats_read_as_the_spec_says(seeded: Seeded) -> None:
    for date_format, example in [("year", "2024"), ("month", "2024-05"), ("day", "2024-05-01")]:
        result = await check(seeded, {"aggregate": [{"group": {"keys": [
            {"key": "created_at", "name": "when", "date_format": date_format}]}}]})  # fmt: skip
        assert {"when": example} in result["results"]


@pytest.mark.parametrize(
    "stages",
    [
        [{"count": {"name": "groups"}}],
        [{"sort": {"key": "n", "desc": True}}, {"limit": 3}],
        [{"sort": {"keys": [{"key": "last", "desc": True}, {"key": "sev"}]}}],
        [{"sort": [{"key": "provider"}, {"key": "n", "desc": True}]}, {"skip": 2}, {"limit": 4}],
        [{"project": {"fields": [{"key": "sev", "name": "severity"}, "tags"]}},
         {"unwind": {"path": "tags"}}, {"sort": {"key": "tags", "desc": True}}],
        [{"unwind": {"path": "$tags"}}, {"count": {"name": "pairs"}}],
        [{"project": {"fields": ["n"], "exclude_keys": True}}, {"skip": 1}],
        [{"project": {"fields": [{"key": "tags", "name": "k", "operator": "size"}]}}],
        [{"group": {"keys": [{"key": "n"}], "fields": [
            {"operator": "count", "name": "groups"},
            {"operator": "push", "key": "sev", "name": "sevs"},
            {"operator": "add_to_set", "key": "tags", "name": "tagsets"},
            {"operator": "max", "key": "last", "name": "latest"}]}},
         {"sort": {"key": "groups", "desc": True}}],
        [{"limit": 5}, {"skip": 2}, {"sort": {"key": "n"}}],
    ],
)  # fmt: skip
async def test_later_stages(seeded: Seeded, stages: list[dict[str, Any]]) -> None:
    await check(seeded, {"aggregate": [{"group": {
        "keys": [{"key": "severity", "name": "sev"}, {"key": "provider"}],
        "fields": [{"operator": "count", "name": "n"},
                   {"operator": "add_to_set", "key": "additional_info.tags", "name": "tags"},
                   {"operator": "last", "key": "created_at", "name": "last"}]}},
        *stages]})  # fmt: skip


@pytest.mark.parametrize(
    "field", ["severity", "title", "created_at", "occurred_at", "additional_info.tags",
              "additional_info.n", "resource.resource_type"],
)  # fmt: skip
async def test_distinct(seeded: Seeded, field: str) -> None:
    result = await check(seeded, {"distinct": field})
    assert result["results"] == sorted(result["results"]) and result["results"]
    paged = await check(seeded, {"distinct": field, "page": {"start": 2, "limit": 3}})
    assert paged == {"results": result["results"][1:4], "total_count": len(result["results"])}


@pytest.mark.parametrize(("start", "limit"), [(1, 5), (3, 4), (40, 10), (1000, 1)])
async def test_page_and_total_count(seeded: Seeded, start: int, limit: int) -> None:
    keys = [{"key": "title"}, {"key": "created_at", "name": "d", "date_format": "day"}]
    everything = await check(seeded, {"aggregate": [{"group": {"keys": keys}}]})
    page = {"start": start, "limit": limit}
    paged = await check(seeded, {"aggregate": [{"group": {"keys": keys}}], "page": page})
    rows = everything["results"]
    assert paged == {"results": rows[start - 1 : start - 1 + limit], "total_count": len(rows)}


async def test_filters_and_keyword(seeded: Seeded) -> None:
    await check(seeded, {
        "filter": [{"k": "created_at", "v": "2024-01-01T00:00:00Z", "o": "datetime_gte"}],
        "filter_or": [{"k": "severity", "v": ["CRITICAL", "ERROR"], "o": "in"},
                      {"k": "additional_info.env", "v": "prod", "o": "eq"}],
        "keyword": "disk",
        "aggregate": [{"group": {"keys": [{"key": "severity"}],
                                 "fields": [{"operator": "count", "name": "n"}]}}]})  # fmt: skip


async def test_small_pages_read_everything(seeded: Seeded) -> None:
    """Composite pages and scan pages of a few items give the same exact rows."""
    raw = {"aggregate": [{"group": {
        "keys": [{"key": "additional_info.tags", "name": "t"},
                 {"key": "created_at", "name": "h", "date_format": "%H"}],
        "fields": [{"operator": "count", "name": "n"},
                   {"operator": "first", "key": "title", "name": "f"}]}}]}  # fmt: skip
    scanned = {"aggregate": [{"group": {**raw["aggregate"][0]["group"], "fields": [
        {"operator": "count", "name": "n"},
        {"operator": "push", "key": "event_id", "name": "ids"}]}}]}  # fmt: skip
    with (mock.patch.object(stat_search, "COMPOSITE_PAGE_SIZE", 3),
          mock.patch.object(stat_search, "SCAN_PAGE_SIZE", 7)):  # fmt: skip
        small = await check(seeded, raw)
        small_scan = await check(seeded, scanned)
    assert small == await check(seeded, raw)
    assert small_scan == await check(seeded, scanned)


async def test_caps_refuse_rather_than_truncate(seeded: Seeded) -> None:
    group = {"aggregate": [{"group": {"keys": [{"key": "event_id"}]}}]}
    with mock.patch.object(stat_search, "MAX_GROUPS", 50), pytest.raises(QueryError) as error:
        await run_stat(seeded.es, seeded.index, StatisticsQuery.model_validate(group), DOMAIN)
    assert error.value.code == "ERROR_STAT_TOO_LARGE"
    scan = {"aggregate": [{"group": {"fields": [
        {"operator": "push", "key": "event_id", "name": "ids"}]}}]}  # fmt: skip
    with (mock.patch.object(stat_search, "MAX_SCAN_DOCUMENTS", 50),
          pytest.raises(QueryError) as error):  # fmt: skip
        await run_stat(seeded.es, seeded.index, StatisticsQuery.model_validate(scan), DOMAIN)
    assert error.value.code == "ERROR_STAT_TOO_LARGE"


async def test_windows_read_by_point_in_time_in_small_pages(seeded: Seeded) -> None:
    """Skips and limits past one page (or past the 10,000 window) read pages exactly."""
    with mock.patch.object(stat_search, "SCAN_PAGE_SIZE", 7):
        for raw in (
            {"aggregate": [{"sort": {"key": "title"}}, {"skip": 10}, {"limit": 20_000},
                           {"group": {"keys": [{"key": "provider"}],
                                      "fields": [{"operator": "push", "key": "event_id",
                                                  "name": "ids"}]}}]},
            {"aggregate": [{"skip": 23}, {"project": {"fields": ["event_id", "created_at"]}}]},
            {"aggregate": [{"skip": 5}, {"limit": 9_999}, {"sort": {"key": "occurred_at"}},
                           {"limit": 12}]},
        ):  # fmt: skip
            await check(seeded, raw)


async def test_windows_and_unwinds_are_capped(seeded: Seeded) -> None:
    for raw in (
        {"aggregate": [{"skip": 1}, {"group": {"keys": [{"key": "severity"}]}}]},
        {"aggregate": [{"limit": 100}, {"project": {"fields": ["title"]}}]},
        {"aggregate": [{"sort": {"key": "title"}}]},
    ):
        with mock.patch.object(stat_search, "MAX_SCAN_DOCUMENTS", 50):
            response = await post_stat(seeded, raw, DOMAIN)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "ERROR_STAT_TOO_LARGE"
    unwound = {"aggregate": [{"unwind": {"path": "additional_info.tags"}}]}
    with mock.patch.object(pipeline, "MAX_ROWS", 20):
        response = await post_stat(seeded, unwound, DOMAIN)
    assert response.json()["error"]["code"] == "ERROR_STAT_TOO_LARGE"


class CountingClient:
    """The real client, counting the requests a stat sends by endpoint."""

    def __init__(self, es: AsyncElasticsearch) -> None:
        self.es, self.calls = es, Counter[str]()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.es, name)
        if name in ("search", "count", "open_point_in_time"):
            self.calls[name] += 1
        return attribute


@pytest.mark.parametrize(
    ("stages", "calls"),
    [
        # The common pipeline: one composite page, everything after it here.
        ([{"group": {"keys": [{"key": "severity"}], "fields": [
            {"operator": "count", "name": "n"}]}}, {"sort": {"key": "n", "desc": True}},
          {"limit": 3}], {"search": 1}),
        # A top-N search, grouped here.
        ([{"sort": {"key": "created_at", "desc": True}}, {"limit": 40},
          {"group": {"keys": [{"key": "severity"}]}}], {"search": 1}),
        # A count cut to the window.
        ([{"skip": 10}, {"limit": 5}, {"count": {"name": "n"}}], {"count": 1}),
        # Two groups: still one composite page.
        ([{"group": {"keys": [{"key": "provider"}, {"key": "severity"}]}},
          {"group": {"keys": [{"key": "severity"}]}}], {"search": 1}),
    ],
)  # fmt: skip
async def test_elasticsearch_runs_the_prefix_in_few_requests(
    seeded: Seeded, stages: list[dict[str, Any]], calls: dict[str, int]
) -> None:
    client = CountingClient(seeded.es)
    query = StatisticsQuery.model_validate({"aggregate": stages})
    actual = await run_stat(client, seeded.index, query, DOMAIN)  # type: ignore[arg-type]
    assert_same(actual, evaluate_stat(seeded.docs, query, DOMAIN, datetime.now(UTC)))
    assert dict(client.calls) == calls


async def test_missing_index_reads_as_no_events(es: AsyncElasticsearch, unique_name: str) -> None:
    for raw, expected in [
        ({"aggregate": [{"group": {"keys": [{"key": "severity"}]}}]}, {"results": []}),
        ({"distinct": "severity", "page": {"limit": 5}}, {"results": [], "total_count": 0}),
        ({"aggregate": [{"group": {"fields": [{"operator": "push", "key": "title",
                                               "name": "p"}]}}]}, {"results": []}),
        ({"aggregate": [{"count": {"name": "n"}}]}, {"results": []}),
        ({"aggregate": [{"limit": 3}]}, {"results": []}),
        ({"aggregate": [{"skip": 1}, {"group": {}}, {"count": {"name": "n"}}]}, {"results": []}),
    ]:  # fmt: skip
        query = StatisticsQuery.model_validate(raw)
        assert await run_stat(es, unique_name, query, DOMAIN) == expected


# ---- domain confinement --------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        {"aggregate": [{"group": {"keys": [{"key": "domain_id"}],
                                  "fields": [{"operator": "count", "name": "n"}]}}]},
        {"filter": [{"k": "domain_id", "v": OTHER, "o": "eq"}],
         "aggregate": [{"group": {"fields": [{"operator": "count", "name": "n"}]}}]},
        {"filter_or": [{"k": "domain_id", "v": [DOMAIN, OTHER], "o": "in"},
                       {"k": "domain_id", "v": OTHER, "o": "not"}],
         "aggregate": [{"group": {"fields": [{"operator": "push", "key": "domain_id",
                                              "name": "d"}]}}]},
        {"distinct": "domain_id"},
        {"filter": [{"k": "domain_id", "v": OTHER, "o": "eq"}],
         "aggregate": [{"count": {"name": "n"}}]},
    ],
)  # fmt: skip
async def test_another_domain_is_never_counted(seeded: Seeded, raw: dict[str, Any]) -> None:
    result = await check(seeded, raw)
    assert OTHER not in str(result)
    everyone = await check(seeded, raw, domain=None)
    if "filter" not in raw:
        assert OTHER in str(everyone)


# ---- SPEC §6's pipeline cases, by name ---------------------------------------------------

COUNT_BY_RULE = {"group": {"keys": [{"key": "rule"}, {"key": "severity"}],
                           "fields": [{"operator": "count", "name": "events"}]}}  # fmt: skip


async def test_two_groups(seeded: Seeded) -> None:
    """Events per provider, then how many providers have more than N events."""
    result = await check(seeded, {"aggregate": [
        {"group": {"keys": [{"key": "provider"}, {"key": "severity"}],
                   "fields": [{"operator": "count", "name": "events"}]}},
        {"group": {"keys": [{"key": "severity"}],
                   "fields": [{"operator": "count", "name": "providers"},
                              {"operator": "sum", "key": "events", "name": "events"},
                              {"operator": "average", "key": "events", "name": "mean"},
                              {"operator": "push", "key": "provider", "name": "names"}]}},
        {"sort": {"key": "providers", "desc": True}}]})  # fmt: skip
    rows = result["results"]
    assert sum(row["events"] for row in rows) == len(in_domain(seeded))
    assert all(isinstance(r["providers"], int) and isinstance(r["mean"], float) for r in rows)
    by_hand = {(d.get("provider"), d.get("severity")) for d in in_domain(seeded)}
    assert sum(row["providers"] for row in rows) == len(by_hand)


async def test_skip_then_group(seeded: Seeded) -> None:
    newest = sorted(in_domain(seeded), key=lambda d: (d["created_at"], d["event_id"]))
    result = await check(seeded, {"aggregate": [
        {"sort": {"key": "created_at"}}, {"skip": 5},
        {"group": {"fields": [{"operator": "count", "name": "n"},
                              {"operator": "first", "key": "event_id", "name": "first"}]}},
    ]})  # fmt: skip
    assert result == {"results": [{"n": len(newest) - 5, "first": newest[5]["event_id"]}]}
    await check(seeded, {"aggregate": [{"skip": 30}, {"limit": 40},
                                       {"group": {"keys": [{"key": "severity"}]}}]})  # fmt: skip


def event_order(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SPEC §6: the events' own order, created_at then event_id."""
    return sorted(docs, key=lambda d: (d["created_at"], d["event_id"]))


async def test_a_sort_before_a_group_orders_first_last_and_push(seeded: Seeded) -> None:
    """Regression: first/last/push/merge_objects see the order of a sort stage before the
    group (MongoDB's $sort then $group), not created_at order, with or without a window."""
    by_title = sorted(in_domain(seeded), key=lambda d: (d["title"], d["event_id"]))
    fields = [{"operator": "first", "key": "event_id", "name": "first"},
              {"operator": "last", "key": "event_id", "name": "last"},
              {"operator": "push", "key": "event_id", "name": "all"}]  # fmt: skip
    result = await check(seeded, {"aggregate": [
        {"sort": {"key": "title"}}, {"group": {"fields": fields}}]})  # fmt: skip
    ids = [d["event_id"] for d in by_title]
    assert result == {"results": [{"first": ids[0], "last": ids[-1], "all": ids}]}
    # created_at descending, ties by event_id ascending (as every sort)
    by_id = sorted(in_domain(seeded), key=lambda d: d["event_id"])
    newest = sorted(by_id, key=lambda d: d["created_at"], reverse=True)
    only_first = await check(seeded, {"aggregate": [
        {"sort": {"key": "created_at", "desc": True}},
        {"group": {"keys": [{"key": "severity"}], "fields": fields[:2]}}]})  # fmt: skip
    for row in only_first["results"]:
        mine = [d["event_id"] for d in newest if d.get("severity") == row["severity"]]
        assert (row["first"], row["last"]) == (mine[0], mine[-1])
    limited = await check(seeded, {"aggregate": [
        {"sort": {"key": "title", "desc": True}}, {"limit": 7},
        {"group": {"fields": fields}}]})  # fmt: skip
    title_desc = sorted(by_id, key=lambda d: d["title"], reverse=True)  # ties: event_id
    assert limited["results"][0]["all"] == [d["event_id"] for d in title_desc[:7]]


async def test_skip_and_limit_without_a_sort_take_events_in_created_at_order(
    seeded: Seeded,
) -> None:
    """Regression: skip/limit with no sort before them take the events in created_at order,
    then event_id (SPEC §6), not newest first."""
    ids = [d["event_id"] for d in event_order(in_domain(seeded))]
    pushed = await check(seeded, {"aggregate": [{"skip": 2}, {"limit": 5}, {"group": {
        "fields": [{"operator": "push", "key": "event_id", "name": "ids"}]}}]})  # fmt: skip
    assert pushed == {"results": [{"ids": ids[2:7]}]}
    documents = await check(seeded, {"aggregate": [{"limit": 4}]})
    assert [row["event_id"] for row in documents["results"]] == ids[:4]
    firsts = await check(seeded, {"aggregate": [{"group": {"fields": [
        {"operator": "first", "key": "event_id", "name": "f"},
        {"operator": "last", "key": "event_id", "name": "l"}]}}]})  # fmt: skip
    assert firsts == {"results": [{"f": ids[0], "l": ids[-1]}]}


async def test_project_with_exclude_keys_true(seeded: Seeded) -> None:
    group = {"group": {"keys": [{"key": "severity", "name": "sev"}],
                       "fields": [{"operator": "count", "name": "n"}]}}  # fmt: skip
    kept = await check(seeded, {"aggregate": [group, {"project": {"fields": [
        {"key": "n", "name": "total"}]}}]})  # fmt: skip
    assert all(list(row) == ["sev", "total"] for row in kept["results"])
    dropped = await check(seeded, {"aggregate": [group, {"project": {
        "fields": [{"key": "n", "name": "total"}], "exclude_keys": True}}]})  # fmt: skip
    assert dropped["results"] == [{"total": row["total"]} for row in kept["results"]]


async def test_group_without_keys_over_nothing(seeded: Seeded) -> None:
    nothing = [{"k": "severity", "v": "NOPE", "o": "eq"}]
    for fields in ([{"operator": "count", "name": "n"}],
                   [{"operator": "push", "key": "title", "name": "p"}], []):  # fmt: skip
        result = await check(seeded, {"filter": nothing, "aggregate": [{"group": {
            "fields": fields}}], "page": {"limit": 5}})  # fmt: skip
        assert result == {"results": [], "total_count": 0}
    assert await check(seeded, {"aggregate": [{"skip": 10_000}, {"group": {}}]}) == {
        "results": []}  # fmt: skip


async def test_count_over_nothing(seeded: Seeded) -> None:
    nothing = [{"k": "severity", "v": "NOPE", "o": "eq"}]
    assert await check(seeded, {"filter": nothing, "aggregate": [{"count": {"name": "n"}}]}) == {
        "results": []}  # fmt: skip
    after_skip = {"aggregate": [{"skip": 1_000}, {"count": {"name": "n"}}]}
    assert await check(seeded, after_skip) == {"results": []}
    groups = {"aggregate": [COUNT_BY_RULE, {"skip": 1_000}, {"count": {"name": "n"}}]}
    assert await check(seeded, groups) == {"results": []}
    some = await check(seeded, {"aggregate": [{"skip": 3}, {"limit": 7}, {"count": {"name": "n"}}]})
    assert some == {"results": [{"n": 7}]}


async def test_unwind_of_a_pushed_list(seeded: Seeded) -> None:
    result = await check(seeded, {"aggregate": [
        {"group": {"keys": [{"key": "provider"}],
                   "fields": [{"operator": "push", "key": "additional_info.env", "name": "envs"}]}},
        {"unwind": {"path": "$envs"}},
        {"group": {"keys": [{"key": "envs", "name": "env"}],
                   "fields": [{"operator": "count", "name": "n"}]}}]})  # fmt: skip
    envs = [d["additional_info"]["env"] for d in in_domain(seeded)
            if "env" in d.get("additional_info", {})]  # fmt: skip
    assert {row["env"]: row["n"] for row in result["results"]} == {
        env: envs.count(env) for env in sorted(set(envs))}  # fmt: skip


async def test_documents_without_a_group(seeded: Seeded) -> None:
    """Sort and limit alone return the events; project and unwind read their stored fields."""
    top = await check(seeded, {"aggregate": [{"sort": {"key": "occurred_at", "desc": True}},
                                             {"limit": 3}]})  # fmt: skip
    assert len(top["results"]) == 3 and all("event_id" in row for row in top["results"])
    await check(seeded, {"aggregate": [
        {"limit": 50}, {"sort": [{"key": "additional_info.n"}, {"key": "title", "desc": True}]},
        {"unwind": {"path": "additional_info.tags"}},
        {"project": {"fields": [{"key": "additional_info.tags", "name": "tag"}, "event_id",
                                {"key": "occurred_at", "name": "when"}]}},
        {"sort": {"key": "when"}}]})  # fmt: skip


async def test_null_conditions(seeded: Seeded) -> None:
    for condition in ({"k": "rule", "v": None, "o": "eq"}, {"k": "rule", "v": None, "o": "not"},
                      {"k": "occurred_at", "v": None, "o": "eq"},
                      {"k": "provider", "v": ["aws", None], "o": "in"},
                      {"k": "provider", "v": [None], "o": "not_in"},
                      {"k": "additional_info.env", "v": None, "o": "eq"}):  # fmt: skip
        result = await check(seeded, {"filter": [condition],
                                      "aggregate": [{"count": {"name": "n"}}]})  # fmt: skip
        assert result["results"] and result["results"][0]["n"] > 0, condition


async def test_a_regex_too_complex_is_the_callers_mistake(seeded: Seeded) -> None:
    hard = "(.*a.*b.*c.*d.*e.*f.*g.*h.*i.*j.*){1,40}"
    for key in ("title", "additional_info.env"):
        raw = {"filter": [{"k": "severity", "v": "INFO"}, {"k": key, "v": hard, "o": "regex"}],
               "aggregate": [{"count": {"name": "n"}}]}  # fmt: skip
        response = await post_stat(seeded, raw, DOMAIN)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "ERROR_INVALID_ARGUMENT"
        assert "filter[1]" in error["message"] and key in error["message"], error


# ---- random pipelines ----------------------------------------------------------------------
KEYS = ["severity", "provider", "event_type", "title", "resource.resource_type",
        "additional_info.env", "additional_info.tags", "additional_info.n", "additional_info.flag",
        "additional_info.labels.tier", "created_at", "occurred_at"]  # fmt: skip
DATE_FORMATS = [None, "year", "month", "day", "%Y-%m", "%H", "%Y-%m-%d %H:00", "%a", "%j",
                "%M:%S", "%Y week %W", "%f"]  # fmt: skip
# (operator, key, whether the result is one comparable scalar that a sort may use)
FIELDS = [
    ("count", None, True), ("sum", "additional_info.n", True),
    ("sum", "additional_info.score", True), ("average", "additional_info.score", True),
    ("average", "additional_info.n", True), ("sum", "severity", True),
    ("max", "provider", True), ("max", "created_at", True), ("min", "occurred_at", True),
    ("min", "additional_info.n", True), ("max", "title", True),
    ("first", "title", True), ("last", "provider", True), ("first", "created_at", True),
    ("first", "event_id", True), ("last", "event_id", True), ("push", "event_id", False),
    ("last", "occurred_at", False), ("first", "resource", False),
    ("last", "additional_info.tags", False), ("push", "provider", False),
    ("push", "additional_info.n", False), ("add_to_set", "additional_info.tags", False),
    ("add_to_set", "occurred_at", False), ("add_to_set", "severity", False),
    ("add_to_set", "rule", False), ("push", "rule", False),
    ("merge_objects", "resource", False), ("merge_objects", "additional_info.labels", False),
]  # fmt: skip
CONDITIONS = [
    {"k": "severity", "v": "CRITICAL", "o": "eq"},
    {"k": "severity", "v": ["INFO", "WARNING"], "o": "in"},
    {"k": "provider", "v": "aws", "o": "not"},
    {"k": "additional_info.env", "v": True, "o": "exists"},
    {"k": "additional_info.tags", "v": "b", "o": "eq"},
    {"k": "created_at", "v": "2024-01-01T00:00:00Z", "o": "datetime_lt"},
    {"k": "title", "v": "on", "o": "contain"},
    {"k": "occurred_at", "v": "now/d-2d", "o": "timediff_gte"},
    {"k": "rule", "v": None, "o": "eq"},
    {"k": "provider", "v": ["aws", None], "o": "in"},
]


# Event fields a sort, project or unwind over events may name; the scalar ones sort well.
DOC_SORT_KEYS = ["severity", "provider", "title", "created_at", "occurred_at", "rule",
                 "additional_info.n", "additional_info.tags", "resource.name", "nope"]  # fmt: skip
DOC_PATHS = ["severity", "provider", "title", "created_at", "occurred_at", "event_id",
             "resource", "resource.name", "additional_info.tags", "additional_info.n",
             "additional_info.env", "additional_info.labels"]  # fmt: skip
DOC_LISTS = ["additional_info.tags"]
ROW_OPERATORS = ["count", "sum", "average", "max", "min", "first", "last", "push", "add_to_set",
                 "merge_objects"]  # fmt: skip


@dataclass
class Shape:
    """What the rows look like at some point of a drawn pipeline."""

    events: bool  # still the matching events (only sort/skip/limit so far)
    names: list[str]  # fields a row may have
    lists: list[str]  # fields that may hold lists (unwind)


@st.composite
def event_group(draw: st.DrawFn) -> tuple[dict[str, Any], Shape]:
    keys = []
    for i, key in enumerate(draw(st.lists(st.sampled_from(KEYS), max_size=3))):
        spec: dict[str, Any] = {"key": key, "name": f"k{i}"}
        if key in ("created_at", "occurred_at") and (fmt := draw(st.sampled_from(DATE_FORMATS))):
            spec["date_format"] = fmt
        keys.append(spec)
    chosen = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3))
    fields = [{"operator": op, "name": f"f{i}", **({"key": key} if key else {})}
              for i, (op, key, _) in enumerate(chosen)]  # fmt: skip
    lists = [f"f{i}" for i, (op, _, _) in enumerate(chosen) if op in ("push", "add_to_set")]
    names = [k["name"] for k in keys] + [f["name"] for f in fields]
    return {"group": {"keys": keys, "fields": fields}}, Shape(False, names, lists)


@st.composite
def row_group(draw: st.DrawFn, shape: Shape) -> tuple[dict[str, Any], Shape]:
    pool = shape.names or ["nope"]
    keys = []
    for i, key in enumerate(draw(st.lists(st.sampled_from(pool), max_size=2, unique=True))):
        spec: dict[str, Any] = {"key": key, "name": f"g{i}"}
        if draw(st.integers(0, 5)) == 0:
            spec["date_format"] = draw(st.sampled_from(["day", "%Y-%m %H"]))
        keys.append(spec)
    fields = []
    for i in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(ROW_OPERATORS))
        field: dict[str, Any] = {"operator": op, "name": f"h{i}"}
        if op != "count":
            field["key"] = draw(st.sampled_from(pool))
        fields.append(field)
    names = [k["name"] for k in keys] + [f["name"] for f in fields]
    lists = [f["name"] for f in fields if f["operator"] in ("push", "add_to_set")]
    lists += [k["name"] for k in keys if k["key"] in shape.lists]
    return {"group": {"keys": keys, "fields": fields}}, Shape(False, names, lists)


@st.composite
def stage(draw: st.DrawFn, shape: Shape) -> tuple[dict[str, Any], Shape]:
    kind = draw(st.sampled_from(["sort", "sort", "limit", "skip", "group", "group", "count",
                                 "project", "unwind"]))  # fmt: skip
    if kind in ("limit", "skip"):
        return {kind: draw(st.integers(0, 60))}, shape
    if kind == "count":
        return {"count": {"name": "c"}}, Shape(False, ["c"], [])
    if kind == "group":
        return draw(event_group()) if shape.events else draw(row_group(shape))
    if kind == "sort":
        pool = DOC_SORT_KEYS if shape.events else shape.names or ["nope"]
        picked = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True))
        return {"sort": [{"key": k, "desc": draw(st.booleans())} for k in picked]}, shape
    names = DOC_PATHS if shape.events else shape.names
    lists = DOC_LISTS if shape.events else shape.lists
    if kind == "unwind" and lists:
        path = draw(st.sampled_from(lists))
        unwound = [n for n in lists if n != path]
        return {"unwind": {"path": draw(st.sampled_from([path, "$" + path]))}}, Shape(
            False, names, unwound)  # fmt: skip
    if not names:
        return {"limit": 5}, shape
    kept = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    fields: list[Any] = []
    for i, key in enumerate(kept):
        fields.append(
            draw(
                st.sampled_from(
                    [
                        key,
                        {"key": key, "name": f"p{i}"},
                        {"key": key, "name": f"s{i}", "operator": "size"},
                    ]
                )
            )
        )
    exclude = draw(st.booleans())
    out = [f if isinstance(f, str) else f["name"] for f in fields]
    if not exclude and not shape.events:
        out = [*shape.names, *out]  # group keys may be kept; extra names are harmless
    new_lists = [n for n in out if n in lists]
    project = {"project": {"fields": fields, "exclude_keys": exclude}}
    return project, Shape(False, list(dict.fromkeys(out)), new_lists)


@st.composite
def pipelines(draw: st.DrawFn) -> dict[str, Any]:
    shape = Shape(True, DOC_PATHS, DOC_LISTS)
    stages: list[dict[str, Any]] = []
    if draw(st.integers(0, 2)):  # most pipelines group the events first, the common case
        first, shape = draw(event_group())
        stages.append(first)
    for _ in range(draw(st.integers(0, 5))):
        drawn, shape = draw(stage(shape))
        stages.append(drawn)
    if not stages:
        stages.append({"count": {"name": "c"}})
    query: dict[str, Any] = {"aggregate": stages}
    query["filter"] = draw(st.lists(st.sampled_from(CONDITIONS), max_size=2))
    query["filter_or"] = draw(st.lists(st.sampled_from(CONDITIONS), max_size=2))
    if draw(st.booleans()):
        query["page"] = {"start": draw(st.integers(1, 8)), "limit": draw(st.integers(0, 6))}
    return query


@hypothesis_settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=pipelines(), composite_page=st.sampled_from([4, 500]))
async def test_random_pipelines_match_the_reference(
    seeded: Seeded, query: dict[str, Any], composite_page: int
) -> None:
    with mock.patch.object(stat_search, "COMPOSITE_PAGE_SIZE", composite_page):
        await check(seeded, query)
