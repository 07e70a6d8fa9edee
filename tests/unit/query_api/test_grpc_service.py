"""How the gRPC face answers failures and deadlines, with a stand-in for grpc's context."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from query_api.grpc.common import answer as answer_within
from query_api.grpc.convert import NotJson
from query_api.rest.errors import ApiError
from schemas.query import QueryError


class Aborted(Exception):
    pass


class Context:
    """The part of grpc.aio.ServicerContext the servicers use."""

    def __init__(self, remaining: float | None = None) -> None:
        self.remaining = remaining
        self.aborted: tuple[grpc.StatusCode, str, Any] | None = None

    def time_remaining(self) -> float | None:
        return self.remaining

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()
    ) -> None:
        self.aborted = (code, details, trailing_metadata)
        raise Aborted(details)


async def answer(work: Callable[[], Awaitable[Any]], remaining: float | None = None) -> Context:
    context = Context(remaining)
    with pytest.raises(Aborted):
        await answer_within(context, work)  # type: ignore[arg-type]
    return context


def failing(error: Exception) -> Callable[[], Awaitable[Any]]:
    async def work() -> Any:
        raise error

    return work


async def test_work_within_the_deadline_answers() -> None:
    async def work() -> str:
        await asyncio.sleep(0.01)
        return "ok"

    assert await answer_within(Context(5.0), work) == "ok"  # type: ignore[arg-type]
    assert await answer_within(Context(None), work) == "ok"  # type: ignore[arg-type]


async def test_work_past_the_deadline_is_cancelled() -> None:
    finished = False

    async def work() -> None:
        nonlocal finished
        await asyncio.sleep(5)
        finished = True

    context = await answer(work, remaining=0.05)
    assert context.aborted is not None
    assert context.aborted[0] == grpc.StatusCode.DEADLINE_EXCEEDED
    assert not finished


@pytest.mark.parametrize(
    ("error", "status", "details"),
    [
        (ApiError(404, "ERROR_NOT_FOUND", "event 'x' not found"), grpc.StatusCode.NOT_FOUND,
         "ERROR_NOT_FOUND: event 'x' not found"),
        (QueryError("ERROR_OPERATOR_VALUE_TYPE", "a list for eq"),
         grpc.StatusCode.INVALID_ARGUMENT, "ERROR_OPERATOR_VALUE_TYPE: a list for eq"),
        (NotJson("nan is not a JSON number"), grpc.StatusCode.INVALID_ARGUMENT,
         "ERROR_INVALID_ARGUMENT: nan is not a JSON number"),
        (RuntimeError("secret internals"), grpc.StatusCode.INTERNAL,
         "ERROR_INTERNAL: internal error"),
        # A TimeoutError of the work itself is not the client's deadline.
        (TimeoutError("kafka"), grpc.StatusCode.INTERNAL, "ERROR_INTERNAL: internal error"),
    ],
)  # fmt: skip
async def test_failures_map_to_status_and_rest_code(
    error: Exception, status: grpc.StatusCode, details: str
) -> None:
    context = await answer(failing(error), remaining=30.0)
    assert context.aborted is not None
    code, text, trailing = context.aborted
    assert (code, text) == (status, details)
    assert trailing == (("error-code", details.split(":")[0]),)
    assert "Traceback" not in text and "secret" not in text
