"""`distinct: "field"` (SPEC §6): the field's sorted distinct values, a composite
aggregation over one source paged to completion (no missing bucket: null is no value)."""

from __future__ import annotations

from typing import Any

from query_api.query.stat.plan import KeyPlan


def distinct_aggregations(
    plan: KeyPlan, *, after: dict[str, Any] | None = None, size: int = 1_000
) -> dict[str, Any]:
    source = plan.source(missing_bucket=False)
    composite: dict[str, Any] = {"size": size, "sources": [{"v": source}]}
    if after is not None:
        composite["after"] = after
    return {"values": {"composite": composite}}


def distinct_from_aggregations(
    plan: KeyPlan, aggregations: dict[str, Any]
) -> tuple[list[Any], dict[str, Any] | None]:
    buckets = aggregations["values"]["buckets"]
    values = [plan.bucket_value(bucket["key"]["v"]) for bucket in buckets]
    return values, (aggregations["values"].get("after_key") if buckets else None)
