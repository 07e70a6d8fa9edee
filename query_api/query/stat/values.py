"""How an event's fields read in a stat: epoch millis and stored dates in EventInfo form
(`2024-05-01T00:00:00.000Z`), and a field as the event stores it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from query_api.query.stat.rows import MISSING, lookup, read_number
from schemas.event import format_timestamp
from schemas.index import FieldKind, FieldMap

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def date_fields(fields: FieldMap) -> tuple[str, ...]:
    """The top-level date fields of a collection (events: created_at, occurred_at)."""
    return tuple(n for n, spec in fields.properties.items() if spec.get("type") == "date")


def from_millis(millis: float | int | str) -> datetime:
    """An epoch-millis value as Elasticsearch returns it (number or text), exactly."""
    return EPOCH + timedelta(milliseconds=int(float(millis)))


def format_millis(millis: float | int | str) -> str:
    """An epoch-millis value in EventInfo form."""
    return format_timestamp(from_millis(millis))


def stored_value(source: dict[str, Any], path: str, kind: FieldKind | None) -> Any:
    """A field as stored in an event (`MISSING` if absent); dates formatted as in EventInfo."""
    value = lookup(source, path)
    if kind == "date" and value is not MISSING and value is not None:
        return format_stored_date(value)
    return value


def format_stored_date(value: Any) -> Any:
    """A stored date (ISO text, epoch millis, or a list of them) in EventInfo form."""
    if isinstance(value, list):
        return [format_stored_date(v) for v in value]
    if isinstance(value, int | float):
        return format_millis(value)
    instant = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return format_timestamp(instant if instant.tzinfo else instant.replace(tzinfo=UTC))


def value_order(value: Any) -> tuple[int, int | float, Any]:
    """Where an indexed value stands for max and min over events: values that read as
    numbers first, by value (MongoDB orders numbers before strings), then text by code point."""
    number = read_number(value)
    return (1, 0, value) if number is None else (0, number, value)
