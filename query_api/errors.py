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
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.errors import ApiError, error_body, retry_after_header
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


def describe_validation(error: RequestValidationError) -> str:
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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.retry_after)

    @app.exception_handler(WebhookError)
    async def _webhook(request: Request, error: WebhookError) -> JSONResponse:
        retry = _retry_after(request) if error.status == 503 else None
        return error_response(error.status, error.code, error.message, retry)

    @app.exception_handler(QueryError)
    async def _query(_: Request, error: QueryError) -> JSONResponse:
        return error_response(400, error.code, error.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(400, "ERROR_INVALID_ARGUMENT", describe_validation(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(error.status_code, "ERROR_REQUEST")
        return error_response(error.status_code, code, str(error.detail))

    @app.exception_handler(EsConnectionError)
    @app.exception_handler(EsConnectionTimeout)
    async def _unreachable(request: Request, error: Exception) -> JSONResponse:
        log.warning("elasticsearch unreachable: %r", error)
        return error_response(
            503, "ERROR_UNAVAILABLE", "Elasticsearch is unreachable; retry", _retry_after(request)
        )

    @app.exception_handler(EsBadRequest)
    async def _es_bad_request(_: Request, error: EsBadRequest) -> JSONResponse:
        return error_response(400, "ERROR_DB_QUERY", _es_reason(error))

    @app.exception_handler(EsApiError)
    async def _es_error(request: Request, error: EsApiError) -> JSONResponse:
        if error.meta.status in (429, 503):  # busy, or a new index's shards not ready yet
            return error_response(
                503, "ERROR_UNAVAILABLE", "Elasticsearch is busy; retry", _retry_after(request)
            )
        log.error("elasticsearch error %s: %s", error.meta.status, _es_reason(error))
        return error_response(502, "ERROR_DB", "Elasticsearch could not answer the request")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=error)
        return error_response(500, "ERROR_INTERNAL", "internal error")


def _es_reason(error: EsApiError) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    cause = body.get("error", {})
    if isinstance(cause, dict):
        root = (cause.get("root_cause") or [cause])[0]
        return str(root.get("reason", error.message))
    return str(error.message)
