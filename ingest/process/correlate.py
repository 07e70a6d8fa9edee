"""Correlation (SPEC §4.5): which alert an event belongs to. Pure: state in, state out.

For one (domain, project, event_key): an event attaches to the current alert when
the newest non-RECOVERY event arrived within the dedup window before it and that
alert is not RESOLVED; a RECOVERY then resolves the alert. Otherwise a RECOVERY
gets no alert (kept, not dropped: SPEC §8) and anything else opens a new alert,
whose id derives from the event that opened it, so a replay opens the same one. An alert
is opened whole (AlertInfo's fields from its first event, SPEC §9), with alert_number 0:
the index stage gives it its number (`ingest.elasticsearch.alerts.number_alerts`). Events never
move an alert backwards: they attach to it in any state but RESOLVED and leave that state,
except that a RECOVERY resolves it.

State and alerts are plain dicts of JSON values, shaped exactly as `schemas.alert.KeyState`
and `Alert` (tests hold them to it): they go to the table's changelog and to
Elasticsearch as JSON, so they are never built as models on the hot path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ingest.process import dedup
from ingest.process.normalize import NormalizedEvent, correlation_key, load_json

__all__ = ["correlate", "correlate_batch", "correlation_key", "is_quiet", "load_state"]

HIGH_URGENCY = {"CRITICAL", "ERROR", "NOT_AVAILABLE"}
DECISIONS_KEPT = 256  # enough for every event of a key that can be replayed at once

State = dict[str, Any]  # schemas.alert.KeyState as JSON values
AlertDoc = dict[str, Any]  # schemas.alert.StoredAlert as JSON values


@dataclass(frozen=True)
class Correlated:
    """The outcome for one event: its alert id ("" for none) and the alert after it, if any."""

    state: State
    alert_id: str
    alert: AlertDoc | None
    orphan_recovery: bool = False


def alert_id_for(opening_event_id: str) -> str:
    return "alert-" + hashlib.sha256(opening_event_id.encode()).hexdigest()[:24]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def new_state() -> State:
    """The state of a key no event has touched yet."""
    return {"alert": None, "last_trigger_at": None, "decisions": {}, "deliveries": {}}


def _later(a: str | None, b: str) -> str:
    return b if not a or _time(b) > _time(a) else a


def open_alert(event: NormalizedEvent) -> AlertDoc:
    """A new alert from the event that opens it: its fields as Cloudforet copies them from
    the event (title, description, severity, resource, ...), triggered by its webhook.

    urgency, assignee, responders and project_dependencies are what the event rules set
    (`event.rules`, SPEC §10), else urgency follows the severity; no_notification is
    Cloudforet's escalation_ttl 0, which every alert has here (no escalation policies)."""
    doc = load_json(event.doc)
    rules = event.rules or {}
    domain_id, project_id, event_key = event.key.split("\x1f", 2)
    now = event.created_at
    resource = doc.get("resource") or None
    return {
        "alert_number": 0, "alert_id": alert_id_for(event.event_id),
        "title": doc.get("title") or "",
        "state": "ERROR" if event.event_type == "ERROR" else "TRIGGERED",
        "status_message": None, "description": doc.get("description"),
        "assignee": rules.get("assignee"),
        "urgency": rules.get("urgency") or ("HIGH" if event.severity in HIGH_URGENCY else "LOW"),
        "severity": event.severity, "rule": doc.get("rule"),
        "resource": resource if resource and any(resource.values()) else None,
        "provider": doc.get("provider"), "account": doc.get("account"),
        "is_snoozed": False, "snoozed_end_time": None, "escalation_step": 1,
        "escalation_ttl": 0, "responders": list(rules.get("responders") or ()),
        "project_dependencies": list(rules.get("project_dependencies") or ()),
        "image_url": doc.get("image_url"), "additional_info": doc.get("additional_info") or {},
        "triggered_by": doc.get("webhook_id"), "webhook_id": doc.get("webhook_id"),
        "escalation_policy_id": None, "project_id": project_id, "domain_id": domain_id,
        "created_at": now, "updated_at": now, "acknowledged_at": None, "resolved_at": None,
        "escalated_at": None, "event_key": event_key, "first_event_at": now,
        "last_event_at": now, "event_count": 1, "correlation_key": event.key, "changes": [],
    }  # fmt: skip


# AlertInfo's fields an alert opened by an earlier version lacks, and their values then.
UPGRADE_DEFAULTS: dict[str, Any] = {
    "alert_number": 0, "title": "", "status_message": None, "description": None,
    "assignee": None, "severity": "NONE", "rule": None, "resource": None, "provider": None,
    "account": None, "is_snoozed": False, "snoozed_end_time": None, "escalation_step": 1,
    "escalation_ttl": 0, "responders": [], "project_dependencies": [], "image_url": None,
    "additional_info": {}, "triggered_by": None, "webhook_id": None,
    "escalation_policy_id": None, "acknowledged_at": None, "escalated_at": None,
    "changes": [],
}  # fmt: skip


def upgrade_alert(alert: AlertDoc) -> AlertDoc:
    """An alert as this version keeps it, from one an earlier version kept (only its
    correlation fields): AlertInfo's fields filled in, numbered by the index stage."""
    if "alert_number" in alert:
        return alert
    first = alert.get("first_event_at")
    return {
        **UPGRADE_DEFAULTS, **alert, "created_at": first, "updated_at": alert.get("last_event_at"),
        "correlation_key": correlation_key(alert["domain_id"], alert["project_id"],
                                           alert["event_key"]),
    }  # fmt: skip


