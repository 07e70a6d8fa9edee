"""How the gRPC face answers failures and deadlines, and a method's round built from a
service operation (caller, validation, answer), with a stand-in for grpc's context."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from pydantic import BaseModel

from query_api.grpc.common import Servicer, unary
from query_api.grpc.common import answer as answer_within
from query_api.grpc.convert import NotJson
from query_api.rest.errors import ApiError
from schemas.query import QueryError


class Greeting(BaseModel):
    name: str
    times: int = 1


async def greet(backend: str, caller: Any, request: Greeting) -> dict[str, Any]:
    """Says hello."""
    return {"text": f"{backend}: hello {request.name}", "times": request.times,
            "caller": caller}  # fmt: skip


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


def _struct(answer: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(answer)
    return struct


class Greeter(Servicer):
    def backend(self) -> str:
        return "greeter"

    hello = unary(greet, _struct, authenticated=False)
    hello_with_key = unary(greet, _struct)


async def test_a_method_validates_the_request_and_answers_through_the_operation() -> None:
    got = await Greeter(state=None).hello(_struct({"name": "ann", "times": 2}), Context(5.0))  # type: ignore[arg-type]
    assert dict(got) == {"text": "greeter: hello ann", "times": 2, "caller": None}
    assert Greeter.hello.__doc__ == "Says hello."


async def test_a_request_the_model_refuses_is_invalid_argument() -> None:
    context = Context(5.0)
    with pytest.raises(Aborted):
        await Greeter(state=None).hello(_struct({"times": 2}), context)  # type: ignore[arg-type]
    assert context.aborted is not None
    code, details, _ = context.aborted
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("ERROR_INVALID_ARGUMENT")
    assert "name" in details


async def test_a_method_that_needs_a_key_refuses_a_call_without_one() -> None:
    context = Context(5.0)
    with pytest.raises(Aborted):
        no_keys = SimpleNamespace(keys=None)  # not asked: there is no key to look up
        await Greeter(no_keys).hello_with_key(_struct({"name": "ann"}), context)  # type: ignore[arg-type]
    assert context.aborted is not None
    assert context.aborted[0] == grpc.StatusCode.UNAUTHENTICATED
    assert context.aborted[1].startswith("ERROR_AUTHENTICATE_FAILURE")
