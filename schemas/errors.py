"""The one error shape every client sees: `{"error": {"code": "ERROR_…", "message": "…"}}`.

Defined here, below both the intake and the query service, so each answers it the same way
without importing the other.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the API answers as is: HTTP status, ERROR_* code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON body of an error answer."""
    return {"error": {"code": code, "message": message}}
