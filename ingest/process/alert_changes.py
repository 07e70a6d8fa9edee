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

from datetime import datetime
from typing import Any

from schemas.event import format_timestamp

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
    entry: dict[str, Any] = {"id": change_id}
    if error is not None:
        entry["error"] = [error.code, error.message]
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
