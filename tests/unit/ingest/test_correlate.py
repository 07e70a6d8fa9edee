"""Correlation rules of SPEC §4.5, event by event; states and alerts keep their schema."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ingest.process.correlate import (
    alert_id_for,
    correlate,
    correlate_batch,
    correlation_key,
    is_quiet,
    load_state,
)
from ingest.process.normalize import NormalizedEvent
from ingest.process.states import encode_state
from schemas.alert import KeyState, StoredAlert
from schemas.event import format_timestamp

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=600)
KEY = correlation_key("domain-1", "project-1", "cpu-high")


def event(
    n: int, kind: str = "ALERT", at: float = 0, severity: str = "CRITICAL", key: str = KEY
) -> NormalizedEvent:
    return NormalizedEvent(
        key=key,
        event_id=f"event-{n:024x}",
        event_type=kind,
        severity=severity,
        created_at=format_timestamp(T0 + timedelta(seconds=at)),
        doc=b"{}",
    )


def at(seconds: float) -> str:
    return format_timestamp(T0 + timedelta(seconds=seconds))


def run(*events: NormalizedEvent) -> tuple[list[str], dict[str, Any]]:
    state: dict[str, Any] | None = None
    ids = []
    for e in events:
        result = correlate(state, e, WINDOW)
        state = result.state
        ids.append(result.alert_id)
        # Whatever the rules do, state and alert keep the schema's shape and formats.
        assert KeyState.model_validate(state).model_dump(mode="json") == state
        if result.alert is not None:
            assert StoredAlert.model_validate(result.alert).model_dump(mode="json") == result.alert
    assert state is not None
    return ids, state


def test_first_alert_opens_a_triggered_high_urgency_alert() -> None:
    result = correlate(None, event(1), WINDOW)
    assert result.alert_id == alert_id_for(event(1).event_id)
    assert result.alert is not None
    assert (result.alert["state"], result.alert["urgency"]) == ("TRIGGERED", "HIGH")
    assert result.alert["event_count"] == 1
    assert (result.alert["event_key"], result.alert["project_id"]) == ("cpu-high", "project-1")
    assert result.alert["domain_id"] == "domain-1"


def test_repeats_within_window_attach_and_recovery_resolves() -> None:
    ids, state = run(event(1), event(2, at=300), event(3, "RECOVERY", at=500))
    assert ids[0] == ids[1] == ids[2] != ""
    assert state["alert"]["state"] == "RESOLVED"
    assert state["alert"]["event_count"] == 3
    assert state["alert"]["resolved_at"] == at(500)
    assert state["alert"]["first_event_at"] == at(0)
    assert state["alert"]["last_event_at"] == at(500)


def test_window_counts_from_the_last_non_recovery_event() -> None:
    # 0 -> 550 -> 1100: each gap is under 600 s though the total is not.
    ids, _ = run(event(1), event(2, at=550), event(3, at=1100))
    assert len(set(ids)) == 1
    ids, _ = run(event(1), event(2, at=601))
    assert ids[0] != ids[1]


def test_alert_after_resolution_opens_a_new_alert() -> None:
    ids, state = run(event(1), event(2, "RECOVERY", at=10), event(3, at=20))
    assert ids[0] == ids[1] and ids[2] not in ("", ids[0])
    assert state["alert"]["state"] == "TRIGGERED"


def test_recovery_without_open_alert_is_kept_without_alert() -> None:
    result = correlate(None, event(1, "RECOVERY"), WINDOW)
    assert (result.alert_id, result.alert, result.orphan_recovery) == ("", None, True)
    late = run(event(1), event(2, "RECOVERY", at=900))[0]
    assert late[1] == ""


def test_error_event_opens_error_alert_and_low_urgency_for_warning() -> None:
    error = correlate(None, event(1, "ERROR", severity="ERROR"), WINDOW).alert
    assert error is not None and error["state"] == "ERROR"
    warning = correlate(None, event(1, severity="WARNING"), WINDOW).alert
    assert warning is not None and warning["urgency"] == "LOW"


def test_an_out_of_order_event_never_moves_last_event_at_back() -> None:
    _, state = run(event(1, at=100), event(2, at=50))
    assert state["alert"]["last_event_at"] == at(100)


def test_replayed_events_get_the_same_answer() -> None:
    first = [event(1), event(2, at=10), event(3, "RECOVERY", at=20)]
    ids, state = run(*first)
    # A crash after the state was saved replays the batch against the newer state.
    for e, expected in zip(first, ids, strict=True):
        again = correlate(state, e, WINDOW)
        assert again.alert_id == expected
        assert again.state == state


def test_state_is_quiet_once_older_than_the_horizon() -> None:
    _, state = run(event(1), event(2, "RECOVERY", at=100))
    assert not is_quiet(state, T0 + timedelta(seconds=50))
    assert not is_quiet(state, T0 + timedelta(seconds=100))  # the alert's last event
    assert is_quiet(state, T0 + timedelta(seconds=101))
    orphan = correlate(None, event(3, "RECOVERY", at=7), WINDOW).state
    assert is_quiet(orphan, T0)  # nothing to attach to, ever


def test_a_batch_reads_each_key_once_and_returns_one_state_per_key() -> None:
    disk = correlation_key("domain-1", "project-1", "disk-full")
    other = event(9, key=disk)
    first, second = event(1), event(2, "RECOVERY", at=30)
    stored_before = correlate(None, event(0, at=-10), WINDOW).state
    table = {KEY.encode(): orjson.dumps(stored_before)}

    batch = correlate_batch([first, other, second], table, WINDOW)

    opened = alert_id_for(event(0).event_id)
    assert batch.alert_ids == [opened, alert_id_for(other.event_id), opened]
    assert batch.alerts[opened]["state"] == "RESOLVED"
    assert batch.alerts[opened]["event_count"] == 3
    assert batch.orphans == 0
    assert set(batch.states) == {KEY.encode(), disk.encode()}
    assert batch.states[KEY.encode()]["alert"]["state"] == "RESOLVED"
    assert table == {KEY.encode(): orjson.dumps(stored_before)}  # the caller stores states


def test_state_reads_the_same_from_the_workers_bytes_and_from_recovered_dicts() -> None:
    state = correlate(None, event(1), WINDOW).state
    assert load_state(orjson.dumps(state)) == state
    assert load_state(KeyState.model_validate(state).model_dump(mode="json")) == state
    # A state the previous worker wrote (pydantic's JSON) reads the same.
    assert load_state(KeyState.model_validate(state).model_dump_json().encode()) == state
    assert load_state(None) is None


def test_a_stored_state_takes_about_its_own_size_in_memory() -> None:
    """The table holds one per live key: 200,000 of them must fit the worker's budget."""
    states = [correlate(None, event(n), WINDOW).state for n in range(2000)]
    tracemalloc.start()
    try:
        kept = [encode_state(state) for state in states]
        used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    average = sum(map(len, kept)) / len(kept)
    assert used / len(kept) < 2 * average


