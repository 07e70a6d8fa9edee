"""Correlation (SPEC §4.5): which alert an event belongs to. Pure: state in, state out.

For one (domain, project, event_key): an event attaches to the current alert when
the newest non-RECOVERY event arrived within the dedup window before it and that
alert is not RESOLVED; a RECOVERY then resolves the alert. Otherwise a RECOVERY
gets no alert (kept, not dropped: SPEC §8) and anything else opens a new alert,
whose id derives from the event that opened it, so a replay opens the same one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.alert import Alert, AlertState, KeyState, Urgency
from schemas.event import EventInfo, EventType, Severity

HIGH_URGENCY = {Severity.CRITICAL, Severity.ERROR, Severity.NOT_AVAILABLE}
DECISIONS_KEPT = 256  # enough for every event of a key that can be replayed at once


@dataclass(frozen=True)
class Correlated:
    """The outcome for one event: its alert id ("" for none) and the alert after it, if any."""

    state: KeyState
    alert_id: str
    alert: Alert | None
    orphan_recovery: bool = False


def correlation_key(event: EventInfo) -> str:
    """The key events are partitioned and correlated by: domain, project and event key."""
    return f"{event.domain_id}\x1f{event.project_id}\x1f{event.event_key}"


def alert_id_for(opening_event_id: str) -> str:
    return "alert-" + hashlib.sha256(opening_event_id.encode()).hexdigest()[:24]


def correlate(state: KeyState | None, event: EventInfo, window: timedelta) -> Correlated:
    """Decide `event`'s alert from the key's state; return the new state and the decision."""
    state = state or KeyState()
    if event.event_id in state.decisions:  # a replay: answer as before, change nothing
        alert_id = state.decisions[event.event_id]
        alert = state.alert if state.alert and state.alert.alert_id == alert_id else None
        return Correlated(state, alert_id, alert, orphan_recovery=not alert_id)

    now = event.created_at
    current = state.alert
    recent = state.last_trigger_at is not None and now - state.last_trigger_at <= window
    attach = current is not None and recent and current.state != AlertState.RESOLVED
    is_recovery = event.event_type == EventType.RECOVERY

    alert: Alert | None
    if attach:
        assert current is not None
        alert = current.model_copy(
            update={
                "last_event_at": max(current.last_event_at, now),
                "event_count": current.event_count + 1,
            }
        )
        if is_recovery:
            alert.state = AlertState.RESOLVED
            alert.resolved_at = now
    elif is_recovery:
        alert = None
    else:
        alert = Alert(
            alert_id=alert_id_for(event.event_id),
            event_key=event.event_key,
            project_id=event.project_id,
            domain_id=event.domain_id,
            state=AlertState.ERROR if event.event_type == EventType.ERROR else AlertState.TRIGGERED,
            urgency=Urgency.HIGH if event.severity in HIGH_URGENCY else Urgency.LOW,
            first_event_at=now,
            last_event_at=now,
        )

    alert_id = alert.alert_id if alert else ""
    decisions = {**state.decisions, event.event_id: alert_id}
    if len(decisions) > DECISIONS_KEPT:
        decisions = dict(list(decisions.items())[-DECISIONS_KEPT:])
    new_state = KeyState(
        alert=alert if alert is not None else current,
        last_trigger_at=state.last_trigger_at if is_recovery else now,
        decisions=decisions,
    )
    return Correlated(new_state, alert_id, alert, orphan_recovery=is_recovery and alert is None)


def is_quiet(state: KeyState, horizon: datetime) -> bool:
    """True when nothing newer than `horizon` touched the key: no event can attach to its
    alert any more, and no replay can ask for its decisions, so the state can go."""
    last = [t for t in (state.last_trigger_at, state.alert and state.alert.last_event_at) if t]
    return not last or max(last) < horizon
