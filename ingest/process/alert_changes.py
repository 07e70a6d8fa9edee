"""People's changes to an alert (Alert update, snooze, responders, ...): pure, data in, data out.

The API checks a change against the alert it reads (`apply_change`) and answers a refusal at
once; the worker that owns the alert's key applies the same function to the alert it holds,
in the order of its partition, and that result is what is written. The rules are Cloudforet
1.x's monitoring service (`AlertService`, `AlertManager`), with SPEC §9's timestamps:

- update: an ERROR alert's state cannot be changed (nor anything else: Cloudforet refuses
  the whole update); state TRIGGERED empties acknowledged_at and resolved_at; ACKNOWLEDGED
  sets acknowledged_at when it has none and empties resolved_at; RESOLVED sets resolved_at
  and, when the state changes and no status_message is given, empties status_message;
  a new project_id empties assignee; reset_* flags empty their field (after the values).
- snooze sets is_snoozed and snoozed_end_time; responders and project dependencies are
  sets: adding one already there, or removing one that is not, is refused.
- Every change that alters the alert sets updated_at; the change's own time (`at`, when the
  API took it) is used, never the clock of whoever applies it, so applying it again after a
  replay gives the same alert.
- Each applied change id is remembered in the alert (`changes`, the latest CHANGES_KEPT):
  a replayed change is recognised and not applied twice, and the API reads the outcome.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

import orjson

from ingest.process.correlate import CorrelatedBatch, correlate_batch, load_state
from ingest.process.normalize import InvalidRecord, NormalizedEvent
from schemas.event import format_timestamp
from schemas.topics import ALERT_CHANGE_FORMAT

CHANGES_KEPT = 32
STATES = ("TRIGGERED", "ACKNOWLEDGED", "RESOLVED", "ERROR")
UPDATABLE = ("title", "state", "status_message", "description", "assignee", "urgency",
             "project_id")  # fmt: skip

AlertDoc = dict[str, Any]  # schemas.alert.StoredAlert as JSON values
ChangeDoc = dict[str, Any]  # schemas.alert.AlertChange as JSON values


class ChangeRefused(Exception):
    """A change the alert does not take: an ERROR_ code and a message, as the API answers."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _later(a: str | None, b: str) -> str:
    if not a:
        return b
    return a if datetime.fromisoformat(a) >= datetime.fromisoformat(b) else b


def already_applied(alert: AlertDoc, change_id: str) -> dict[str, Any] | None:
    """The record of `change_id` in the alert, if it was applied (or refused) before."""
    for applied in alert.get("changes") or ():
        if applied.get("id") == change_id:
            return dict(applied)
    return None


def remember(alert: AlertDoc, change_id: str, error: ChangeRefused | None = None) -> AlertDoc:
    """The alert with `change_id` (and its refusal, if any) among its latest changes."""
    entry = {"id": change_id, "error": None if error is None else [error.code, error.message]}
    changes = [*(alert.get("changes") or ()), entry][-CHANGES_KEPT:]
    return {**alert, "changes": changes}


def apply_change(alert: AlertDoc, change: ChangeDoc) -> AlertDoc:
    """The alert after `change` (not `create` or `delete`, which replace or remove it);
    ChangeRefused when the alert does not take it."""
    method, params, at = change["method"], change.get("params") or {}, change["at"]
    if method == "update":
        new = _update(alert, params, at)
    elif method == "snooze":
        new = {**alert, "is_snoozed": True, "snoozed_end_time": params["end_time"]}
    elif method in ("add_responder", "remove_responder"):
        new = _responders(alert, method, params["resource_type"], params["resource_id"])
    elif method in ("add_project_dependency", "remove_project_dependency"):
        new = _dependencies(alert, method, params["project_id"])
    else:
        raise ValueError(f"not a change of an alert's fields: {method!r}")
    if new != alert:
        new["updated_at"] = _later(alert.get("updated_at"), at)
    return new


