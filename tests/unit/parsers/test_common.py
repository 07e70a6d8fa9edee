"""The shared helpers: times, keys and text as every parser reads them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.parsers.common import (
    labels_key,
    md5_key,
    parse_time,
    resource_from_labels,
    scalar_text,
)
from tests.unit.parsers.helpers import md5, raises_parse_error


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:00:05.123456789Z", datetime(2024, 5, 1, 12, 0, 5, 123456, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2021-06-10T04:28:46.868+0000", datetime(2021, 6, 10, 4, 28, 46, 868000, tzinfo=UTC)),
        ("2019-03-22T13:58:24.3713213Z", datetime(2019, 3, 22, 13, 58, 24, 371321, tzinfo=UTC)),
        ("Sat, 04 Jun 2016 05:01:10 GMT", datetime(2016, 6, 4, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01 12:00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),  # no zone: UTC
        (1714564800, datetime(2024, 5, 1, 12, tzinfo=UTC)),
        (1714564800.5, datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),  # Go's zero time: Alertmanager's "not yet"
        ("", None),
        (None, None),
    ],
)
def test_parse_time(value: object, expected: datetime | None) -> None:
    parsed = parse_time(value, "t")
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "t is not a time: 'soon'"),
        (True, "t must be a time, got boolean"),
        ([2024], "t must be a time, got list"),
        (float("nan"), "t must be a finite number of seconds"),
        (1e20, "t is out of range"),
        ("0001-01-01T00:00:00+01:00", "t is out of range"),
    ],
)
def test_parse_time_rejects(value: object, message: str) -> None:
    with raises_parse_error(message):
        parse_time(value, "t")


def test_parse_time_keeps_the_instant() -> None:
    tokyo = timezone(timedelta(hours=9))
    parsed = parse_time("2024-05-01T21:00:00+09:00", "t")
    assert parsed == datetime(2024, 5, 1, 21, tzinfo=tokyo)


@pytest.mark.parametrize(
    ("parts", "text"),
    [
        ((1, 2, 3, 1), "1:2:3:1"),
        ((1.0, "2", 30.5), "1:2:30.5"),
        (("host-1", "ü"), "host-1:ü"),
    ],
)
def test_md5_key(parts: tuple, text: str) -> None:
    assert md5_key(*parts) == md5(text)


def test_md5_key_survives_lone_surrogates() -> None:
    assert md5_key("\ud800") == md5_key("\ud800")
    assert md5_key("\ud800") != md5_key("\ud801")


def test_labels_key_ignores_label_order() -> None:
    labels = {"b": "2", "a": "1", "ü": "x"}
    expected = md5(json.dumps({"a": "1", "b": "2", "ü": "x"}, separators=(",", ":")))
    assert labels_key(labels) == labels_key(dict(reversed(labels.items()))) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("x", "x"), (3, "3"), (3.0, "3"), (0.25, "0.25"), (True, "true"), (-2, "-2")],
)
def test_scalar_text(value: object, expected: str) -> None:
    assert scalar_text(value, "v") == expected


@pytest.mark.parametrize(("value", "kind"), [(None, "null"), ({}, "object"), ([1], "list")])
def test_scalar_text_rejects(value: object, kind: str) -> None:
    with raises_parse_error(f"v must be text or a number, got {kind}"):
        scalar_text(value, "v")


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (
            {"job": "node", "instance": "a:9100", "pod": "p"},
            {"resource_id": "a:9100", "resource_type": "instance", "name": "a:9100"},
        ),
        (
            {"job": "node", "service": "api", "instance": " "},
            {"resource_id": "api", "resource_type": "service", "name": "api"},
        ),
        ({"alertname": "x"}, {}),
    ],
)
def test_resource_from_labels(labels: dict, expected: dict) -> None:
    assert resource_from_labels(labels) == expected
