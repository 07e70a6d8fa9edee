"""Run event reads against Elasticsearch: the only I/O of get and list.

Every read goes through `scoped`, so it sees only the caller's domain. A missing index
or alias reads as "no events yet". Pages past Elasticsearch's from+size window
(10,000) are reached by walking a point-in-time with search_after, so any page is
served exactly, consistently with its total_count; page N costs about N/10,000 extra
requests of sort values only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError

from query_api.translate import (
    EVENTS,
    INVALID,
    MAX_EXPANSION_VALUES,
    MAX_PAGE_SIZE,
    MAX_RESULT_WINDOW,
    Expansion,
    FilterPlan,
    ListPlan,
    Searchable,
    apply_expansions,
    scoped,
    source_includes,
    translate_list,
)
from schemas.query import Query, QueryError

# Causes of a refusal that lie in what the caller asked, whatever the HTTP status says
# (a terms `include` too complex to determinize comes back as a 500).
CALLER_FAULTS = frozenset({
    "too_complex_to_determinize_exception", "query_shard_exception", "parse_exception",
    "illegal_argument_exception", "x_content_parse_exception", "too_many_nested_clauses",
    "too_many_clauses", "invalid_regex_exception",
})  # fmt: skip
# Missing indices (no event indexed yet) read as empty instead of failing.
MISSING_OK: dict[str, Any] = {"ignore_unavailable": True, "allow_no_indices": True}
PIT_KEEP_ALIVE = "1m"


async def resolve_filter(
    es: AsyncElasticsearch, index: str, plan: FilterPlan, *, domain_id: str | None = None
) -> dict:
    """The plan's final query: each expansion's values looked up with a terms aggregation.

    With `domain_id`, only that domain's values are looked up (fewer values, and the
    ERROR_QUERY_TOO_BROAD cap counts only what the caller can see).
    """
    if not plan.expansions:
        return plan.query

    async def values_of(expansion: Expansion) -> list[str]:
        try:
            return await _values_of(expansion.field, expansion.pattern)
        except ApiError as error:
            if not caller_fault(error):
                raise
            raise QueryError(INVALID, f"{expansion.where}: {_reason(error)}") from error

    async def _values_of(field: str, pattern: str) -> list[str]:
        response = await _search(
            es,
            index=index,
            size=0,
            query=scoped({"match_all": {}}, domain_id),
            aggs={
                "values": {
                    "terms": {
                        "field": field,
                        "include": pattern,
                        "size": MAX_EXPANSION_VALUES + 1,
                    }
                }
            },
            **MISSING_OK,
        )
        aggregation = (response.get("aggregations") or {}).get("values") or {}
        return [str(bucket["key"]) for bucket in aggregation.get("buckets", [])]

    values = await asyncio.gather(*(values_of(e) for e in plan.expansions))
    return apply_expansions(plan, values)


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
        response = await _search(
            es, index=index, query=es_query, size=0, track_total_hits=True, **MISSING_OK
        )
        return [], _total(response)
    if plan.limit == 0:
        return await _all_results(es, index, plan, es_query, noun)
    if plan.offset + plan.limit <= MAX_RESULT_WINDOW:
        response = await _search(
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
    response = await _search(
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
    response = await _search(
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
    opened = await es.open_point_in_time(
        index=index, keep_alive=PIT_KEEP_ALIVE, ignore_unavailable=True
    )
    pit_id = opened["id"]
    try:
        total: int | None = None
        after: list[Any] | None = None
        remaining = plan.offset
        while remaining > 0:
            response = await _search(
                es,
                pit={"id": pit_id, "keep_alive": PIT_KEEP_ALIVE},
                query=query,
                sort=list(plan.sort),
                size=min(MAX_RESULT_WINDOW, remaining),
                source=False,
                track_total_hits=total is None,
                filter_path="pit_id,hits.total,hits.hits.sort",
                **({"search_after": after} if after else {}),
            )
            pit_id = response.get("pit_id", pit_id)
            if total is None:
                total = _total(response)
                if plan.offset >= total:
                    return [], total
            hits = response.get("hits", {}).get("hits", [])
            if not hits:
                return [], total
            after = hits[-1]["sort"]
            remaining -= len(hits)
        response = await _search(
            es,
            pit={"id": pit_id, "keep_alive": PIT_KEEP_ALIVE},
            query=query,
            sort=list(plan.sort),
            size=plan.limit,
            search_after=after,
            **_source(plan.source_includes),
        )
        return _sources(response), total if total is not None else _total(response)
    finally:
        try:
            await es.close_point_in_time(id=pit_id)
        except NotFoundError:
            pass  # expired already


async def _search(es: AsyncElasticsearch, **kwargs: Any) -> dict:
    """es.search; a missing index reads as no hits."""
    try:
        response = await es.search(**kwargs)
    except NotFoundError:
        # Belt and braces: MISSING_OK already makes a missing index read as empty.
        return {"hits": {"total": {"value": 0}, "hits": []}}
    return response.body


def _causes(error: ApiError) -> list[dict[str, Any]]:
    body = error.body if isinstance(error.body, dict) else {}
    top = body.get("error")
    if not isinstance(top, dict):
        return []
    causes = [c for c in top.get("root_cause") or [] if isinstance(c, dict)]
    for failure in top.get("failed_shards") or []:
        reason = failure.get("reason") if isinstance(failure, dict) else None
        while isinstance(reason, dict):
            causes.append(reason)
            reason = reason.get("caused_by")
    return causes or [top]


def caller_fault(error: ApiError) -> bool:
    """Whether Elasticsearch refused the request for what it asks (not for its own state)."""
    if error.meta.status == 400:
        return True
    return any(cause.get("type") in CALLER_FAULTS for cause in _causes(error))


def _reason(error: ApiError) -> str:
    """The root cause Elasticsearch gives (e.g. a regex too complex to run)."""
    for cause in _causes(error):
        if cause.get("reason"):
            return f"Elasticsearch refused the query: {cause['reason']}"
    return f"Elasticsearch refused the query: {error.message}"


async def refusal(
    es: AsyncElasticsearch, index: str, error: ApiError, plan: FilterPlan
) -> QueryError:
    """ERROR_INVALID_ARGUMENT for a request Elasticsearch refused because of the query,
    naming the condition when a regex was too complex (each regexp clause is checked
    on its own, with the validate API, to find which)."""
    reason = _reason(error)
    if "determiniz" in reason.lower() and plan.regexps:
        for where, clause in plan.regexps:
            try:
                checked = await es.indices.validate_query(index=index, query=clause, **MISSING_OK)
            except ApiError:
                continue
            if not checked.get("valid", True):
                return QueryError(INVALID, f"{where}: regex too complex to run; {reason}")
        named = "; ".join(where for where, _ in plan.regexps)
        return QueryError(INVALID, f"a regex is too complex to run ({named}); {reason}")
    return QueryError(INVALID, reason)


def _source(includes: tuple[str, ...] | None) -> dict[str, Any]:
    return {} if includes is None else {"source_includes": list(includes)}


def _sources(response: dict) -> list[dict]:
    return [hit.get("_source", {}) for hit in response["hits"]["hits"]]


def _total(response: dict) -> int:
    return int(response["hits"]["total"]["value"])
