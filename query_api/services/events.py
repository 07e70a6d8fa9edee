"""Events for one authenticated caller: get, list and stat, the one implementation behind
both faces of the Event API (`query_api.rest.routes.events`, `query_api.grpc.event`).

Each takes the validated request model and answers the seed's JSON shape; domain
confinement happens here (`domain_scope`, then every request through `scoped`), so no
face can skip it and another domain's events are never read, counted or grouped. A
missing index or alias reads as "no events yet". Pages past Elasticsearch's from+size
window (10,000) are walked in a point in time (`query_api.query.scan`), so any page is
served exactly, consistently with its total_count. Stat runs the requests
`query_api.query.stat` plans, paged to completion, and the rows go through
`query_api.query.stat.rows` for the rest. A request Elasticsearch refuses for what the
caller asked is ERROR_INVALID_ARGUMENT naming the condition, never a 5xx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, BadRequestError, NotFoundError

from query_api.query.elastic import (
    MISSING_OK,
    caller_fault,
    refusal,
    resolve_filter,
    search_or_empty,
)
from query_api.query.scan import point_in_time
from query_api.query.stat import (
    COMPOSITE_PAGE_SIZE,
    MAX_GROUPS,
    MAX_SCAN_DOCUMENTS,
    SCAN_PAGE_SIZE,
    TOO_LARGE,
    GroupPlan,
    GroupTable,
    KeyPlan,
    Rows,
    SetOverflow,
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
    run_stages,
    sort_hits,
    too_large,
)
from query_api.query.translate import (
    EVENTS,
    MAX_PAGE_SIZE,
    MAX_RESULT_WINDOW,
    ListPlan,
    Searchable,
    build_filter,
    scoped,
    source_includes,
    translate_list,
    translate_sort,
)
from query_api.services.apikeys import domain_scope
from schemas.apikey import Caller
from schemas.errors import ApiError as RequestError
from schemas.messages import EventQuery, EventStatQuery, GetEventRequest
from schemas.query import Query, QueryError, Stage, StatisticsQuery


@dataclass(frozen=True)
class EventIndex:
    """What the event operations work over: Elasticsearch and the events index (or alias)."""

    es: AsyncElasticsearch
    index: str


async def get_one(ix: EventIndex, caller: Caller, request: GetEventRequest) -> dict[str, Any]:
    """One event by id (EventInfo, or only the requested fields); 404 when not visible."""
    domain = domain_scope(caller, request.domain_id)
    event = await get_event(ix.es, ix.index, request.event_id, domain, request.only)
    if event is None:
        raise RequestError(404, "ERROR_NOT_FOUND", f"event {request.event_id!r} not found")
    return event


async def list_page(ix: EventIndex, caller: Caller, request: EventQuery) -> dict[str, Any]:
    """EventsInfo: `{results, total_count}` of the events matching the query."""
    domain = domain_scope(caller, request.domain_id)
    results, total = await list_events(
        ix.es, ix.index, request.query, request.exact_filters(), domain
    )
    return {"results": results, "total_count": total}


async def stat(ix: EventIndex, caller: Caller, request: EventStatQuery) -> dict[str, Any]:
    """`{results, total_count?}` of a StatisticsQuery (SPEC §6)."""
    domain = domain_scope(caller, request.domain_id)
    return await run_stat(ix.es, ix.index, request.query, domain)


# ---- get and list ------------------------------------------------------------------------


async def list_events(
    es: AsyncElasticsearch,
    index: str,
    query: Query,
    exact: Mapping[str, Any],
    domain_id: str | None,
    *,
    now: datetime | None = None,
    searchable: Searchable = EVENTS,
) -> tuple[list[dict], int]:
    """The requested page of events (EventInfo-shaped `_source` dicts) and the exact total;
    with `searchable`, of another index's documents (alerts, notes) by the same rules."""
    plan = translate_list(query, exact, now=now or datetime.now(UTC), searchable=searchable)
    try:
        return await _list(es, index, plan, domain_id, searchable.noun)
    except ApiError as error:
        if not caller_fault(error):
            raise
        raise await refusal(es, index, error, plan.filter) from error


async def _list(
    es: AsyncElasticsearch, index: str, plan: ListPlan, domain_id: str | None, noun: str
) -> tuple[list[dict], int]:
    resolved = await resolve_filter(es, index, plan.filter, domain_id=domain_id)
    es_query = scoped(resolved, domain_id)
    if plan.count_only:
        response = await search_or_empty(
            es, index=index, query=es_query, size=0, track_total_hits=True, **MISSING_OK
        )
        return [], _total(response)
    if plan.limit == 0:
        return await _all_results(es, index, plan, es_query, noun)
    if plan.offset + plan.limit <= MAX_RESULT_WINDOW:
        response = await search_or_empty(
            es,
            index=index,
            query=es_query,
            sort=list(plan.sort),
            from_=plan.offset,
            size=plan.limit,
            track_total_hits=True,
            **_source(plan.source_includes),
            **MISSING_OK,
        )
        return _sources(response), _total(response)
    return await _deep_page(es, index, plan, es_query)


