"""Alerts and their notes: Cloudforet monitoring v1 `Alert` and `Note` (SPEC §9).

AlertInfo carries every field of `cloudforet-api` 1.1.1's `alert.proto`, stored as the
alerts index holds it; beside them, eventpipe's own correlation fields (event_key,
first/last_event_at, event_count). The worker opens, attaches and resolves alerts; people
change them through the API as `AlertChange` records on the worker's keyed topic, so the
worker that owns a key applies every change of its alerts in order (docs/alerts.md).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.event import OptionalTimestamp, Timestamp
from schemas.query import Query, StatisticsQuery


class AlertState(StrEnum):
    TRIGGERED = "TRIGGERED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"
    ERROR = "ERROR"


class Urgency(StrEnum):
    HIGH = "HIGH"
    LOW = "LOW"


class AlertResource(BaseModel):
    resource_id: str | None = None
    resource_type: str | None = None
    name: str | None = None


class AlertResponder(BaseModel):
    """Who is asked to respond (Cloudforet: a user or a project, by resource type and id)."""

    model_config = ConfigDict(extra="forbid")

    resource_type: str
    resource_id: str


class AlertInfo(BaseModel):
    """An alert as stored in the alerts index and answered by get/list (alert.proto's
    AlertInfo, field for field, plus eventpipe's correlation fields at the end)."""

    alert_number: int = Field(ge=1)
    alert_id: str
    title: str = ""
    state: AlertState
    status_message: str | None = None
    description: str | None = None
    assignee: str | None = None
    urgency: Urgency = Urgency.HIGH
    severity: str = "NONE"
    rule: str | None = None
    resource: AlertResource | None = None
    provider: str | None = None
    account: str | None = None
    is_snoozed: bool = False
    snoozed_end_time: OptionalTimestamp = None
    escalation_step: int = 1
    escalation_ttl: int = 0
    responders: list[AlertResponder] = Field(default_factory=list)
    project_dependencies: list[str] = Field(default_factory=list)
    image_url: str | None = None
    additional_info: dict[str, Any] = Field(default_factory=dict)
    triggered_by: str | None = None
    webhook_id: str | None = None
    escalation_policy_id: str | None = None
    project_id: str
    domain_id: str
    created_at: Timestamp
    updated_at: Timestamp
    acknowledged_at: OptionalTimestamp = None
    resolved_at: OptionalTimestamp = None
    escalated_at: OptionalTimestamp = None
    # eventpipe's own: the key its events share, and when they came (none for `create`)
    event_key: str | None = None
    first_event_at: OptionalTimestamp = None
    last_event_at: OptionalTimestamp = None
    event_count: int = 0


class AppliedChange(BaseModel):
    """A person's change the worker applied to an alert: its id and, when refused, why."""

    id: str
    error: list[str] | None = None  # [ERROR_ code, message]


class StoredAlert(AlertInfo):
    """The alerts index document: AlertInfo plus what only the worker and the API read.

    `correlation_key` routes the alert's changes to the partition of the key that opened
    it (it never changes, even when project_id does); `changes` are the latest change ids
    applied, so a replayed change is not applied twice and the API sees its outcome.
    """

    alert_number: int = Field(ge=0)  # 0: opened, its number not taken yet
    correlation_key: str
    changes: list[AppliedChange] = Field(default_factory=list)


INTERNAL_FIELDS = ("correlation_key", "changes")


class KeyState(BaseModel):
    """Correlation state of one (domain, project, event_key), kept in the processor's table.

    `alert` is the key's current alert (the one its events attach to), kept whole: the
    worker writes it to the alerts index from here. `decisions` remembers the alert given
    to the latest events, so a replayed record (after a crash, before its offset was
    committed) gets the same answer again. `deliveries` is the retried deliveries' part
    (SPEC §4.6, `ingest.process.dedup`): the content fingerprints of the events written
    lately, each with the created_at and event_id of the one written and its webhook's
    window in seconds.
    """

    alert: StoredAlert | None = None
    # created_at of the newest event that was not a RECOVERY
    last_trigger_at: OptionalTimestamp = None
    decisions: dict[str, str] = Field(default_factory=dict)
    deliveries: dict[str, tuple[Timestamp, str, float]] = Field(default_factory=dict)


# ---- people's changes, on their way to the worker -----------------------------------------

ChangeMethod = Literal[
    "create", "update", "snooze", "add_responder", "remove_responder",
    "add_project_dependency", "remove_project_dependency", "delete",
]  # fmt: skip


class AlertChange(BaseModel):
    """One change a person asked for, as the API puts it on the worker's keyed topic.

    `params` are the request's fields (validated by its request model); `at` is when the
    API took the request, the time the change stamps (updated_at, acknowledged_at, ...),
    so applying it again gives the same alert. `alert` is the whole new alert of `create`.
    """

    model_config = ConfigDict(extra="forbid")

    change_id: str
    method: ChangeMethod
    alert_id: str
    domain_id: str
    correlation_key: str
    at: Timestamp
    by: str  # the caller's API key id
    params: dict[str, Any] = Field(default_factory=dict)
    alert: StoredAlert | None = None


# ---- Alert requests (alert.proto) ---------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateAlertRequest(_Request):
    title: str = Field(min_length=1)
    description: str | None = None
    assignee: str | None = None
    urgency: Urgency | None = None
    project_id: str = Field(min_length=1)
    domain_id: str | None = None


class UpdateAlertRequest(_Request):
    alert_id: str = Field(min_length=1)
    title: str | None = None
    state: str | None = None
    status_message: str | None = None
    description: str | None = None
    assignee: str | None = None
    urgency: Urgency | None = None
    project_id: str | None = None
    reset_status_message: bool = False
    reset_description: bool = False
    reset_assignee: bool = False
    domain_id: str | None = None


class UpdateAlertStateRequest(_Request):
    alert_id: str = ""
    access_key: str = ""
    state: str = ""


class MergeAlertRequest(_Request):
    alerts: list[str] = Field(min_length=1)
    merge_to: str = Field(min_length=1)
    domain_id: str | None = None


class SnoozeAlertRequest(_Request):
    alert_id: str = Field(min_length=1)
    end_time: str = Field(min_length=1)
    domain_id: str | None = None


class AlertResponderRequest(_Request):
    alert_id: str = Field(min_length=1)
    resource_type: str = Field(min_length=1)
    resource_id: str = Field(min_length=1)
    domain_id: str | None = None


class AlertProjectDependencyRequest(_Request):
    alert_id: str = Field(min_length=1)
    project_id: str = Field(min_length=1)
    domain_id: str | None = None


class AlertRequest(_Request):
    alert_id: str = Field(min_length=1)
    domain_id: str | None = None


class GetAlertRequest(_Request):
    alert_id: str = Field(min_length=1)
    domain_id: str | None = None
    only: list[str] | None = None


# AlertQuery's own filters and the alert field each tests (resource_id: resource.resource_id);
# event_key is eventpipe's, beside Cloudforet's.
ALERT_QUERY_FILTERS: dict[str, str] = {
    "alert_number": "alert_number", "alert_id": "alert_id", "title": "title",
    "state": "state", "assignee": "assignee", "urgency": "urgency", "severity": "severity",
    "is_snoozed": "is_snoozed", "resource_id": "resource.resource_id",
    "provider": "provider", "account": "account", "triggered_by": "triggered_by",
    "webhook_id": "webhook_id", "escalation_policy_id": "escalation_policy_id",
    "project_id": "project_id", "event_key": "event_key",
}  # fmt: skip


class AlertQuery(_Request):
    """alert list's request: a Query over alert fields plus exact-match filters."""

    query: Query = Field(default_factory=Query)
    alert_number: int | None = None
    alert_id: str | None = None
    title: str | None = None
    state: AlertState | None = None
    assignee: str | None = None
    urgency: Urgency | None = None
    severity: str | None = None
    is_snoozed: str | None = None  # a string in alert.proto: "true" | "false"
    resource_id: str | None = None
    provider: str | None = None
    account: str | None = None
    triggered_by: str | None = None
    webhook_id: str | None = None
    escalation_policy_id: str | None = None
    project_id: str | None = None
    event_key: str | None = None
    domain_id: str | None = None

    def exact_filters(self) -> dict[str, Any]:
        """The filters that are set, by request name (the translator maps resource_id to
        its field); domain_id is left out: it is scoped separately."""
        out: dict[str, Any] = {}
        for name in ALERT_QUERY_FILTERS:
            value = getattr(self, name)
            if value is None or value == "":
                continue
            if name == "is_snoozed":
                value = str(value).strip().lower() in ("true", "1")
            out[name] = value.value if isinstance(value, StrEnum) else value
        return out


class AlertStatQuery(_Request):
    query: StatisticsQuery
    domain_id: str | None = None


# ---- Notes (note.proto) --------------------------------------------------------------------


class NoteInfo(BaseModel):
    note_id: str
    alert_id: str
    note: str
    created_by: str | None = None
    project_id: str
    domain_id: str
    created_at: Timestamp


class CreateNoteRequest(_Request):
    alert_id: str = Field(min_length=1)
    note: str = Field(min_length=1)
    domain_id: str | None = None


class UpdateNoteRequest(_Request):
    note_id: str = Field(min_length=1)
    note: str | None = None
    domain_id: str | None = None


class NoteRequest(_Request):
    note_id: str = Field(min_length=1)
    domain_id: str | None = None


class GetNoteRequest(_Request):
    note_id: str = Field(min_length=1)
    domain_id: str | None = None
    only: list[str] | None = None


NOTE_QUERY_FILTERS = ("note_id", "alert_id", "created_by", "project_id")


class NoteQuery(_Request):
    query: Query = Field(default_factory=Query)
    note_id: str | None = None
    alert_id: str | None = None
    created_by: str | None = None
    project_id: str | None = None
    domain_id: str | None = None

    def exact_filters(self) -> dict[str, Any]:
        return {name: v for name in NOTE_QUERY_FILTERS if (v := getattr(self, name))}


class NoteStatQuery(_Request):
    query: StatisticsQuery
    domain_id: str | None = None
