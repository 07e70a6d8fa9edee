"""Retention is a decision over daily index names."""

from __future__ import annotations

from datetime import UTC, date, datetime

from ingest.elasticsearch.indices import expired_indices
from schemas.index import events_index_for, events_template, field_kind


def test_expired_indices_keep_the_retention_window() -> None:
    names = [
        "ev-2024.04.28", "ev-2024.04.29", "ev-2024.04.30", "ev-2024.05.01",
        "ev-other", "ev-2024.13.01", "other-2024.01.01", "ev-2024.04.2",
    ]  # fmt: skip
    # 3 days kept: today and the two before it.
    assert expired_indices(names, "ev", 3, date(2024, 5, 1)) == ["ev-2024.04.28"]
    assert expired_indices(names, "ev", 1, date(2024, 5, 1)) == [
        "ev-2024.04.28", "ev-2024.04.29", "ev-2024.04.30",
    ]  # fmt: skip


def test_events_land_in_the_index_of_their_utc_day() -> None:
    created = datetime(2024, 5, 1, 23, 30, tzinfo=UTC)
    assert events_index_for("ev", created) == "ev-2024.05.01"
    template = events_template("ev")
    assert template["index_patterns"] == ["ev-*"]
    assert template["template"]["aliases"] == {"ev": {}}
    assert template["template"]["mappings"]["dynamic"] == "strict"


def test_field_kinds_come_from_the_mapping() -> None:
    assert field_kind("title") == ("text", "title.keyword")
    assert field_kind("severity") == ("keyword", "severity")
    assert field_kind("resource.name") == ("keyword", "resource.name")
    assert field_kind("additional_info.env.tier") == ("flattened", "additional_info.env.tier")
    assert field_kind("created_at") == ("date", "created_at")
    assert field_kind("resource") == ("object", "resource")
    assert field_kind("no_such_field") is None
    assert field_kind("severity.deeper") is None
