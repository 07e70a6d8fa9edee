"""sum / average over a numeric field with more distinct values than a terms list holds.

Regression: an average over `additional_info.value` of a few thousand events with a value
each answered ERROR_STAT_TOO_LARGE ("a group has more than 10000 distinct values"): the
planner listed every distinct value in a terms aggregation. It now adds them in
Elasticsearch; the answer must equal the sum computed here, exactly for integers.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_bulk

from query_api.query.stat import MAX_SET_VALUES
from query_api.services import events as stat_search
from query_api.services.events import run_stat
from schemas.event import format_timestamp
from schemas.index import events_index_for, events_template
from schemas.query import QueryError, StatisticsQuery
from schemas.settings import Settings
from tests.integration.pipeline import pipeline_settings

pytestmark = pytest.mark.integration

DOMAIN = "domain-1"
COUNT = MAX_SET_VALUES + 3_000
START = datetime(2024, 5, 1, tzinfo=UTC)


def event(i: int) -> dict[str, Any]:
    info: dict[str, Any] = {"value": f"{i * 0.37:.3f}", "n": str(i * 7919)}
    if i % 10 == 0:
        info["value"] = "not a number"  # skipped, as the pipeline skips it
    return {
        "event_id": f"event-{i:012x}",
        "event_key": f"key-{i % 3}",
        "severity": "WARNING" if i % 8 == 0 else "CRITICAL",
        "domain_id": DOMAIN,
        "project_id": "project-1",
        "created_at": format_timestamp(START + timedelta(seconds=i)),
        "additional_info": info,
    }


@pytest.fixture(scope="module")
async def seeded(settings: Settings) -> AsyncIterator[tuple[AsyncElasticsearch, str, list]]:
    ours = pipeline_settings(settings, f"test-statnum-{uuid.uuid4().hex[:12]}")
    es = AsyncElasticsearch(**ours.elasticsearch.client_options())
    prefix = ours.indices.events
    docs = [event(i) for i in range(COUNT)]
    await es.indices.put_index_template(name=prefix, **events_template(prefix))
    try:
        actions = [{"_index": events_index_for(prefix, START), "_id": d["event_id"], "_source": d}
                   for d in docs]  # fmt: skip
        assert await async_bulk(es, actions, refresh="wait_for") == (len(docs), [])
        yield es, prefix, docs
    finally:
        names = await es.options(ignore_status=404).indices.get(index=f"{prefix}-*")
        if names.body:
            await es.indices.delete(index=",".join(names.body))
        await es.indices.delete_index_template(name=prefix)
        await es.close()


def numbers(docs: list[dict[str, Any]], field: str, severity: str) -> list[float]:
    out = []
    for d in docs:
        if d["severity"] != severity:
            continue
        try:
            out.append(float(d["additional_info"][field]))
        except ValueError:
            continue
    return out


async def test_sum_and_average_over_many_distinct_values(seeded: tuple) -> None:
    es, index, docs = seeded
    query = StatisticsQuery.model_validate({"aggregate": [{"group": {
        "keys": [{"key": "severity", "name": "severity"}],
        "fields": [{"operator": "average", "key": "additional_info.value", "name": "avg"},
                   {"operator": "sum", "key": "additional_info.value", "name": "total"},
                   {"operator": "sum", "key": "additional_info.n", "name": "n"},
                   {"operator": "count", "name": "events"}]}}]})  # fmt: skip
    answer = await run_stat(es, index, query, DOMAIN)
    rows = {row["severity"]: row for row in answer["results"]}
    assert set(rows) == {"CRITICAL", "WARNING"}
    for severity, row in rows.items():
        values = numbers(docs, "value", severity)
        if severity == "CRITICAL":
            assert len(set(values)) > MAX_SET_VALUES
        assert math.isclose(row["avg"], sum(values) / len(values), rel_tol=1e-9)
        assert math.isclose(row["total"], sum(values), rel_tol=1e-9)
        integers = [int(d["additional_info"]["n"]) for d in docs if d["severity"] == severity]
        assert row["n"] == sum(integers) and isinstance(row["n"], int)
        assert row["events"] == len(integers)


async def test_average_without_groups_and_by_hour(seeded: tuple) -> None:
    es, index, docs = seeded
    query = StatisticsQuery.model_validate({"aggregate": [{"group": {
        "keys": [{"key": "created_at", "name": "hour", "date_format": "%Y-%m-%dT%H"}],
        "fields": [{"operator": "average", "key": "additional_info.value",
                    "name": "avg"}]}}]})  # fmt: skip
    answer = await run_stat(es, index, query, DOMAIN)
    assert len(answer["results"]) == math.ceil(COUNT / 3600)
    first = [float(d["additional_info"]["value"]) for d in docs[:3600]
             if d["additional_info"]["value"] != "not a number"]  # fmt: skip
    assert math.isclose(answer["results"][0]["avg"], sum(first) / len(first), rel_tol=1e-9)


async def test_past_the_scan_cap_it_is_refused_not_cut(seeded: tuple) -> None:
    es, index, _ = seeded
    query = StatisticsQuery.model_validate({"aggregate": [{"group": {
        "fields": [{"operator": "sum", "key": "additional_info.value",
                    "name": "s"}]}}]})  # fmt: skip
    with mock.patch.object(stat_search, "MAX_SCAN_DOCUMENTS", COUNT - 1):
        with pytest.raises(QueryError) as error:
            await run_stat(es, index, query, DOMAIN)
    assert error.value.code == "ERROR_STAT_TOO_LARGE"
    assert "events" in error.value.message
