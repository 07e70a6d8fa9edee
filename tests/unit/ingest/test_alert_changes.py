"""People's changes to alerts (Cloudforet 1.x's AlertService rules, SPEC §9), applied as the
worker applies them: pure, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.process.alert_changes import (
    ChangeRefused,
    already_applied,
    apply_change,
    apply_changes,
)
from ingest.process.correlate import correlate, correlation_key
from schemas.alert import StoredAlert
from tests.unit.ingest.test_correlate import WINDOW, at, event

KEY = correlation_key("domain-1", "project-1", "cpu-high")


def opened() -> dict[str, Any]:
    alert = correlate(None, event(1), WINDOW).alert
    assert alert is not None
    return {**alert, "alert_number": 7}


def change(method: str, n: int = 1, when: float = 60, **params: Any) -> dict[str, Any]:
    alert = opened()
    return {"change_id": f"change-{n}", "method": method, "alert_id": alert["alert_id"],
            "domain_id": "domain-1", "correlation_key": KEY, "at": at(when), "by": "key-1",
            "params": params}  # fmt: skip


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"state": "ACKNOWLEDGED"}, {"state": "ACKNOWLEDGED", "acknowledged_at": at(60)}),
        ({"state": "RESOLVED"},
         {"state": "RESOLVED", "resolved_at": at(60), "status_message": ""}),
        ({"state": "RESOLVED", "status_message": "fixed"},
         {"state": "RESOLVED", "status_message": "fixed"}),
        ({"title": "t", "description": "d", "assignee": "ann", "urgency": "LOW"},
         {"title": "t", "description": "d", "assignee": "ann", "urgency": "LOW"}),
        ({"reset_description": True, "description": "d"}, {"description": ""}),
        ({"project_id": "project-2"}, {"project_id": "project-2", "assignee": None}),
    ],
)  # fmt: skip
def test_update(params: dict[str, Any], expected: dict[str, Any]) -> None:
    before = {**opened(), "assignee": "bob"}
    after = apply_change(before, change("update", **params))
    assert {k: after[k] for k in expected} == expected
    assert after["updated_at"] == at(60)
    assert StoredAlert.model_validate(after).model_dump(mode="json") == after


def test_acknowledged_at_is_kept_from_the_first_acknowledgement_and_emptied_by_triggered() -> None:
    once = apply_change(opened(), change("update", state="ACKNOWLEDGED", when=60))
    twice = apply_change(once, change("update", 2, when=90, state="ACKNOWLEDGED"))
    assert twice["acknowledged_at"] == at(60)
    back = apply_change(twice, change("update", 3, when=99, state="TRIGGERED"))
    assert (back["acknowledged_at"], back["resolved_at"]) == (None, None)


@pytest.mark.parametrize(
    ("before", "method", "params", "code"),
    [
        ({"state": "ERROR"}, "update", {"title": "x"}, "ERROR_INVALID_PARAMETER"),
        ({}, "update", {"state": "SLEEPING"}, "ERROR_INVALID_PARAMETER"),
        ({"responders": [{"resource_type": "user", "resource_id": "u"}]}, "add_responder",
         {"resource_type": "user", "resource_id": "u"}, "ERROR_SAME_RESPONDER_ALREADY_EXISTS"),
        ({}, "remove_responder", {"resource_type": "user", "resource_id": "u"},
         "ERROR_RESPONDER_NOT_EXIST"),
        ({"project_dependencies": ["p"]}, "add_project_dependency", {"project_id": "p"},
         "ERROR_SAME_PROJECT_DEPENDENCY_ALREADY_EXISTS"),
        ({}, "remove_project_dependency", {"project_id": "p"},
         "ERROR_PROJECT_DEPENDENCY_NOT_EXIST"),
    ],
)  # fmt: skip
def test_refusals(before: dict[str, Any], method: str, params: dict[str, Any], code: str) -> None:
    with pytest.raises(ChangeRefused) as refused:
        apply_change({**opened(), **before}, change(method, **params))
    assert refused.value.code == code


def test_responders_dependencies_and_snooze() -> None:
    alert = apply_change(opened(), change("add_responder", resource_type="user", resource_id="u"))
    alert = apply_change(alert, change("add_project_dependency", project_id="p"))
    alert = apply_change(alert, change("snooze", end_time=at(3600)))
    assert alert["responders"] == [{"resource_type": "user", "resource_id": "u"}]
    assert alert["project_dependencies"] == ["p"]
    assert (alert["is_snoozed"], alert["snoozed_end_time"]) == (True, at(3600))
    alert = apply_change(alert, change("remove_responder", resource_type="user", resource_id="u"))
    assert alert["responders"] == []


def test_a_run_applies_to_the_current_alert_in_the_state_once() -> None:
    state = {"alert": opened(), "last_trigger_at": at(0), "decisions": {}}
    ack = change("update", state="ACKNOWLEDGED")
    done = apply_changes([ack, ack], {KEY.encode(): state}, {}, {})  # the second: a replay
    alert = done.states[KEY.encode()]["alert"]
    assert alert["state"] == "ACKNOWLEDGED"
    assert already_applied(alert, "change-1") == {"id": "change-1", "error": None}
    assert done.alerts[alert["alert_id"]] is alert
    again = apply_changes([ack], {KEY.encode(): done.states[KEY.encode()]}, {}, {})
    assert again.alerts[alert["alert_id"]] == alert  # applied before: written as it is


def test_a_run_takes_an_alert_that_is_no_longer_current_from_the_batch_or_the_index() -> None:
    older = opened()
    newer = {**older, "alert_id": "alert-newer"}
    state = {"alert": newer, "last_trigger_at": at(0), "decisions": {}}
    resolve = change("update", state="RESOLVED")
    from_index = apply_changes([resolve], {KEY.encode(): state}, {}, {older["alert_id"]: older})
    assert from_index.alerts[older["alert_id"]]["state"] == "RESOLVED"
    assert from_index.states == {}  # the key's current alert is untouched
    written = {**older, "title": "written by this batch"}
    from_batch = apply_changes([resolve], {}, {older["alert_id"]: written},
                               {older["alert_id"]: older})  # fmt: skip
    assert from_batch.alerts[older["alert_id"]]["title"] == "written by this batch"


def test_refused_changes_are_remembered_and_deletes_empty_the_state() -> None:
    state = {"alert": {**opened(), "state": "ERROR"}, "last_trigger_at": at(0), "decisions": {}}
    refused = apply_changes([change("update", title="x")], {KEY.encode(): state}, {}, {})
    alert = refused.states[KEY.encode()]["alert"]
    assert alert["title"] == "" and already_applied(alert, "change-1")["error"][0] == (
        "ERROR_INVALID_PARAMETER")  # fmt: skip
    gone = apply_changes([change("delete", 2)], refused.states, {}, {})
    assert gone.deleted == [alert["alert_id"]] and gone.states[KEY.encode()]["alert"] is None
    missing = apply_changes([change("update", 3, title="x")], {}, {}, {})
    assert (missing.alerts, missing.deleted) == ({}, [])


def test_create_writes_the_alert_once() -> None:
    new = {**opened(), "alert_id": "alert-new", "correlation_key": KEY + "\x1e"}
    create = {**change("create"), "alert_id": "alert-new", "alert": new}
    created = apply_changes([create, create], {}, {}, {})
    assert created.alerts["alert-new"]["changes"] == [{"id": "change-1", "error": None}]


def test_a_batch_interleaves_events_and_changes_in_the_order_they_came() -> None:
    from ingest.process.alert_changes import correlate_with_changes, decode_change, encode_change

    first, more, recovery, again = (event(1), event(2, at=30), event(3, "RECOVERY", at=40),
                                    event(4, at=50))  # fmt: skip
    ack = decode_change(encode_change(change("update", state="ACKNOWLEDGED", when=20)))
    alert_id = opened()["alert_id"]
    # first | ack | more, recovery | (nothing) ... again opens a new alert
    batch, deleted = correlate_with_changes([first, more, recovery, again], [(1, ack)], {},
                                            WINDOW, {})  # fmt: skip
    assert deleted == []
    assert batch.alert_ids[:3] == [alert_id] * 3 and batch.alert_ids[3] not in ("", alert_id)
    acked = batch.alerts[alert_id]
    assert (acked["state"], acked["acknowledged_at"], acked["resolved_at"]) == (
        "RESOLVED", at(20), at(40))  # fmt: skip
    assert acked["event_count"] == 3
    assert batch.states[KEY.encode()]["alert"]["alert_id"] == batch.alert_ids[3]

    # the same records again (a replay), against the state and the alerts they left: the
    # same answers, the acknowledgement not applied twice
    replay, _ = correlate_with_changes([first, more, recovery, again], [(1, ack)],
                                       batch.states, WINDOW, {alert_id: acked})  # fmt: skip
    assert replay.alert_ids == batch.alert_ids
    assert replay.alerts[alert_id] == acked


def test_a_deleted_current_alert_takes_no_more_events() -> None:
    from ingest.process.alert_changes import correlate_with_changes

    gone = change("delete")
    batch, deleted = correlate_with_changes([event(1), event(2, at=5), event(3, "RECOVERY", at=9)],
                                            [(1, gone)], {}, WINDOW, {})  # fmt: skip
    assert deleted == [opened()["alert_id"]] and opened()["alert_id"] not in batch.alerts
    assert batch.alert_ids[1] not in ("", opened()["alert_id"])  # a new alert
    assert batch.alerts[batch.alert_ids[1]]["state"] == "RESOLVED"
