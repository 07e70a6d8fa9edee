"""The intake's JSON check: UTF-8 only, nesting depth bounded, 400 for anything else."""

from __future__ import annotations

import pytest

from ingest.intake.limits import json_depth, parse_json
from schemas.errors import ApiError


@pytest.mark.parametrize(
    ("value", "depth"),
    [(1, 0), ("s", 0), ({}, 1), ([], 1), ({"a": [1, {"b": None}]}, 3), ([[[[]]], 1], 4)],
)
def test_json_depth(value: object, depth: int) -> None:
    assert json_depth(value, 100) == depth


def test_json_depth_stops_past_the_limit() -> None:
    deep: object = 1
    for _ in range(10_000):
        deep = [deep]
    assert json_depth(deep, 10) == 11


@pytest.mark.parametrize(
    "body",
    [b"[" * 11 + b"]" * 11, b"[" * 100_000, b"\xff{}", '{"a": 1}'.encode("utf-16"),
     '{"a": 1}'.encode("utf-32"), b"", b"{", b"NaN-ish"],
)  # fmt: skip
def test_refused_bodies(body: bytes) -> None:
    with pytest.raises(ApiError) as refused:
        parse_json(body, 10)
    assert (refused.value.status, refused.value.code) == (400, "ERROR_INVALID_ARGUMENT")


def test_accepted_bodies() -> None:
    nested = parse_json(b"[" * 10 + b"]" * 10, 10)
    assert json_depth(nested, 100) == 10
    assert parse_json('{"t": "café ✓"}'.encode(), 10) == {"t": "café ✓"}
    assert parse_json(b"123", 1) == 123
