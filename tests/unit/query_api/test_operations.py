"""Both faces are built from service operations: the request model read from the operation.
(A gRPC method's round built from one: `test_grpc_service.py`.)"""

from __future__ import annotations

from typing import Any

import pytest

from query_api.services import alerts, event_rules, events, notes
from query_api.services.operation import request_model
from schemas.alert import CreateAlertRequest, CreateNoteRequest
from schemas.event_rule import EventRuleQuery
from schemas.messages import EventStatQuery


async def untyped(backend: Any, caller: Any, request: dict) -> dict:
    return request


@pytest.mark.parametrize(
    ("operation", "model"),
    [
        (alerts.create, CreateAlertRequest),
        (notes.create, CreateNoteRequest),  # its backend's type is only for type checkers
        (event_rules.list_rules, EventRuleQuery),  # keyword-only parameters after the request
        (events.stat, EventStatQuery),
    ],
)
def test_the_request_model_is_the_operations_third_parameter(operation: Any, model: type) -> None:
    assert request_model(operation) is model


def test_an_operation_without_a_request_model_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="untyped"):
        request_model(untyped)