def _update(alert: AlertDoc, params: dict[str, Any], at: str) -> AlertDoc:
    if alert["state"] == "ERROR":
        raise ChangeRefused("ERROR_INVALID_PARAMETER",
                            "state: the error state cannot be changed")  # fmt: skip
    new = dict(alert)
    for name in UPDATABLE:
        value = params.get(name)
        if value is not None and value != "":
            new[name] = value
    state = params.get("state") or None
    if state is not None:
        if state not in STATES:
            raise ChangeRefused("ERROR_INVALID_PARAMETER",
                                f"state: {state!r} is not one of {', '.join(STATES)}")  # fmt: skip
        if state == "TRIGGERED":
            new["acknowledged_at"] = None
            new["resolved_at"] = None
        elif state == "ACKNOWLEDGED":
            new["acknowledged_at"] = alert.get("acknowledged_at") or at
            new["resolved_at"] = None
        elif state == "RESOLVED":
            new["resolved_at"] = alert.get("resolved_at") if alert["state"] == "RESOLVED" else at
            if alert["state"] != "RESOLVED" and params.get("status_message") is None:
                new["status_message"] = ""
    if params.get("project_id") and params["project_id"] != alert.get("project_id"):
        new["assignee"] = None
    if params.get("reset_status_message"):
        new["status_message"] = ""
    if params.get("reset_description"):
        new["description"] = ""
    if params.get("reset_assignee"):
        new["assignee"] = None
    return new


def _responders(alert: AlertDoc, method: str, resource_type: str, resource_id: str) -> AlertDoc:
    responder = {"resource_type": resource_type, "resource_id": resource_id}
    current = list(alert.get("responders") or ())
    found = responder in current
    shown = f"(resource_type = {resource_type}, resource_id = {resource_id})"
    if method == "add_responder":
        if found:
            raise ChangeRefused("ERROR_SAME_RESPONDER_ALREADY_EXISTS",
                                f"The same responder already exists. {shown}")  # fmt: skip
        return {**alert, "responders": [*current, responder]}
    if not found:
        raise ChangeRefused("ERROR_RESPONDER_NOT_EXIST", f"Responder does not exist. {shown}")
    return {**alert, "responders": [r for r in current if r != responder]}


def _dependencies(alert: AlertDoc, method: str, project_id: str) -> AlertDoc:
    current = list(alert.get("project_dependencies") or ())
    if method == "add_project_dependency":
        if project_id in current:
            message = f"The same project already exists. (project_id = {project_id})"
            raise ChangeRefused("ERROR_SAME_PROJECT_DEPENDENCY_ALREADY_EXISTS", message)
        return {**alert, "project_dependencies": [*current, project_id]}
    if project_id not in current:
        raise ChangeRefused("ERROR_PROJECT_DEPENDENCY_NOT_EXIST",
                            f"Project does not exist. (project_id = {project_id})")  # fmt: skip
    return {**alert, "project_dependencies": [p for p in current if p != project_id]}


def change_time(instant: datetime) -> str:
    """A change's time as alerts store times."""
    return format_timestamp(instant)


# ---- a run of changes, as the worker applies them -------------------------------------------

State = dict[str, Any]  # schemas.alert.KeyState as JSON values


@dataclass
class ChangedAlerts:
    """What a run of changes did: alerts to write (by id), alerts to delete, and the new
    state of each key whose current alert changed."""

    alerts: dict[str, AlertDoc] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    states: dict[bytes, State] = field(default_factory=dict)


def apply_changes(
    changes: Sequence[ChangeDoc],
    states: Mapping[bytes, Any],
    written: Mapping[str, AlertDoc | None],
    stored: Mapping[str, AlertDoc | None],
) -> ChangedAlerts:
    """Apply changes in order. An alert is taken from the newest place that has it: the
    state of its key when it is that key's current alert (the table is the truth for it),
    else `written` (this batch wrote it already; None: deleted), else `stored` (as the
    alerts index had it when the batch began; None: no such alert). `states` holds each
    key's state as the table does (JSON bytes, or dicts).

    A change already applied (a replayed record) changes nothing, but its alert is written
    again; a refused change is remembered with its error, the alert otherwise unchanged."""
    out = ChangedAlerts()
    seen: dict[str, AlertDoc | None] = {}
    current_states: dict[bytes, State | None] = {}
    for change in changes:
        key = change["correlation_key"].encode()
        if key not in current_states:
            current_states[key] = load_state(states.get(key))
        state = current_states[key]
        alert_id = change["alert_id"]
        current = state.get("alert") if state else None
        in_state = current is not None and current["alert_id"] == alert_id
        if in_state:
            alert = current
        elif alert_id in seen:
            alert = seen[alert_id]
        elif alert_id in written:
            alert = written[alert_id]
        else:
            alert = stored.get(alert_id)
        new = _apply_one(alert, change)
        if new is alert and alert is None:
            continue  # nothing to change: no such alert (the API answers 404)
        seen[alert_id] = new
        if new is None:
            out.alerts.pop(alert_id, None)
            out.deleted.append(alert_id)
        else:
            out.alerts[alert_id] = new
        if in_state:
            assert state is not None
            state = current_states[key] = out.states[key] = {**state, "alert": new}
    return out


