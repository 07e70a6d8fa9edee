"""Event stat against Elasticsearch: the requests `query_api.stat` plans, paged to completion.

Every request carries the caller's domain (`scoped`), so another domain's events
are never read, counted or grouped. A missing events alias reads as no events.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from elasticsearch import AsyncElasticsearch, BadRequestError, NotFoundError

from query_api.search import resolve_filter
from query_api.stat import (
    COMPOSITE_PAGE_SIZE,
    MAX_GROUPS,
    MAX_SCAN_DOCUMENTS,
    SCAN_PAGE_SIZE,
    TOO_LARGE,
    GroupPlan,
    GroupTable,
    KeyPlan,
    apply_stages,
    composite_aggregations,
    distinct_aggregations,
    distinct_from_aggregations,
    groups_from_aggregations,
    groups_from_hits,
    page_result,
    plan_stat,
    scan_request,
    too_large,
)
from query_api.translate import build_filter, scoped
from schemas.query import QueryError, StatisticsQuery

PIT_KEEP_ALIVE = "1m"


async def run_stat(
    es: AsyncElasticsearch,
    index: str,
    query: StatisticsQuery,
    domain_id: str | None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """`{results, total_count?}` of a StatisticsQuery over the events of one domain (None: all)."""
    plan = plan_stat(query)
    filter_plan = build_filter(query.filter, query.filter_or, query.keyword,
                               now=now or datetime.now(UTC))  # fmt: skip
    try:
        resolved = await resolve_filter(es, index, filter_plan, domain_id=domain_id)
        es_query = scoped(resolved, domain_id)
        if plan.mode == "distinct":
            assert plan.distinct is not None
            rows: list[Any] = await _distinct(es, index, es_query, plan.distinct)
        elif plan.mode == "count":
            rows = [{plan.count_name: await _count(es, index, es_query)}]
        else:
            assert plan.group is not None
            rows = await _group(es, index, es_query, plan.group)
    except NotFoundError:
        rows = [{plan.count_name: 0}] if plan.mode == "count" else []
    return page_result(apply_stages(rows, plan.stages), plan.page)


async def _count(es: AsyncElasticsearch, index: str, query: dict[str, Any]) -> int:
    return int((await es.count(index=index, query=query))["count"])


async def _group(
    es: AsyncElasticsearch, index: str, query: dict[str, Any], plan: GroupPlan
) -> list[dict[str, Any]]:
    table = GroupTable(plan)
    if plan.scan:
        await _scan(es, index, query, plan, table)
    else:
        await _composite(es, index, query, plan, table)
    return table.rows()


async def _composite(
    es: AsyncElasticsearch, index: str, query: dict[str, Any], plan: GroupPlan, table: GroupTable
) -> None:
    after: dict[str, Any] | None = None
    size, read = COMPOSITE_PAGE_SIZE, 0
    while True:
        aggs = composite_aggregations(plan, after=after, size=size)
        try:
            response = await es.search(index=index, size=0, query=query, aggs=aggs,
                                       track_total_hits=False)  # fmt: skip
        except BadRequestError as error:
            # Big sets in many buckets can pass search.max_buckets: ask for fewer buckets.
            if not _too_many_buckets(error):
                raise
            if size == 1 or not plan.keys:
                raise QueryError(TOO_LARGE, "one group holds more values than Elasticsearch "
                                            "returns in one request") from error  # fmt: skip
            size = max(1, size // 4)
            continue
        groups, after = groups_from_aggregations(plan, response["aggregations"])
        read += len(groups)
        if read > MAX_GROUPS:
            raise too_large("groups", MAX_GROUPS)
        for key, states in groups:
            table.add(key, states)
        # A page shorter than asked for is the last: no need to ask for an empty one.
        if after is None or len(groups) < size:
            return


def _too_many_buckets(error: BadRequestError) -> bool:
    body = error.body if isinstance(error.body, dict) else {}
    cause = body.get("error", {}).get("caused_by", {})
    return isinstance(cause, dict) and cause.get("type") == "too_many_buckets_exception"


async def _scan(
    es: AsyncElasticsearch, index: str, query: dict[str, Any], plan: GroupPlan, table: GroupTable
) -> None:
    """Read every matching event in event order under a point in time, grouping as it goes."""
    if await _count(es, index, query) > MAX_SCAN_DOCUMENTS:
        raise too_large("events", MAX_SCAN_DOCUMENTS)
    options = scan_request(plan)
    pit_id = (await es.open_point_in_time(index=index, keep_alive=PIT_KEEP_ALIVE))["id"]
    try:
        search_after: list[Any] | None = None
        read = 0
        while True:
            response = await es.search(
                pit={"id": pit_id, "keep_alive": PIT_KEEP_ALIVE}, query=query,
                size=SCAN_PAGE_SIZE, search_after=search_after, track_total_hits=False,
                **options,
            )  # fmt: skip
            pit_id = response.get("pit_id", pit_id)
            hits = response["hits"]["hits"]
            read += len(hits)
            if read > MAX_SCAN_DOCUMENTS:
                raise too_large("events", MAX_SCAN_DOCUMENTS)
            for key, states in groups_from_hits(plan, hits):
                table.add(key, states)
            if len(hits) < SCAN_PAGE_SIZE:
                return
            search_after = hits[-1]["sort"]
    finally:
        await es.options(ignore_status=404).close_point_in_time(id=pit_id)


DISTINCT_PAGE_SIZE = 1_000


async def _distinct(
    es: AsyncElasticsearch, index: str, query: dict[str, Any], plan: KeyPlan
) -> list[Any]:
    values: list[Any] = []
    after: dict[str, Any] | None = None
    while True:
        aggs = distinct_aggregations(plan, after=after, size=DISTINCT_PAGE_SIZE)
        response = await es.search(index=index, size=0, query=query, aggs=aggs,
                                   track_total_hits=False)  # fmt: skip
        page, after = distinct_from_aggregations(plan, response["aggregations"])
        values.extend(page)
        if len(values) > MAX_GROUPS:
            raise too_large("distinct values", MAX_GROUPS)
        if after is None or len(page) < DISTINCT_PAGE_SIZE:
            return sorted(set(values))
