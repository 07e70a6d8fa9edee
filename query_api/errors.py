"""Every failure becomes `{"error": {"code": "ERROR_…", "message": "…"}}`, never a stack trace.

Bad input is 4xx with the code SPEC §5 names; an unreachable Elasticsearch is 503
so callers retry; anything unexpected is logged here and answered 500 without
details.
"""

from __future__ import annotations

import logging

from elasticsearch import ApiError as EsApiError
from elasticsearch import BadRequestError as EsBadRequest
from elasticsearch import ConnectionError as EsConnectionError
from elasticsearch import ConnectionTimeout as EsConnectionTimeout
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.errors import ApiError, error_body, retry_after_header
from schemas.event_rule import EventRuleError
from schemas.query import QueryError
from schemas.webhook import WebhookError

__all__ = ["ApiError", "error_response"]

log = logging.getLogger("eventpipe.api")

HTTP_CODES = {
    400: "ERROR_INVALID_ARGUMENT",
    401: "ERROR_AUTHENTICATE_FAILURE",
    403: "ERROR_PERMISSION_DENIED",
    404: "ERROR_NOT_FOUND",
    405: "ERROR_METHOD_NOT_ALLOWED",
    408: "ERROR_REQUEST_TIMEOUT",
    413: "ERROR_REQUEST_TOO_LARGE",
    429: "ERROR_TOO_MANY_REQUESTS",
    415: "ERROR_UNSUPPORTED_MEDIA_TYPE",
}


def error_response(
    status: int, code: str, message: str, retry_after: float | None = None
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message), status_code=status, headers=retry_after_header(retry_after)
    )


def _retry_after(request: Request) -> float:
    return float(request.app.state.settings.api.retry_after_seconds)


def describe_validation(error: RequestValidationError | ValidationError) -> str:
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
        case RequestValidationError() | ValidationError():
            return ApiError(400, "ERROR_INVALID_ARGUMENT", describe_validation(error))
        case StarletteHTTPException():
            code = HTTP_CODES.get(error.status_code, "ERROR_REQUEST")
            return ApiError(error.status_code, code, str(error.detail))
        case EsConnectionError() | EsConnectionTimeout():
            log.warning("elasticsearch unreachable: %r", error)
            return ApiError(503, "ERROR_UNAVAILABLE", "Elasticsearch is unreachable; retry")
        case EsBadRequest():
            return ApiError(400, "ERROR_DB_QUERY", _es_reason(error))
        case EsApiError() if error.meta.status in (429, 503):
            # busy, or a new index's shards not ready yet
            return ApiError(503, "ERROR_UNAVAILABLE", "Elasticsearch is busy; retry")
        case EsApiError():
            log.error("elasticsearch error %s: %s", error.meta.status, _es_reason(error))
            return ApiError(502, "ERROR_DB", "Elasticsearch could not answer the request")
    log.exception("unexpected error", exc_info=error)
    return ApiError(500, "ERROR_INTERNAL", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    async def _answer(request: Request, error: Exception) -> JSONResponse:
        api_error = to_api_error(error)
        retry = api_error.retry_after
        if retry is None and api_error.status == 503:  # a dependency down: retry later
            retry = _retry_after(request)
        return error_response(api_error.status, api_error.code, api_error.message, retry)

    for kind in (ApiError, WebhookError, EventRuleError, QueryError, RequestValidationError,
                 StarletteHTTPException, EsConnectionError, EsConnectionTimeout, EsApiError,
                 Exception):  # fmt: skip
        app.add_exception_handler(kind, _answer)


def _es_reason(error: EsApiError) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    cause = body.get("error", {})
    if isinstance(cause, dict):
        root = (cause.get("root_cause") or [cause])[0]
        return str(root.get("reason", error.message))
    return str(error.message)
