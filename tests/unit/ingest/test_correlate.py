"""Correlation rules of SPEC §4.5, event by event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.process.correlate import alert_id_for, correlate, is_quiet
from ingest.process.index import correlate_batch, load_state
from schemas.alert import AlertState, KeyState, Urgency
from schemas.event import EventInfo

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=600)


def event(n: int, kind: str = "ALERT", at: float = 0, severity: str = "CRITICAL") -> EventInfo:
    return EventInfo(
        event_id=f"event-{n:024x}",
        event_key="cpu-high",
        event_type=kind,
        severity=severity,
        project_id="project-1",
        domain_id="domain-1",
        created_at=T0 + timedelta(seconds=at),
    )


def run(*events: EventInfo) -> tuple[list[str], KeyState]:
    state: KeyState | None = None
    ids = []
    for e in events:
        result = correlate(state, e, WINDOW)
        state = result.state
        ids.append(result.alert_id)
    assert state is not None
    return ids, state


def test_first_alert_opens_a_triggered_high_urgency_alert() -> None:
    result = correlate(None, event(1), WINDOW)
    assert result.alert_id == alert_id_for(event(1).event_id)
    assert result.alert is not None
    assert (result.alert.state, result.alert.urgency) == (AlertState.TRIGGERED, Urgency.HIGH)
    assert result.alert.event_count == 1


def test_repeats_within_window_attach_and_recovery_resolves() -> None:
    ids, state = run(event(1), event(2, at=300), event(3, "RECOVERY", at=500))
    assert ids[0] == ids[1] == ids[2] != ""
    assert state.alert is not None
    assert state.alert.state == AlertState.RESOLVED
    assert state.alert.event_count == 3
    assert state.alert.resolved_at == T0 + timedelta(seconds=500)


def test_window_counts_from_the_last_non_recovery_event() -> None:
    # 0 -> 550 -> 1100: each gap is under 600 s though the total is not.
    ids, _ = run(event(1), event(2, at=550), event(3, at=1100))
    assert len(set(ids)) == 1
    ids, _ = run(event(1), event(2, at=601))
    assert ids[0] != ids[1]


def test_alert_after_resolution_opens_a_new_alert() -> None:
    ids, state = run(event(1), event(2, "RECOVERY", at=10), event(3, at=20))
    assert ids[0] == ids[1] and ids[2] not in ("", ids[0])
    assert state.alert is not None and state.alert.state == AlertState.TRIGGERED


def test_recovery_without_open_alert_is_kept_without_alert() -> None:
    result = correlate(None, event(1, "RECOVERY"), WINDOW)
    assert (result.alert_id, result.alert, result.orphan_recovery) == ("", None, True)
    late = run(event(1), event(2, "RECOVERY", at=900))[0]
    assert late[1] == ""


def test_error_event_opens_error_alert_and_low_urgency_for_warning() -> None:
    error = correlate(None, event(1, "ERROR", severity="ERROR"), WINDOW).alert
    assert error is not None and error.state == AlertState.ERROR
    warning = correlate(None, event(1, severity="WARNING"), WINDOW).alert
    assert warning is not None and warning.urgency == Urgency.LOW


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
    other = event(9).model_copy(update={"event_key": "disk-full"})
    first, second = event(1), event(2, "RECOVERY", at=30)
    stored_before = correlate(None, event(0, at=-10), WINDOW).state
    table = {b"domain-1\x1fproject-1\x1fcpu-high": stored_before.model_dump(mode="json")}

    out, alerts, orphans, states = correlate_batch([first, other, second], table, WINDOW)

    opened = alert_id_for(event(0).event_id)
    assert [e.alert_id for e in out] == [opened, alert_id_for(other.event_id), opened]
    assert alerts[opened].state == AlertState.RESOLVED and alerts[opened].event_count == 3
    assert orphans == 0
    assert set(states) == {
        b"domain-1\x1fproject-1\x1fcpu-high",
        b"domain-1\x1fproject-1\x1fdisk-full",
    }
    assert states[b"domain-1\x1fproject-1\x1fcpu-high"].alert.state == AlertState.RESOLVED
    assert table == {b"domain-1\x1fproject-1\x1fcpu-high": stored_before.model_dump(mode="json")}


def test_state_reads_the_same_from_the_workers_bytes_and_from_recovered_dicts() -> None:
    state = correlate(None, event(1), WINDOW).state
    assert load_state(state.model_dump_json().encode()) == state
    assert load_state(state.model_dump(mode="json")) == state
    assert load_state(None) is None
