"""The one error shape every client sees: `{"error": {"code": "ERROR_…", "message": "…"}}`.

Defined here, below both the intake and the query service, so each answers it the same way
without importing the other. A refusal the client should simply retry (503: a dependency
down or slow; 429: over a rate limit) carries `Retry-After`, in whole seconds.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the API answers as is: HTTP status, ERROR_* code, message (and Retry-After)."""

    def __init__(
        self, status: int, code: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retry_after = retry_after

    def headers(self) -> dict[str, str] | None:
        return retry_after_header(self.retry_after)


class ResourceError(Exception):
    """A request about one kind of resource that cannot be served. Each kind has one
    subclass (`WebhookError`, `EventRuleError`), each refusal a subclass of that setting
    `status` and `code`: what the API answers, with the message."""

    status = 400
    code = "ERROR_INVALID_ARGUMENT"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def retry_after_header(seconds: float | None) -> dict[str, str] | None:
    """`{"Retry-After": "N"}` (N ≥ 1, whole seconds, rounded up), or None."""
    if seconds is None:
        return None
    return {"Retry-After": str(max(1, int(-(-seconds // 1))))}


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON body of an error answer."""
    return {"error": {"code": code, "message": message}}
