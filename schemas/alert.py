"""Alerts: what correlation (SPEC §4.5) makes of events that share an event key."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.event import OptionalTimestamp, Timestamp
from schemas.query import Query


class AlertState(StrEnum):
    TRIGGERED = "TRIGGERED"
    ERROR = "ERROR"
    RESOLVED = "RESOLVED"


class Urgency(StrEnum):
    HIGH = "HIGH"
    LOW = "LOW"


class AlertResponder(BaseModel):
    resource_type: str
    resource_id: str


class Alert(BaseModel):
    """An alert as indexed in the alerts index, for analysis."""

    alert_id: str
    event_key: str
    project_id: str
    domain_id: str
    state: AlertState
    urgency: Urgency
    first_event_at: Timestamp
    last_event_at: Timestamp
    resolved_at: OptionalTimestamp = None
    event_count: int = 1
    # Set by event rules when the alert opens (SPEC §10); absent when no rule set them.
    assignee: str | None = None
    responders: list[AlertResponder] | None = None
    project_dependencies: list[str] | None = None
    escalation_ttl: int | None = None


class KeyState(BaseModel):
    """Correlation state of one (domain, project, event_key), kept in the processor's table.

    `decisions` remembers the alert given to the latest events, so a replayed record
    (after a crash, before its offset was committed) gets the same answer again.
    """

    alert: Alert | None = None
    # created_at of the newest event that was not a RECOVERY
    last_trigger_at: OptionalTimestamp = None
    decisions: dict[str, str] = Field(default_factory=dict)


class AlertQuery(BaseModel):
    """alert list's request: a Query over the alert fields plus exact-match filters.

    Alerts are read-only through the API (the worker writes them), for consoles and
    dashboards that list open and resolved alerts.
    """

    model_config = ConfigDict(extra="forbid")

    query: Query = Field(default_factory=Query)
    alert_id: str | None = None
    event_key: str | None = None
    state: AlertState | None = None
    project_id: str | None = None
    domain_id: str | None = None


class GetAlertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert_id: str = Field(min_length=1)
    domain_id: str | None = None
