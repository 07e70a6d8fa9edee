"""Webhook list: a Query (SPEC §5) over the webhooks index, with the events' translator.

Filters, keyword and sort come from `query_api.translate` with the `WEBHOOKS` field map
(read from `schemas.index.WEBHOOK_MAPPINGS`), so the two lists share every operator,
null value, case rule and error code. Here: the page window, the domain scope, the
exact-match filters and `only`/`minimal`. The key hash is never filtered, sorted or
returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError

from query_api.search import caller_fault, refusal, resolve_filter
from query_api.translate import (
    INVALID,
    MAX_RESULT_WINDOW,
    WEBHOOKS,
    FilterPlan,
    build_filter,
    scoped,
    translate_sort,
)
from schemas.query import Query, QueryError
from schemas.webhook import WebhookInfo

SECRET_FIELDS = ("access_key_sha256",)
MINIMAL_FIELDS = ("webhook_id", "name", "state")


def translate_list(
    query: Query, exact: Mapping[str, str], *, now: datetime
) -> tuple[FilterPlan, dict[str, Any]]:
    """The filter (domain not yet applied) and the other `es.search` arguments of a list."""
    plan = build_filter(query.filter, query.filter_or, query.keyword, now=now,
                        searchable=WEBHOOKS)  # fmt: skip
    if exact:
        terms = [{"term": {name: value}} for name, value in exact.items()]
        plan = FilterPlan({"bool": {"filter": [*terms, plan.query]}}, plan.expansions,
                          plan.regexps)  # fmt: skip
    start, limit = query.page.start - 1, query.page.limit or MAX_RESULT_WINDOW
    if query.count_only:
        start, limit = 0, 0
    elif start + limit > MAX_RESULT_WINDOW:
        raise QueryError(INVALID, f"page beyond the first {MAX_RESULT_WINDOW} webhooks")
    return plan, {
        "sort": list(translate_sort(query.sort, WEBHOOKS)),
        "from_": start,
        "size": limit,
        "track_total_hits": True,
        "source_excludes": list(SECRET_FIELDS),
    }


async def list_webhooks(
    es: AsyncElasticsearch,
    index: str,
    query: Query,
    exact: Mapping[str, str] | None = None,
    domain_id: str | None = None,
    *,
    now: datetime | None = None,
) -> tuple[list[WebhookInfo | dict[str, Any]], int]:
    """Webhooks matching a Query (and exact filters) within a domain: (results, total)."""
    plan, options = translate_list(query, exact or {}, now=now or datetime.now(UTC))
    try:
        resolved = await resolve_filter(es, index, plan, domain_id=domain_id)
        found = await es.search(index=index, query=scoped(resolved, domain_id), **options)
    except NotFoundError:  # no webhook was ever created
        return [], 0
    except ApiError as error:
        if not caller_fault(error):
            raise
        raise await refusal(es, index, error, plan) from error
    total = found["hits"]["total"]["value"]
    if query.count_only:
        return [], total
    results: list[WebhookInfo | dict[str, Any]] = []
    for hit in found["hits"]["hits"]:
        info = WebhookInfo.model_validate(hit["_source"])
        if query.only or query.minimal:
            results.append(select_fields(info.model_dump(mode="json"), query))
        else:
            results.append(info)
    return results, total


def select_fields(document: dict[str, Any], query: Query) -> dict[str, Any]:
    """`only` (dotted keys keep their nesting) or `minimal`; the whole document otherwise."""
    names = query.only or (list(MINIMAL_FIELDS) if query.minimal else None)
    if not names:
        return document
    picked: dict[str, Any] = {}
    for name in names:
        source: Any = document
        parts = name.split(".")
        for part in parts:
            source = source.get(part, _MISSING) if isinstance(source, dict) else _MISSING
        if source is _MISSING:
            continue
        target = picked
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = source
    return picked


_MISSING = object()
