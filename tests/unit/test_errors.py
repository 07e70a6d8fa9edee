"""The error shape and Retry-After of refusals a client should retry."""

from __future__ import annotations

import pytest

from schemas.errors import ApiError, error_body, retry_after_header


@pytest.mark.parametrize(
    ("seconds", "header"),
    [(None, None), (0.2, {"Retry-After": "1"}), (1.0, {"Retry-After": "1"}),
     (1.01, {"Retry-After": "2"}), (30, {"Retry-After": "30"})],
)  # fmt: skip
def test_retry_after_rounds_up_to_whole_seconds(
    seconds: float | None, header: dict[str, str] | None
) -> None:
    assert retry_after_header(seconds) == header
    assert ApiError(503, "ERROR_UNAVAILABLE", "down", seconds).headers() == header


def test_error_body() -> None:
    assert error_body("ERROR_X", "why") == {"error": {"code": "ERROR_X", "message": "why"}}
