"""What the intake takes of a body: at most `max_body_bytes` (413, counted as it is read,
never buffered whole first), UTF-8 JSON nested at most `max_json_depth` levels (400).

Every refusal is counted in `INTAKE_REQUESTS` by status, as every answer of the intake is.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ingest.metrics import INTAKE_REQUESTS
from schemas.errors import ApiError


async def read_body(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    """The request body, refused with 413 past `limit` bytes without reading it all."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise refused(413, "ERROR_REQUEST_TOO_LARGE", f"the body exceeds {limit} bytes")
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise refused(413, "ERROR_REQUEST_TOO_LARGE", f"the body exceeds {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def parse_json(body: bytes, max_depth: int) -> Any:
    """The body as JSON: UTF-8 only (no other encoding guessed), nested at most `max_depth`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise refused(
            400, "ERROR_INVALID_ARGUMENT", f"the body is not UTF-8 (byte {error.start})"
        ) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise refused(400, "ERROR_INVALID_ARGUMENT", f"the body is not JSON: {error}") from None
    except RecursionError:
        value = None
        depth = max_depth + 1
    else:
        depth = json_depth(value, max_depth) if _may_nest(text, max_depth) else 0
    if depth > max_depth:
        raise refused(
            400, "ERROR_INVALID_ARGUMENT", f"the body is nested deeper than {max_depth} levels"
        )
    return value


def _may_nest(text: str, max_depth: int) -> bool:
    """False when the body has too few brackets to nest past `max_depth` (the usual case)."""
    return text.count("[") + text.count("{") > max_depth


def json_depth(value: Any, limit: int) -> int:
    """How deep objects and arrays nest in `value`, counted up to `limit` + 1 (iteratively)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def refused(status: int, code: str, message: str, retry_after: float | None = None) -> ApiError:
    INTAKE_REQUESTS.labels(str(status)).inc()
    return ApiError(status, code, message, retry_after)
