"""The request and response messages of the Event API (seed Event.md, SPEC §2)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.event import EventInfo
from schemas.query import Query, StatisticsQuery


class CreateEventRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_id: str = Field(min_length=1)
    access_key: str = Field(min_length=1)
    data: Any


class GetEventRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1)
    domain_id: str | None = None
    only: list[str] | None = None


EXACT_FILTERS = (
    "event_id", "event_key", "event_type", "severity", "resource_id", "provider", "account",
    "alert_id", "webhook_id", "project_id", "domain_id",
)  # fmt: skip


class EventQuery(BaseModel):
    """list's request: a Query plus exact-match filters."""

    model_config = ConfigDict(extra="forbid")

    query: Query = Field(default_factory=Query)
    event_id: str | None = None
    event_key: str | None = None
    event_type: str | None = None
    severity: str | None = None
    resource_id: str | None = None
    provider: str | None = None
    account: str | None = None
    alert_id: str | None = None
    webhook_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None

    def exact_filters(self) -> dict[str, str]:
        """The exact-match filters that are set, by request name (the translator maps
        `resource_id` to its field); domain_id is left out: it is scoped separately."""
        return {
            name: value
            for name in EXACT_FILTERS
            if name != "domain_id" and (value := getattr(self, name))
        }


class EventStatQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: StatisticsQuery
    domain_id: str | None = None


class EventsInfo(BaseModel):
    results: list[EventInfo | dict[str, Any]]
    total_count: int


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every error the HTTP services answer: `{"error": {"code": "ERROR_…", "message": "…"}}`."""

    error: ErrorDetail
