"""Retried deliveries (SPEC §4.6): an event identical to one already written is a retry. Pure.

A sender that got no clear answer (a 503 after a timeout, a reset connection) sends the
same payload again, and the first copy may have reached Kafka all the same. The parse
stage stamps each event with a fingerprint of its content (`content_fingerprint`: the
document without event_id, alert_id and created_at, so webhook_id, event_key and the
whole raw payload are in it) and with its webhook's window. Here, per correlation key,
the fingerprints of the events written lately are kept, in the order written, with when
they were received and the event that was written; an event whose fingerprint is there,
received within the window of that first one, is a retry and is dropped.

The part of the key's state this module owns is `state["deliveries"]`:
`{fingerprint: [created_at, event_id, window_seconds]}` (`schemas.alert.KeyState`), at
most `MAX_KEPT` entries, an entry pruned once its window (and a margin for replays) is
over: memory grows with keys, not with events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "MAX_KEPT",
    "PRUNE_MARGIN",
    "Deliveries",
    "content_fingerprint",
    "is_retry",
    "remember",
    "still_needed",
]

# Distinct contents one key can send within a window and still have each retry caught;
# past it, the oldest are forgotten first.
MAX_KEPT = 32
# An entry outlives its window by this much: a replay after a crash (records read again
# from the last committed offset) still finds what the first reading wrote.
PRUNE_MARGIN = timedelta(minutes=5)

# fingerprint -> [created_at of the event written, its event_id, the window in seconds]
Deliveries = dict[str, list[Any]]


def content_fingerprint(content: bytes) -> str:
    """24 hex of BLAKE2b over the event's content bytes (collisions: never in
    practice, at 96 bits among a key's few entries)."""
    return hashlib.blake2b(content, digest_size=12).hexdigest()


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def is_retry(
    deliveries: Mapping[str, list[Any]] | None,
    fingerprint: str,
    event_id: str,
    created_at: str,
    window_seconds: float,
) -> bool:
    """True when an identical event was written for this key within `window_seconds` of
    this one (either side: the sender's retry can reach Kafka before the first copy).

    The event that was written is never its own retry: a replay of its record (same
    event_id) is correlation's business. No fingerprint or a 0 window: never a retry.
    """
    if not fingerprint or window_seconds <= 0 or not deliveries:
        return False
    entry = deliveries.get(fingerprint)
    if entry is None or entry[1] == event_id:
        return False
    apart = abs((_time(created_at) - _time(entry[0])).total_seconds())
    return apart <= window_seconds


def remember(
    deliveries: Mapping[str, list[Any]] | None,
    fingerprint: str,
    event_id: str,
    created_at: str,
    window_seconds: float,
) -> Deliveries:
    """The entries after writing this event, in the order they were written (the JSON
    object keeps it): this one last, replacing an older entry of the same content; the
    oldest pruned while their window (and margin) ended before this event, and beyond
    `MAX_KEPT`. A new dict, the caller's state untouched; each call parses only the times
    of the entries it prunes and the first it keeps."""
    kept: Deliveries = dict(deliveries or {})
    kept.pop(fingerprint, None)
    if kept:
        now = _time(created_at)
        for known, entry in list(kept.items()):
            if not _expired(entry, now):
                break
            del kept[known]
    kept[fingerprint] = [created_at, event_id, window_seconds]
    while len(kept) > MAX_KEPT:
        del kept[next(iter(kept))]
    return kept


def _expired(entry: list[Any], now: datetime) -> bool:
    return _time(entry[0]) + timedelta(seconds=entry[2]) + PRUNE_MARGIN < now


def still_needed(deliveries: Mapping[str, list[Any]] | None, now: datetime) -> bool:
    """Whether a retry received at `now` could still match an entry (its window and margin
    not over): then the key's state must not be forgotten."""
    return any(not _expired(entry, now) for entry in reversed((deliveries or {}).values()))
