"""What the API answers for any failure a service raises: one mapping for both faces.

Bad input is 4xx with the code SPEC §5 names; an unreachable Elasticsearch is 503
so callers retry; anything unexpected is logged here and answered 500 without
details. The REST face adds the framework's own errors (`query_api.rest.errors`); the
gRPC face turns the answer into a status (`query_api.grpc.common`).
"""

from __future__ import annotations

import logging
from typing import Protocol

from elasticsearch import ApiError as EsApiError
from elasticsearch import BadRequestError as EsBadRequest
from elasticsearch import ConnectionError as EsConnectionError
from elasticsearch import ConnectionTimeout as EsConnectionTimeout
from pydantic import ValidationError

from schemas.errors import ApiError
from schemas.event_rule import EventRuleError
from schemas.query import QueryError
from schemas.webhook import WebhookError

log = logging.getLogger("eventpipe.api")


class Invalid(Protocol):
    """A validation failure: pydantic's, or the web framework's request validation."""

    def errors(self) -> list: ...


def describe_validation(error: Invalid) -> str:
    """One readable line per problem: where in the body, and what is wrong."""
    lines = []
    for item in error.errors()[:5]:
        if item.get("type") == "json_invalid":
            return f"the body is not valid JSON: {item.get('ctx', {}).get('error', 'invalid')}"
        if tuple(item.get("loc", ())) == ("body",) and item.get("type") in (
            "model_attributes_type",
            "dict_type",
        ):
            return "the body must be a JSON object, sent with Content-Type: application/json"
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        message = str(item.get("msg", "invalid"))
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines) or "invalid request"


def to_api_error(error: Exception) -> ApiError:
    """What the API answers for any failure: the one mapping both faces (HTTP and gRPC) use."""
    match error:
        case ApiError():
            return error
        case WebhookError() | EventRuleError():
            return ApiError(error.status, error.code, error.message)
        case QueryError():
            return ApiError(400, error.code, error.message)
        case ValidationError():
            return ApiError(400, "ERROR_INVALID_ARGUMENT", describe_validation(error))
        case EsConnectionError() | EsConnectionTimeout():
            log.warning("elasticsearch unreachable: %r", error)
            return ApiError(503, "ERROR_UNAVAILABLE", "Elasticsearch is unreachable; retry")
        case EsBadRequest():
            return ApiError(400, "ERROR_DB_QUERY", es_reason(error))
        case EsApiError() if error.meta.status in (429, 503):
            # busy, or a new index's shards not ready yet
            return ApiError(503, "ERROR_UNAVAILABLE", "Elasticsearch is busy; retry")
        case EsApiError():
            log.error("elasticsearch error %s: %s", error.meta.status, es_reason(error))
            return ApiError(502, "ERROR_DB", "Elasticsearch could not answer the request")
    log.exception("unexpected error", exc_info=error)
    return ApiError(500, "ERROR_INTERNAL", "internal error")


def es_reason(error: EsApiError) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    cause = body.get("error", {})
    if isinstance(cause, dict):
        root = (cause.get("root_cause") or [cause])[0]
        return str(root.get("reason", error.message))
    return str(error.message)
