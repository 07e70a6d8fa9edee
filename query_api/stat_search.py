"""Event stat against Elasticsearch: the requests `query_api.stat` plans, paged to completion.

Every request carries the caller's domain (`scoped`), so another domain's events
are never read, counted or grouped. A missing events alias reads as no events. The
rows Elasticsearch's part produces go through `query_api.pipeline` for the rest. A
request Elasticsearch refuses for what the caller asked is ERROR_INVALID_ARGUMENT
naming the condition (`search.refusal`), never a 5xx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, BadRequestError, NotFoundError

from query_api.pipeline import Rows, run_stages, too_large
from query_api.search import caller_fault, refusal, resolve_filter
from query_api.stat import (
    COMPOSITE_PAGE_SIZE,
    MAX_GROUPS,
    MAX_SCAN_DOCUMENTS,
    SCAN_PAGE_SIZE,
    TOO_LARGE,
    GroupPlan,
    GroupTable,
    KeyPlan,
    StatPlan,
    composite_aggregations,
    distinct_aggregations,
    distinct_from_aggregations,
    document_row,
    fetch_request,
    groups_from_aggregations,
    groups_from_hits,
    page_result,
    plan_stat,
    sort_hits,
)
from query_api.translate import (
    EVENTS,
    MAX_RESULT_WINDOW,
    Searchable,
    build_filter,
    scoped,
    translate_sort,
)
from schemas.query import QueryError, Stage, StatisticsQuery

PIT_KEEP_ALIVE = "1m"


async def run_stat(
    es: AsyncElasticsearch,
    index: str,
    query: StatisticsQuery,
    domain_id: str | None,
    *,
    now: datetime | None = None,
    searchable: Searchable = EVENTS,
) -> dict[str, Any]:
    """`{results, total_count?}` of a StatisticsQuery over the events of one domain (None: all),
    or over another collection's documents (`searchable`: event rules)."""
    plan = plan_stat(query, searchable)
    filter_plan = build_filter(query.filter, query.filter_or, query.keyword,
                               now=now or datetime.now(UTC), searchable=searchable)  # fmt: skip
    try:
        resolved = await resolve_filter(es, index, filter_plan, domain_id=domain_id)
        es_query = scoped(resolved, domain_id)
        if plan.mode == "distinct":
            assert plan.distinct is not None
            return page_result(await _distinct(es, index, es_query, plan.distinct), plan.page)
        first = await _first_rows(es, index, es_query, plan)
    except NotFoundError:
        first = Rows([])
    except ApiError as error:
        if not caller_fault(error):
            raise
        raise await refusal(es, index, error, filter_plan) from error
    return page_result(run_stages(first, plan.stages).rows, plan.page)


async def _first_rows(
    es: AsyncElasticsearch, index: str, query: dict[str, Any], plan: StatPlan
) -> Rows:
    """The rows of everything Elasticsearch runs, up to and including the first group/count."""
    if not plan.fetches_events:
        if plan.mode == "count":
            counted = plan.window.cut(await _count(es, index, query))
            return Rows([{plan.count_name: counted}] if counted else [])
        assert plan.group is not None
        return await _aggregate(es, index, query, plan.group)
    async with aclosing(_window_pages(es, index, query, plan)) as pages:
        if plan.group is not None and not plan.event_stages:  # group page by page
            table = GroupTable(plan.group)
            async for page in pages:
                for key, states in groups_from_hits(plan.group, page):
                    table.add(key, states)
            return Rows(table.rows(), tuple(key.name for key in plan.group.keys))
        hits = [hit async for page in pages for hit in page]
    for stage in plan.event_stages:
        hits = _event_stage(hits, stage, plan.searchable)
    if plan.mode == "count":
        return Rows([{plan.count_name: len(hits)}] if hits else [])
    if plan.mode == "documents":
        fields = plan.searchable.fields
        return Rows([document_row(hit.get("_source", {}), fields) for hit in hits])
    assert plan.group is not None
    table = GroupTable(plan.group)
    for key, states in groups_from_hits(plan.group, hits):
        table.add(key, states)
    return Rows(table.rows(), tuple(key.name for key in plan.group.keys))


def _event_stage(
    hits: list[dict[str, Any]], stage: Stage, searchable: Searchable
) -> list[dict[str, Any]]:
    if stage.sort is not None:
        return sort_hits(hits, stage.sort, searchable)
    if stage.skip is not None:
        return hits[stage.skip :]
    return hits[: stage.limit]


async def _count(es: AsyncElasticsearch, index: str, query: dict[str, Any]) -> int:
    return int((await es.count(index=index, query=query))["count"])


async def _aggregate(
    es: AsyncElasticsearch, index: str, query: dict[str, Any], plan: GroupPlan
) -> Rows:
    """A group over every matching event: composite aggregations paged to completion."""
    table = GroupTable(plan)
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
            return Rows(table.rows(), tuple(key.name for key in plan.keys))


def _too_many_buckets(error: BadRequestError) -> bool:
    body = error.body if isinstance(error.body, dict) else {}
    cause = body.get("error", {}).get("caused_by", {})
    return isinstance(cause, dict) and cause.get("type") == "too_many_buckets_exception"


async def _window_pages(
    es: AsyncElasticsearch, index: str, query: dict[str, Any], plan: StatPlan
) -> AsyncIterator[list[dict[str, Any]]]:
    """The events of the plan's window, in its order, a page at a time: one search when the
    window fits Elasticsearch's from+size window, else a point-in-time scan; capped."""
    window, options = plan.window, fetch_request(plan)
    sort = list(translate_sort(window.sort, plan.searchable))
    if window.limit is not None and window.offset + window.limit <= MAX_RESULT_WINDOW:
        if window.limit > MAX_SCAN_DOCUMENTS:
            raise too_large("events", MAX_SCAN_DOCUMENTS)
        response = await es.search(index=index, query=query, sort=sort, from_=window.offset,
                                   size=window.limit, track_total_hits=False,
                                   **options)  # fmt: skip
        yield response["hits"]["hits"]
        return
    if window.cut(await _count(es, index, query)) > MAX_SCAN_DOCUMENTS:
        raise too_large("events", MAX_SCAN_DOCUMENTS)
    pit_id = (await es.open_point_in_time(index=index, keep_alive=PIT_KEEP_ALIVE))["id"]
    try:
        skip, kept = window.offset, 0
        search_after: list[Any] | None = None
        while window.limit is None or kept < window.limit:
            response = await es.search(
                pit={"id": pit_id, "keep_alive": PIT_KEEP_ALIVE}, query=query, sort=sort,
                size=SCAN_PAGE_SIZE, search_after=search_after, track_total_hits=False,
                **options,
            )  # fmt: skip
            pit_id = response.get("pit_id", pit_id)
            hits = response["hits"]["hits"]
            dropped = min(skip, len(hits))
            skip -= dropped
            page = hits[dropped:]
            if window.limit is not None:
                page = page[: window.limit - kept]
            kept += len(page)
            if kept > MAX_SCAN_DOCUMENTS:
                raise too_large("events", MAX_SCAN_DOCUMENTS)
            yield page
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
