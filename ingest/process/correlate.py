"""Correlation (SPEC §4.5): which alert an event belongs to. Pure: state in, state out.

For one (domain, project, event_key): an event attaches to the current alert when
the newest non-RECOVERY event arrived within the dedup window before it and that
alert is not RESOLVED; a RECOVERY then resolves the alert. Otherwise a RECOVERY
gets no alert (kept, not dropped: SPEC §8) and anything else opens a new alert,
whose id derives from the event that opened it, so a replay opens the same one.

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

from ingest.process.normalize import NormalizedEvent, correlation_key, load_json

__all__ = ["correlate", "correlate_batch", "correlation_key", "is_quiet", "load_state"]

HIGH_URGENCY = {"CRITICAL", "ERROR", "NOT_AVAILABLE"}
DECISIONS_KEPT = 256  # enough for every event of a key that can be replayed at once

State = dict[str, Any]  # schemas.alert.KeyState as JSON values
AlertDoc = dict[str, Any]  # schemas.alert.Alert as JSON values


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


def correlate(state: State | None, event: NormalizedEvent, window: timedelta) -> Correlated:
    """Decide `event`'s alert from the key's state; return the new state and the decision."""
    state = state or {"alert": None, "last_trigger_at": None, "decisions": {}}
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
        }
        if is_recovery:
            alert["state"] = "RESOLVED"
            alert["resolved_at"] = now
    elif is_recovery:
        alert = None
    else:
        domain_id, project_id, event_key = event.key.split("\x1f", 2)
        alert = {
            "alert_id": alert_id_for(event.event_id),
            "event_key": event_key,
            "project_id": project_id,
            "domain_id": domain_id,
            "state": "ERROR" if event.event_type == "ERROR" else "TRIGGERED",
            "urgency": "HIGH" if event.severity in HIGH_URGENCY else "LOW",
            "first_event_at": now,
            "last_event_at": now,
            "resolved_at": None,
            "event_count": 1,
        }
        if event.rules:
            alert.update(alert_fields(event.rules))

    alert_id = alert["alert_id"] if alert else ""
    decisions = {**decisions, event.event_id: alert_id}
    if len(decisions) > DECISIONS_KEPT:
        decisions = dict(list(decisions.items())[-DECISIONS_KEPT:])
    new_state = {
        "alert": alert if alert is not None else current,
        "last_trigger_at": last if is_recovery else now,
        "decisions": decisions,
    }
    return Correlated(new_state, alert_id, alert, orphan_recovery=is_recovery and alert is None)


def alert_fields(outcome: Mapping[str, Any]) -> AlertDoc:
    """What event rules set (`ingest.process.rules`) as the fields of the alert an event
    opens; no_notification is Cloudforet's escalation_ttl 0 (never escalated)."""
    fields = {name: outcome[name] for name in ALERT_RULE_FIELDS if name in outcome}
    if outcome.get("no_notification"):
        fields["escalation_ttl"] = 0
    return fields


ALERT_RULE_FIELDS = ("urgency", "assignee", "responders", "project_dependencies")


def load_state(stored: bytes | Mapping[str, Any] | None) -> State | None:
    """A key's state as the table holds it: JSON bytes as the worker writes them, or the
    dict faust's changelog recovery decodes them into."""
    if not stored:
        return None
    if isinstance(stored, bytes):
        state: State = load_json(stored)
        return state
    return dict(stored)


@dataclass
class CorrelatedBatch:
    """A batch after correlation: each event's alert id (in order), the alerts it changed,
    the RECOVERY events with no alert, and each touched key's new state."""

    alert_ids: list[str] = field(default_factory=list)
    alerts: dict[str, AlertDoc] = field(default_factory=dict)
    orphans: int = 0
    states: dict[bytes, State] = field(default_factory=dict)


def correlate_batch(
    events: Sequence[NormalizedEvent],
    table: Mapping[bytes, bytes | Mapping[str, Any]],
    window: timedelta,
) -> CorrelatedBatch:
    """Give each event its alert, in order. Each key's state is read from `table` once and
    comes out once, for the caller to store (a table write is a changelog record)."""
    out = CorrelatedBatch()
    states: dict[bytes, State | None] = {}
    for event in events:
        key = event.key.encode()
        if key not in states:
            states[key] = load_state(table.get(key))
        result = correlate(states[key], event, window)
        states[key] = result.state
        out.alert_ids.append(result.alert_id)
        if result.alert is not None:
            out.alerts[result.alert["alert_id"]] = result.alert
        out.orphans += result.orphan_recovery
    out.states = {key: state for key, state in states.items() if state is not None}
    return out


def is_quiet(state: Mapping[str, Any], horizon: datetime) -> bool:
    """True when nothing newer than `horizon` touched the key: no event can attach to its
    alert any more, and no replay can ask for its decisions, so the state can go."""
    alert = state.get("alert")
    last = [t for t in (state.get("last_trigger_at"), alert and alert["last_event_at"]) if t]
    return not last or max(_time(t) for t in last) < horizon