def correlate(state: State | None, event: NormalizedEvent, window: timedelta) -> Correlated:
    """Decide `event`'s alert from the key's state; return the new state and the decision.

    Only the correlation part of the state changes; other parts (`deliveries`, kept by
    `ingest.process.dedup`) pass through as they are."""
    state = state or new_state()
    decisions: dict[str, str] = state["decisions"]
    if event.event_id in decisions:  # a replay: answer as before, change nothing
        alert_id = decisions[event.event_id]
        current = state["alert"]
        alert = current if current and current["alert_id"] == alert_id else None
        return Correlated(state, alert_id, alert, orphan_recovery=not alert_id)

    now = event.created_at
    current = state["alert"]
    last = state["last_trigger_at"]
    recent = last is not None and _time(now) - _time(last) <= window
    attach = current is not None and recent and current["state"] != "RESOLVED"
    is_recovery = event.event_type == "RECOVERY"

    alert: AlertDoc | None
    if attach:
        assert current is not None
        alert = {
            **current,
            "last_event_at": max(current["last_event_at"], now, key=_time),
            "event_count": current["event_count"] + 1,
            "updated_at": _later(current.get("updated_at"), now),
        }
        if is_recovery:
            alert["state"] = "RESOLVED"
            alert["resolved_at"] = now
    elif is_recovery:
        alert = None
    else:
        alert = open_alert(event)

    alert_id = alert["alert_id"] if alert else ""
    decisions = {**decisions, event.event_id: alert_id}
    if len(decisions) > DECISIONS_KEPT:
        decisions = dict(list(decisions.items())[-DECISIONS_KEPT:])
    after = {
        **state,
        "alert": alert if alert is not None else current,
        "last_trigger_at": last if is_recovery else now,
        "decisions": decisions,
    }
    return Correlated(after, alert_id, alert, orphan_recovery=is_recovery and alert is None)


def load_state(stored: bytes | Mapping[str, Any] | None) -> State | None:
    """A key's state as the table holds it: JSON bytes as the worker writes them, or the
    dict faust's changelog recovery decodes them into."""
    if not stored:
        return None
    state: State = load_json(stored) if isinstance(stored, bytes) else dict(stored)
    if state.get("alert") is not None:
        state["alert"] = upgrade_alert(state["alert"])
    return state


def drop_retry(state: State | None, event: NormalizedEvent) -> tuple[bool, State | None]:
    """SPEC §4.6: (True, state) when `event` is a sender's retry of an event already
    written for its key (it is dropped); else (False, the state with the event noted
    among the key's deliveries). A replay of a record correlation already answered
    (its event_id among the decisions) is no retry and notes nothing."""
    if not event.fingerprint or event.window <= 0:
        return False, state
    if state is not None and event.event_id in state["decisions"]:
        return False, state
    seen = state.get("deliveries") if state is not None else None
    args = (event.fingerprint, event.event_id, event.created_at, event.window)
    if dedup.is_retry(seen, *args):
        return True, state
    return False, {**(state or new_state()), "deliveries": dedup.remember(seen, *args)}


@dataclass
class CorrelatedBatch:
    """A batch after correlation: each event's alert id (in order; None for a retry that
    is dropped, "" for no alert), the alerts it changed, the RECOVERY events with no
    alert, the retries dropped, and each touched key's new state."""

    alert_ids: list[str | None] = field(default_factory=list)
    alerts: dict[str, AlertDoc] = field(default_factory=dict)
    orphans: int = 0
    retries: int = 0
    states: dict[bytes, State] = field(default_factory=dict)


def correlate_batch(
    events: Sequence[NormalizedEvent],
    table: Mapping[bytes, bytes | Mapping[str, Any]],
    window: timedelta,
) -> CorrelatedBatch:
    """Give each event its alert, in order, after dropping senders' retries (SPEC §4.6).
    Each key's state is read from `table` once and comes out once, for the caller to
    store (a table write is a changelog record)."""
    out = CorrelatedBatch()
    states: dict[bytes, State | None] = {}
    for event in events:
        key = event.key.encode()
        if key not in states:
            states[key] = load_state(table.get(key))
        retry, states[key] = drop_retry(states[key], event)
        if retry:
            out.alert_ids.append(None)
            out.retries += 1
            continue
        result = correlate(states[key], event, window)
        states[key] = result.state
        out.alert_ids.append(result.alert_id)
        if result.alert is not None:
            out.alerts[result.alert["alert_id"]] = result.alert
        out.orphans += result.orphan_recovery
    out.states = {key: state for key, state in states.items() if state is not None}
    return out


def is_quiet(state: Mapping[str, Any], horizon: datetime, now: datetime | None = None) -> bool:
    """True when nothing newer than `horizon` touched the key: no event can attach to its
    alert any more, and no replay can ask for its decisions; and (given `now`) no retry
    of its deliveries can still be caught: the state can go."""
    if now is not None and dedup.still_needed(state.get("deliveries"), now):
        return False
    alert = state.get("alert")
    touched = (state.get("last_trigger_at"), alert and alert["last_event_at"],
               alert and alert.get("updated_at"))  # fmt: skip
    last = [t for t in touched if t]
    return not last or max(_time(t) for t in last) < horizon