async def get_event(
    es: AsyncElasticsearch,
    index: str,
    event_id: str,
    domain_id: str | None,
    only: list[str] | None,
) -> dict | None:
    """One event of the caller's domain, or None (also when it belongs to another domain)."""
    response = await search_or_empty(
        es,
        index=index,
        query=scoped({"term": {"event_id": event_id}}, domain_id),
        size=1,
        **_source(source_includes(only)),
        **MISSING_OK,
    )
    sources = _sources(response)
    return sources[0] if sources else None


async def _all_results(
    es: AsyncElasticsearch, index: str, plan: ListPlan, query: dict, noun: str = "events"
) -> tuple[list[dict], int]:
    """No paging (limit 0): every match, refused past MAX_PAGE_SIZE rather than cut short."""
    response = await search_or_empty(
        es,
        index=index,
        query=query,
        sort=list(plan.sort),
        size=MAX_PAGE_SIZE,
        track_total_hits=True,
        **_source(plan.source_includes),
        **MISSING_OK,
    )
    total = _total(response)
    if total > MAX_PAGE_SIZE:
        raise QueryError(
            "ERROR_INVALID_ARGUMENT",
            f"{total} {noun} match; without paging at most {MAX_PAGE_SIZE} can be listed,"
            " set page.limit",
        )
    return _sources(response), total


async def _deep_page(
    es: AsyncElasticsearch, index: str, plan: ListPlan, query: dict
) -> tuple[list[dict], int]:
    """A page past the from+size window: skip `offset` events with search_after in a PIT."""
    async with point_in_time(es, index, ignore_unavailable=True) as pit:
        total: int | None = None
        after: list[Any] | None = None
        remaining = plan.offset
        while remaining > 0:
            response = await pit.search(
                query=query,
                sort=list(plan.sort),
                size=min(MAX_RESULT_WINDOW, remaining),
                source=False,
                track_total_hits=total is None,
                filter_path="pit_id,hits.total,hits.hits.sort",
                **({"search_after": after} if after else {}),
            )
            if total is None:
                total = _total(response)
                if plan.offset >= total:
                    return [], total
            hits = response.get("hits", {}).get("hits", [])
            if not hits:
                return [], total
            after = hits[-1]["sort"]
            remaining -= len(hits)
        response = await pit.search(
            query=query,
            sort=list(plan.sort),
            size=plan.limit,
            search_after=after,
            **_source(plan.source_includes),
        )
        return _sources(response), total if total is not None else _total(response)


def _source(includes: tuple[str, ...] | None) -> dict[str, Any]:
    return {} if includes is None else {"source_includes": list(includes)}


def _sources(response: dict) -> list[dict]:
    return [hit.get("_source", {}) for hit in response["hits"]["hits"]]


def _total(response: dict) -> int:
    return int(response["hits"]["total"]["value"])


# ---- stat --------------------------------------------------------------------------------


async def run_stat(
    es: AsyncElasticsearch,
    index: str,
    query: StatisticsQuery,
    domain_id: str | None,
    *,
    now: datetime | None = None,
    searchable: Searchable = EVENTS,
) -> dict[str, Any]:
    """`{results, total_count?}` of a StatisticsQuery over the events of one domain (None:
    all); with `searchable`, over another index's documents (alerts, notes, event rules)."""
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
        try:
            return await _aggregate(es, index, query, plan.group)
        except SetOverflow:  # a group's distinct values overflow a terms list: read the events
            plan = replace(plan, group=replace(plan.group, scan=True))
    async with aclosing(_window_pages(es, index, query, plan)) as pages:
        if plan.group is not None and not plan.event_stages:  # group page by page
            table = GroupTable(plan.group)
            position = 0
            async for page in pages:
                for key, states in groups_from_hits(plan.group, page, position):
                    table.add(key, states)
                position += len(page)
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
    sort = list(translate_sort(window.order, plan.searchable))
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
    async with point_in_time(es, index) as pit:
        skip, kept = window.offset, 0
        pages = pit.pages(size=SCAN_PAGE_SIZE, query=query, sort=sort, track_total_hits=False,
                          **options)  # fmt: skip
        async with aclosing(pages):
            async for hits in pages:
                dropped = min(skip, len(hits))
                skip -= dropped
                page = hits[dropped:]
                if window.limit is not None:
                    page = page[: window.limit - kept]
                kept += len(page)
                if kept > MAX_SCAN_DOCUMENTS:
                    raise too_large("events", MAX_SCAN_DOCUMENTS)
                yield page
                if window.limit is not None and kept >= window.limit:
                    return


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
