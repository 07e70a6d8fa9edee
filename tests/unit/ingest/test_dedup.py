"""Retried deliveries (SPEC §4.6): the pure rules of `ingest.process.dedup`, and how the
correlate step drops a retry before it touches the key's alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ingest.process import dedup
from ingest.process.correlate import (
    correlate_batch,
    correlation_key,
    drop_retry,
    is_quiet,
    new_state,
)
from ingest.process.normalize import NormalizedEvent
from ingest.process.states import encode_state
from schemas.alert import KeyState
from schemas.event import format_timestamp

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
KEY = correlation_key("domain-1", "project-1", "cpu-high")
CORRELATION = timedelta(seconds=600)


def at(seconds: float) -> str:
    return format_timestamp(T0 + timedelta(seconds=seconds))


def event(n: int, content: str = "a", seconds: float = 0, window: float = 600,
          kind: str = "ALERT", key: str = KEY) -> NormalizedEvent:  # fmt: skip
    return NormalizedEvent(
        key=key, event_id=f"event-{n:024x}", event_type=kind, severity="CRITICAL",
        created_at=at(seconds), doc=b"{}",
        fingerprint=dedup.content_fingerprint(content.encode()) if window else "", window=window,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("content", "seconds", "window", "retry"),
    [
        ("a", 0.5, 600, True),  # the sender's retry, at once
        ("a", 600, 600, True),  # the window's last moment
        ("a", 600.001, 600, False),  # after the window: a new event
        ("a", -30, 600, True),  # the retry reached Kafka before the first copy
        ("b", 1, 600, False),  # other content for the same key
        ("a", 1, 0, False),  # the window off
    ],
)
def test_is_retry(content: str, seconds: float, window: float, retry: bool) -> None:
    first = event(1)
    seen = dedup.remember(None, first.fingerprint, first.event_id, first.created_at, 600)
    again = event(2, content, seconds, window)
    args = (again.fingerprint, again.event_id, again.created_at, again.window)
    assert dedup.is_retry(seen, *args) is retry


def test_the_event_written_is_never_its_own_retry() -> None:
    first = event(1)
    seen = dedup.remember(None, first.fingerprint, first.event_id, first.created_at, 600)
    assert not dedup.is_retry(seen, first.fingerprint, first.event_id, at(5), 600)


def test_remember_prunes_by_window_and_keeps_at_most_max_kept() -> None:
    seen: dict[str, list[Any]] = {}
    for i in range(dedup.MAX_KEPT + 10):
        seen = dedup.remember(seen, f"f{i}", f"e{i}", at(i), 600)
    assert len(seen) == dedup.MAX_KEPT and "f9" not in seen and f"f{dedup.MAX_KEPT + 9}" in seen
    # An entry goes once its window and the replay margin are over.
    late = 600 + dedup.PRUNE_MARGIN.total_seconds() + 60
    assert dedup.remember(seen, "g", "eg", at(late), 600).keys() == {
        f"f{i}" for i in range(60, dedup.MAX_KEPT + 10)
    } | {"g"}
    # Written again after its window: the entry is replaced, with the new event.
    again = dedup.remember({"f": [at(0), "e1", 600]}, "f", "e2", at(700), 600)
    assert again == {"f": [at(700), "e2", 600]}


def test_still_needed_until_the_last_window_and_margin_are_over() -> None:
    seen = {"f": [at(0), "e1", 600], "g": [at(10), "e2", 30]}
    end = T0 + timedelta(seconds=600) + dedup.PRUNE_MARGIN
    assert dedup.still_needed(seen, end)
    assert not dedup.still_needed(seen, end + timedelta(milliseconds=1))
    assert not dedup.still_needed({}, T0)


def test_a_retry_is_dropped_before_correlation_and_counted() -> None:
    table: dict[bytes, Any] = {}
    batch = correlate_batch([event(1), event(2, seconds=4), event(3, "b", 5)], table, CORRELATION)
    assert batch.alert_ids[1] is None and batch.retries == 1
    assert batch.alert_ids[0] == batch.alert_ids[2] != ""
    state = batch.states[KEY.encode()]
    assert state["alert"]["event_count"] == 2  # the retry never reached the alert
    assert len(state["deliveries"]) == 2
    assert KeyState.model_validate(state).model_dump(mode="json") == state


def test_state_survives_the_table_and_replays_answer_the_same() -> None:
    table: dict[bytes, Any] = {}
    first = correlate_batch([event(1), event(2, seconds=4)], table, CORRELATION)
    table.update({k: encode_state(s) for k, s in first.states.items()})  # as the changelog
    # A crash before the ack: the same records again, then more retries.
    again = correlate_batch([event(1), event(2, seconds=4), event(3, seconds=9)], table,
                            CORRELATION)  # fmt: skip
    assert again.alert_ids == [first.alert_ids[0], None, None] and again.retries == 2
    # Past the window the same content is a new event (a retry never extends the alert:
    # past the correlation window too, it opens a new one).
    later = correlate_batch([event(4, seconds=601)], table, CORRELATION)
    assert later.retries == 0 and later.alert_ids[0] not in (None, "", first.alert_ids[0])


def test_windows_per_webhook_and_off() -> None:
    table: dict[bytes, Any] = {}
    short = correlate_batch([event(1, window=2), event(2, seconds=1, window=2),
                             event(3, seconds=3, window=2)], table, CORRELATION)  # fmt: skip
    assert short.alert_ids[1] is None and short.alert_ids[2] is not None
    off = correlate_batch([event(1, window=0), event(2, seconds=1, window=0)], {}, CORRELATION)
    assert off.retries == 0 and off.states[KEY.encode()]["deliveries"] == {}


def test_drop_retry_leaves_a_replayed_decision_alone() -> None:
    state = {**new_state(), "decisions": {event(1).event_id: "alert-x"}}
    assert drop_retry(state, event(1)) == (False, state)


def test_a_key_is_quiet_only_once_its_deliveries_are_over() -> None:
    state = {**new_state(), "last_trigger_at": at(0),
             "deliveries": {"f": [at(0), "e1", 3600]}}  # fmt: skip
    horizon = T0 + timedelta(seconds=1200)
    assert is_quiet(state, horizon)  # correlation alone would forget it
    assert not is_quiet(state, horizon, T0 + timedelta(seconds=1800))
    assert is_quiet(state, horizon, T0 + timedelta(seconds=3600) + dedup.PRUNE_MARGIN * 2)
