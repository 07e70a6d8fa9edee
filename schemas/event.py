"""Events as SPEC §3 defines them: what parsers return and what is indexed and served."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer


class EventType(StrEnum):
    ALERT = "ALERT"
    RECOVERY = "RECOVERY"
    ERROR = "ERROR"


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    ERROR = "ERROR"
    WARNING = "WARNING"
    INFO = "INFO"
    NOT_AVAILABLE = "NOT_AVAILABLE"
    NONE = "NONE"


def format_timestamp(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds and `Z`, e.g. `2022-06-21T00:34:58.034Z`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_timestamp(value: Any) -> Any:
    """Naive datetimes and strings without a zone are read as UTC."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


Timestamp = Annotated[
    datetime,
    BeforeValidator(_parse_timestamp),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
OptionalTimestamp = Annotated[
    datetime | None,
    BeforeValidator(_parse_timestamp),
    PlainSerializer(
        lambda v: format_timestamp(v) if v else None, return_type=str | None, when_used="json"
    ),
]


class EventResource(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    resource_id: str = ""
    resource_type: str = ""
    name: str = ""


class ParsedEvent(BaseModel):
    """What a parser returns for one alert of a payload (SPEC §7); unknown fields dropped."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    event_key: str
    event_type: EventType = EventType.ALERT
    title: str = ""
    description: str = ""
    severity: Severity = Severity.NONE
    rule: str = ""
    resource: EventResource = Field(default_factory=EventResource)
    provider: str = ""
    account: str = ""
    image_url: str = ""
    occurred_at: OptionalTimestamp = None
    additional_info: dict[str, Any] = Field(default_factory=dict)


class EventInfo(ParsedEvent):
    """An event as indexed and served (SPEC §3)."""

    event_id: str
    raw_data: dict[str, Any] = Field(default_factory=dict)
    alert_id: str = ""
    webhook_id: str = ""
    project_id: str = ""
    domain_id: str = ""
    created_at: Timestamp
