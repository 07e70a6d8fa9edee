"""get / list / stat of events for one authenticated caller: the one implementation behind
both faces of the Event API, the HTTP routes (`routes_events.py`) and gRPC
(`grpc_service.py`). Each takes the validated request model and answers the seed's
JSON shape; domain confinement happens here, so no face can skip it.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import AsyncElasticsearch

from query_api.deps import domain_scope
from query_api.errors import ApiError
from query_api.search import get_event, list_events
from query_api.stat_search import run_stat
from schemas.apikey import Caller
from schemas.messages import EventQuery, EventStatQuery, GetEventRequest


async def get_one(
    es: AsyncElasticsearch, index: str, caller: Caller, request: GetEventRequest
) -> dict[str, Any]:
    """One event by id (EventInfo, or only the requested fields); 404 when not visible."""
    domain = domain_scope(caller, request.domain_id)
    event = await get_event(es, index, request.event_id, domain, request.only)
    if event is None:
        raise ApiError(404, "ERROR_NOT_FOUND", f"event {request.event_id!r} not found")
    return event


async def list_page(
    es: AsyncElasticsearch, index: str, caller: Caller, request: EventQuery
) -> dict[str, Any]:
    """EventsInfo: `{results, total_count}` of the events matching the query."""
    domain = domain_scope(caller, request.domain_id)
    results, total = await list_events(es, index, request.query, request.exact_filters(), domain)
    return {"results": results, "total_count": total}


async def stat(
    es: AsyncElasticsearch, index: str, caller: Caller, request: EventStatQuery
) -> dict[str, Any]:
    """`{results, total_count?}` of a StatisticsQuery (SPEC §6)."""
    domain = domain_scope(caller, request.domain_id)
    return await run_stat(es, index, request.query, domain)
