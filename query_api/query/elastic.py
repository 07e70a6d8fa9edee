"""A translated query run on Elasticsearch, with no web framework: filter expansions
resolved, a missing index read as empty, and refusals told apart.

Used by every list and by stat (`query_api.services`). A request Elasticsearch refuses
for what the caller asked becomes ERROR_INVALID_ARGUMENT naming the condition
(`refusal`); one it refuses for its own state stays an Elasticsearch error.
"""

from __future__ import annotations

import asyncio
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError

from query_api.query.translate import (
    INVALID,
    MAX_EXPANSION_VALUES,
    Expansion,
    FilterPlan,
    apply_expansions,
    scoped,
)
from schemas.query import QueryError

# Causes of a refusal that lie in what the caller asked, whatever the HTTP status says
# (a terms `include` too complex to determinize comes back as a 500).
CALLER_FAULTS = frozenset({
    "too_complex_to_determinize_exception", "query_shard_exception", "parse_exception",
    "illegal_argument_exception", "x_content_parse_exception", "too_many_nested_clauses",
    "too_many_clauses", "invalid_regex_exception",
})  # fmt: skip
# Missing indices (no event indexed yet) read as empty instead of failing.
MISSING_OK: dict[str, Any] = {"ignore_unavailable": True, "allow_no_indices": True}


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
            raise QueryError(INVALID, f"{expansion.where}: {refusal_reason(error)}") from error

    async def _values_of(field: str, pattern: str) -> list[str]:
        response = await search_or_empty(
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


async def search_or_empty(es: AsyncElasticsearch, **kwargs: Any) -> dict:
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


def refusal_reason(error: ApiError) -> str:
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
    reason = refusal_reason(error)
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
