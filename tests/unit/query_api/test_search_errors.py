"""Which Elasticsearch refusals are the caller's mistake (`query_api.query.elastic`)."""

from __future__ import annotations

from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError

from query_api.query.elastic import caller_fault
from query_api.query.elastic import refusal_reason as _reason

TOO_COMPLEX = {
    "error": {
        "root_cause": [{"type": "too_complex_to_determinize_exception", "reason": "Determinizing"
                        " automaton with 840 states would require more than 10000 effort."}],
        "type": "search_phase_execution_exception",
        "failed_shards": [{"reason": {"type": "too_complex_to_determinize_exception",
                                      "reason": "Determinizing automaton"}}],
    },
    "status": 500,
}  # fmt: skip
SHARDS_DOWN = {
    "error": {
        "root_cause": [{"type": "no_shard_available_action_exception", "reason": "no shard"}],
        "type": "search_phase_execution_exception",
    },
    "status": 503,
}


def error(status: int, body: Any) -> ApiError:
    meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "x", 9200))
    return ApiError("refused", meta, body)


@pytest.mark.parametrize(
    ("status", "body", "fault"),
    [
        (400, {"error": {"type": "parsing_exception", "reason": "bad"}}, True),
        (500, TOO_COMPLEX, True),
        (503, SHARDS_DOWN, False),
        (500, "not json", False),
    ],
)
def test_caller_fault(status: int, body: Any, fault: bool) -> None:
    assert caller_fault(error(status, body)) is fault


def test_reason_is_the_root_cause() -> None:
    assert "840 states" in _reason(error(500, TOO_COMPLEX))