def acknowledged(state: dict[str, Any], when: str = "") -> dict[str, Any]:
    """The state after a person acknowledged its alert (what the worker applies)."""
    when = when or at(5)
    alert = {**state["alert"], "state": "ACKNOWLEDGED", "acknowledged_at": when, "updated_at": when}
    return {**state, "alert": alert}


def test_events_of_an_acknowledged_alert_attach_and_leave_it_acknowledged() -> None:
    _, state = run(event(1))
    state = acknowledged(state)
    again = correlate(state, event(2, at=30), WINDOW)
    assert again.alert is not None and again.alert_id == alert_id_for(event(1).event_id)
    assert (again.alert["state"], again.alert["acknowledged_at"]) == ("ACKNOWLEDGED", at(5))
    assert again.alert["event_count"] == 2 and again.alert["updated_at"] == at(30)


def test_a_recovery_resolves_an_acknowledged_alert() -> None:
    _, state = run(event(1))
    resolved = correlate(acknowledged(state), event(2, "RECOVERY", at=40), WINDOW).alert
    assert resolved is not None
    assert (resolved["state"], resolved["resolved_at"]) == ("RESOLVED", at(40))
    assert resolved["acknowledged_at"] == at(5)


def test_an_alert_a_person_resolved_takes_no_more_events_a_new_one_opens() -> None:
    _, state = run(event(1))
    state = {**state, "alert": {**state["alert"], "state": "RESOLVED", "resolved_at": at(5)}}
    result = correlate(state, event(2, at=10), WINDOW)
    assert result.alert is not None and result.alert_id == alert_id_for(event(2).event_id)
    assert result.alert["state"] == "TRIGGERED"
    assert correlate(state, event(3, "RECOVERY", at=10), WINDOW).orphan_recovery


def test_an_alert_opens_with_alertinfos_fields_from_its_event() -> None:
    doc = {
        "title": "CPU high", "description": "95%", "rule": "node", "provider": "prometheus",
        "account": "acc", "image_url": "http://i", "additional_info": {"env": "prod"},
        "resource": {"resource_id": "r1", "resource_type": "host", "name": "web-1"},
        "webhook_id": "webhook-1",
    }  # fmt: skip
    opened = correlate(None, event(1)._replace(doc=orjson.dumps(doc)), WINDOW).alert
    assert opened is not None
    assert {k: opened[k] for k in doc} == doc
    assert (opened["triggered_by"], opened["severity"], opened["alert_number"]) == (
        "webhook-1", "CRITICAL", 0)  # fmt: skip
    assert (opened["created_at"], opened["updated_at"]) == (at(0), at(0))
    assert opened["correlation_key"] == KEY and opened["changes"] == []


def test_a_state_an_earlier_version_kept_is_upgraded_on_read() -> None:
    old = {"alert": {"alert_id": "alert-1", "event_key": "cpu-high", "project_id": "project-1",
                     "domain_id": "domain-1", "state": "TRIGGERED", "urgency": "HIGH",
                     "first_event_at": at(0), "last_event_at": at(9), "resolved_at": None,
                     "event_count": 2},
           "last_trigger_at": at(9), "decisions": {}}  # fmt: skip
    state = load_state(orjson.dumps(old))
    assert state is not None
    alert = StoredAlert.model_validate(state["alert"])
    assert (alert.alert_number, alert.correlation_key, alert.event_count) == (0, KEY, 2)
    attached = correlate(state, event(5, at=20), WINDOW).alert
    assert attached is not None and attached["event_count"] == 3
