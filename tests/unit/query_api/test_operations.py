"""Both faces built from service operations: the request model read from the operation, and
a gRPC method's round (caller, validation, answer) with a stand-in for grpc's context."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from pydantic import BaseModel

from query_api.grpc.common import Servicer, unary
from query_api.services import alerts, event_rules, events, notes
from query_api.services.operation import request_model
from schemas.alert import CreateAlertRequest, CreateNoteRequest
from schemas.event_rule import EventRuleQuery
from schemas.messages import EventStatQuery
from tests.unit.query_api.test_grpc_service import Aborted, Context


class Greeting(BaseModel):
    name: str
    times: int = 1


async def greet(backend: str, caller: Any, request: Greeting) -> dict[str, Any]:
    """Says hello."""
    return {"text": f"{backend}: hello {request.name}", "times": request.times,
            "caller": caller}  # fmt: skip


async def untyped(backend: Any, caller: Any, request: dict) -> dict:
    return request


@pytest.mark.parametrize(
    ("operation", "model"),
    [
        (alerts.create, CreateAlertRequest),
        (notes.create, CreateNoteRequest),  # its backend's type is only for type checkers
        (event_rules.list_rules, EventRuleQuery),  # keyword-only parameters after the request
        (events.stat, EventStatQuery),
        (greet, Greeting),
    ],
)
def test_the_request_model_is_the_operations_third_parameter(operation: Any, model: type) -> None:
    assert request_model(operation) is model


def test_an_operation_without_a_request_model_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="untyped"):
        request_model(untyped)


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
    answer = await Greeter(state=None).hello(_struct({"name": "ann", "times": 2}), Context(5.0))  # type: ignore[arg-type]
    assert dict(answer) == {"text": "greeter: hello ann", "times": 2, "caller": None}
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
