"""Standard, plugin id `standard`: senders that already speak our event shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.parsers.common import as_object, build_event, type_name
from schemas.event import ParsedEvent
from schemas.parser import ParseError


def parse(data: Any, options: Mapping[str, Any]) -> list[ParsedEvent]:
    """Validate one event object, or a list of them, as ParsedEvent; `options` unused.

    Every field is taken as given (SPEC §3 names and values: event_key, event_type,
    title, description, severity, rule, resource {resource_id, resource_type, name},
    provider, account, image_url, occurred_at, additional_info); unknown fields are
    dropped, omitted ones take the defaults (ALERT, NONE, empty). A missing or blank
    event_key is an error: without it the event cannot be correlated.
    """
    if isinstance(data, list):
        return [_to_event(item, f"event [{index}]") for index, item in enumerate(data)]
    if isinstance(data, Mapping):
        return [_to_event(data, "event")]
    raise ParseError(f"standard payload must be an event object or a list, got {type_name(data)}")


def _to_event(raw: Any, where: str) -> ParsedEvent:
    event = as_object(raw, where)
    key = event.get("event_key")
    if not isinstance(key, str) or not key.strip():
        raise ParseError(f"{where} has no 'event_key' text")
    return build_event(where, **{str(name): value for name, value in event.items()})