def _apply_one(alert: AlertDoc | None, change: ChangeDoc) -> AlertDoc | None:
    method, change_id = change["method"], change["change_id"]
    if method == "create":
        if alert is not None:
            return alert  # created already (a replay)
        return remember({**change["alert"], "changes": []}, change_id)
    if alert is None or already_applied(alert, change_id) is not None:
        return alert
    if method == "delete":
        return None
    try:
        return remember(apply_change(alert, change), change_id)
    except ChangeRefused as refusal:
        return remember(alert, change_id, refusal)


# ---- change records on events.normalized ----------------------------------------------------

CHANGE_PREFIX = ALERT_CHANGE_FORMAT + b"\n"


def encode_change(change: ChangeDoc) -> bytes:
    """The `events.normalized` record of a change: a prefix no events record starts with."""
    return CHANGE_PREFIX + orjson.dumps(change)


def is_change(value: bytes | None) -> bool:
    return value is not None and value.startswith(CHANGE_PREFIX)


def decode_change(value: bytes) -> ChangeDoc:
    """A change record's change; InvalidRecord (a dead letter) when it is not one."""
    try:
        change = orjson.loads(value[len(CHANGE_PREFIX) :])
    except orjson.JSONDecodeError as error:
        raise InvalidRecord("ERROR_INVALID_CHANGE", f"not JSON: {error}") from None
    required = ("change_id", "method", "alert_id", "correlation_key", "at")
    if not isinstance(change, dict) or any(not change.get(name) for name in required):
        raise InvalidRecord("ERROR_INVALID_CHANGE", f"an alert change needs {required}")
    return change


# ---- a batch of events and changes ----------------------------------------------------------


def correlate_with_changes(
    events: Sequence[NormalizedEvent],
    changes: Sequence[tuple[int, ChangeDoc]],
    table: Mapping[bytes, Any],
    window: timedelta,
    stored: Mapping[str, AlertDoc | None],
) -> tuple[CorrelatedBatch, list[str]]:
    """Correlate a batch's events and apply its changes in the order they came: each change
    is `(n, change)`, after the first n events. One CorrelatedBatch (each key's new state
    once, each alert written at its latest) and the alerts deleted."""
    out = CorrelatedBatch()
    overlay: dict[bytes, State] = {}
    view = ChainMap(overlay, table)  # type: ignore[arg-type]
    deleted: dict[str, None] = {}
    start = 0
    for at, group in groupby(changes, key=lambda pair: pair[0]):
        _merge(out, correlate_batch(events[start:at], view, window), overlay, deleted)
        written = {**out.alerts, **deleted}
        done = apply_changes([change for _, change in group], view, written, stored)
        for alert_id in done.deleted:
            out.alerts.pop(alert_id, None)
            deleted[alert_id] = None
        out.alerts.update(done.alerts)
        overlay.update(done.states)
        start = at
    _merge(out, correlate_batch(events[start:], view, window), overlay, deleted)
    out.states = overlay
    return out, list(deleted)


def _merge(
    out: CorrelatedBatch, part: CorrelatedBatch, overlay: dict[bytes, State], deleted: dict
) -> None:
    """`part` (a run of events) added to the batch so far."""
    for name, value in vars(part).items():
        if name == "states":
            overlay.update(value)
        elif name == "alerts":
            out.alerts.update(value)
            for alert_id in value:
                deleted.pop(alert_id, None)
        elif isinstance(value, list):
            getattr(out, name).extend(value)
        elif isinstance(value, int):
            setattr(out, name, getattr(out, name) + value)
