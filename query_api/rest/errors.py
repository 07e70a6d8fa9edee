"""Every failure of a REST request becomes `{"error": {"code": "ERROR_…", "message": "…"}}`,
never a stack trace: the services' mapping (`query_api.services.errors`) plus the web
framework's own errors (request validation, unknown routes and methods), and Retry-After
on every 503.
"""

from __future__ import annotations

from elasticsearch import ApiError as EsApiError
from elasticsearch import ConnectionError as EsConnectionError
from elasticsearch import ConnectionTimeout as EsConnectionTimeout
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from query_api.services.errors import describe_validation, to_api_error
from schemas.errors import ApiError, error_body, retry_after_header
from schemas.event_rule import EventRuleError
from schemas.query import QueryError
from schemas.webhook import WebhookError

__all__ = ["ApiError", "error_response"]

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


def to_http_error(error: Exception) -> ApiError:
    """The service mapping (`query_api.services.errors`), plus the framework's own errors."""
    match error:
        case RequestValidationError():
            return ApiError(400, "ERROR_INVALID_ARGUMENT", describe_validation(error))
        case StarletteHTTPException():
            code = HTTP_CODES.get(error.status_code, "ERROR_REQUEST")
            return ApiError(error.status_code, code, str(error.detail))
    return to_api_error(error)


def install_error_handlers(app: FastAPI) -> None:
    async def _answer(request: Request, error: Exception) -> JSONResponse:
        api_error = to_http_error(error)
        retry = api_error.retry_after
        if retry is None and api_error.status == 503:  # a dependency down: retry later
            retry = _retry_after(request)
        return error_response(api_error.status, api_error.code, api_error.message, retry)

    for kind in (ApiError, WebhookError, EventRuleError, QueryError, RequestValidationError,
                 StarletteHTTPException, EsConnectionError, EsConnectionTimeout, EsApiError,
                 Exception):  # fmt: skip
        app.add_exception_handler(kind, _answer)
