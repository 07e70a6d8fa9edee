"""Helpers every parser shares, so that each bad payload fails the same way: with a ParseError.

Every accessor takes `where`, a path such as `alerts[2].labels`, so that the message tells
the user which part of their payload is wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import ValidationError

from schemas.event import ParsedEvent
from schemas.parser import ParseError

# Labels that name the thing an alert is about, in the order SPEC §7 tries them.
RESOURCE_LABELS = ("instance", "pod", "container", "node", "host", "service", "job")


def type_name(value: Any) -> str:
    """JSON's name for a value's type, for messages a user who wrote JSON understands."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def as_object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ParseError(f"{where} must be a JSON object, got {type_name(value)}")
    return value


def get_object(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    """An optional nested object: missing or null reads as empty."""
    value = obj.get(key)
    if value is None:
        return {}
    return as_object(value, f"{where}.{key}")


def require_object(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    if obj.get(key) is None:
        raise ParseError(f"{where} has no '{key}' object")
    return as_object(obj[key], f"{where}.{key}")


def get_list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """An optional list: missing or null reads as empty."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ParseError(f"{where}.{key} must be a list, got {type_name(value)}")
    return value


def require_list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    if not isinstance(obj.get(key), list):
        raise ParseError(f"{where} has no '{key}' list")
    return obj[key]


def scalar_text(value: Any, where: str) -> str:
    """Text of a JSON scalar; integral numbers print without a decimal point (`1.0` → `1`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    raise ParseError(f"{where} must be text or a number, got {type_name(value)}")


def get_text(obj: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    """An optional text field; numbers are accepted as their text, null reads as `default`."""
    value = obj.get(key)
    if value is None:
        return default
    return scalar_text(value, f"{where}.{key}")


def require_text(obj: Mapping[str, Any], key: str, where: str) -> str:
    """A text field the mapping cannot do without; empty counts as missing."""
    text = get_text(obj, key, where).strip()
    if not text:
        raise ParseError(f"{where} has no '{key}'")
    return text


def first_text(*values: str) -> str:
    """The first non-blank value, the `a ‖ b` of SPEC §7."""
    return next((value for value in values if value.strip()), "")


def text_map(obj: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
    """A label-like object of text values (Prometheus labels, Grafana annotations)."""
    return {
        str(name): scalar_text(value, f"{where}.{key}.{name}")
        for name, value in get_object(obj, key, where).items()
        if value is not None
    }


def md5_key(*parts: Any, where: str = "event key") -> str:
    """Hex md5 of the parts joined with `:` (SPEC §7: "md5 of a:b:c")."""
    text = ":".join(scalar_text(part, where) for part in parts)
    # surrogatepass: JSON may carry lone surrogates ("\ud800"); the key must still be stable.
    return hashlib.md5(text.encode("utf-8", "surrogatepass")).hexdigest()


def labels_key(labels: Mapping[str, str]) -> str:
    """Hex md5 of the labels as compact JSON with sorted keys; stands in for a fingerprint."""
    canonical = json.dumps(labels, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.md5(canonical.encode("ascii")).hexdigest()


def fingerprint_key(alert: Mapping[str, Any], labels: Mapping[str, str], where: str) -> str:
    """An Alertmanager-style alert's `fingerprint`, else labels_key(labels)."""
    if fingerprint := get_text(alert, "fingerprint", where).strip():
        return fingerprint
    if not labels:
        raise ParseError(f"{where} has neither a 'fingerprint' nor labels to identify it by")
    return labels_key(labels)


def epoch_to_datetime(value: Any, where: str) -> datetime:
    """Seconds since the epoch (int, float or numeric text) as an aware UTC datetime."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ParseError(f"{where} must be seconds since the epoch, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParseError(f"{where} must be seconds since the epoch, got {type_name(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ParseError(f"{where} must be a finite number of seconds, got {value!r}")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ParseError(f"{where} is out of range: {value!r}") from None


def parse_time(value: Any, where: str) -> datetime | None:
    """A source time as an aware UTC datetime: ISO-8601, RFC 1123 or epoch seconds.

    Null, empty text and Go's zero time (`0001-01-01T00:00:00Z`, Alertmanager's "not yet")
    read as None; anything else that is not a time is a ParseError.
    """
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return epoch_to_datetime(value, where)
    if not isinstance(value, str):
        raise ParseError(f"{where} must be a time, got {type_name(value)}")
    text = value.strip()
    if not text:
        return None
    iso = text[:-1] + "+00:00" if text[-1] in "Zz" else text
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)  # AWS Health: "Sat, 04 Jun 2016 05:01:10 GMT"
        except (TypeError, ValueError, IndexError):
            raise ParseError(f"{where} is not a time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ParseError(f"{where} is out of range: {value!r}") from None
    return None if parsed.year == 1 else parsed


def lookup(table: Mapping[str, Any], value: str, default: Any) -> Any:
    """Case- and blank-insensitive table lookup for a source's state or severity name."""
    return table.get(value.strip().lower(), default)


def resource_from_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Resource named by the first present label of RESOURCE_LABELS, else empty."""
    for name in RESOURCE_LABELS:
        if value := labels.get(name, "").strip():
            return {"resource_id": value, "resource_type": name, "name": value}
    return {}


def build_event(where: str, /, **fields: Any) -> ParsedEvent:
    """Validate one event; a model error becomes a ParseError naming the field."""
    try:
        event = ParsedEvent.model_validate(fields)
    except ValidationError as exc:
        raise ParseError(f"{where}: {describe_validation_error(exc)}") from None
    if not event.event_key:
        raise ParseError(f"{where} has no event key")
    return event


def describe_validation_error(exc: ValidationError) -> str:
    """pydantic's errors as one line: `severity: Input should be 'CRITICAL', … ; …`."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'event'}: {error['msg']}"
        for error in exc.errors(include_url=False)
    )


def compact(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Drop empty values, so additional_info holds only what the source said."""
    return {key: value for key, value in mapping.items() if value not in (None, "", [], {})}
