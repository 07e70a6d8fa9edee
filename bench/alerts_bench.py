"""Alert list/stat latency over N alerts of one domain, through the REST API in-process.

    python -m bench.alerts_bench [--alerts 100000] [--repeat 100] [--keep]

1. A unique prefix `bench-alerts-<hex>`: its alerts index made as the API makes it (the
   project's mapping), N synthetic alerts in one domain (states, urgencies, projects,
   assignees, numbers, titles, creation times over 30 days) bulk-loaded, refreshed and
   force-merged.
2. The real app (`create_app`) in-process over httpx's ASGI transport, a domain API key;
   per query, one request at a time after a warm-up, `--repeat` times, interleaved (each
   round in another order).
3. p50 and p99 per query, in milliseconds. Figures only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_bulk

from ingest.elasticsearch.indices import ensure_alert_indices
from query_api.rest.app import create_app
from schemas.event import format_timestamp
from schemas.settings import Settings

DOMAIN = "domain-bench"
STATES = ["TRIGGERED"] * 2 + ["ACKNOWLEDGED"] + ["RESOLVED"] * 6 + ["ERROR"]
TITLES = ["CPU high", "Disk full", "Memory pressure", "Pod crash looping", "5xx rate"]

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "list: first page (newest)": ("list", {"query": {"page": {"limit": 20}}}),
    "list: open, high urgency": ("list", {"query": {
        "filter": [{"k": "state", "v": ["TRIGGERED", "ACKNOWLEDGED"], "o": "in"},
                   {"k": "urgency", "v": "HIGH", "o": "eq"}], "page": {"limit": 20}}}),
    "list: keyword + sort by number": ("list", {"query": {
        "keyword": "disk", "sort": {"key": "alert_number", "desc": True},
        "page": {"limit": 20}}}),
    "list: filter fields + page 50": ("list", {"project_id": "project-3", "query": {
        "filter": [{"k": "assignee", "v": "ann", "o": "eq"}],
        "page": {"start": 981, "limit": 20}}}),
    "list: count_only": ("list", {"query": {"count_only": True}}),
    "stat: count by state": ("stat", {"query": {"aggregate": [
        {"group": {"keys": [{"key": "state", "name": "state"}],
                   "fields": [{"operator": "count", "name": "n"}]}}]}}),
    "stat: by project and urgency, open": ("stat", {"query": {
        "filter": [{"k": "state", "v": "RESOLVED", "o": "not"}], "aggregate": [
            {"group": {"keys": [{"key": "project_id", "name": "p"},
                                {"key": "urgency", "name": "u"}],
                       "fields": [{"operator": "count", "name": "n"},
                                  {"operator": "max", "key": "alert_number", "name": "last"}]}},
            {"sort": {"key": "n", "desc": True}}]}}),
    "stat: per day, last 7 days": ("stat", {"query": {
        "filter": [{"k": "created_at", "v": "now/d-7d", "o": "timediff_gte"}], "aggregate": [
            {"group": {"keys": [{"key": "created_at", "name": "day", "date_format": "day"}],
                       "fields": [{"operator": "count", "name": "n"}]}}]}}),
}  # fmt: skip


def synthetic_alerts(n: int, now: datetime) -> list[dict[str, Any]]:
    rng = random.Random(7)
    start = now - timedelta(days=30)
    step = timedelta(days=30) / n
    alerts = []
    for i in range(n):
        created = start + step * i
        state = rng.choice(STATES)
        at = format_timestamp(created)
        alerts.append({
            "alert_number": i + 1, "alert_id": f"alert-{secrets.token_hex(12)}",
            "title": f"{rng.choice(TITLES)} on host-{rng.randrange(500)}", "state": state,
            "status_message": None, "description": "synthetic", "assignee":
            rng.choice([None, "ann", "bob", "cid"]), "urgency": rng.choice(["HIGH", "LOW"]),
            "severity": rng.choice(["CRITICAL", "ERROR", "WARNING", "INFO"]), "rule": None,
            "resource": {"resource_id": f"i-{rng.randrange(500)}", "resource_type": "host",
                         "name": f"host-{rng.randrange(500)}"},
            "provider": "prometheus", "account": None, "is_snoozed": False,
            "snoozed_end_time": None, "escalation_step": 1, "escalation_ttl": 0,
            "responders": [], "project_dependencies": [], "image_url": None,
            "additional_info": {"env": rng.choice(["prod", "staging"])},
            "triggered_by": "webhook-bench", "webhook_id": "webhook-bench",
            "escalation_policy_id": None, "project_id": f"project-{rng.randrange(10)}",
            "domain_id": DOMAIN, "created_at": at, "updated_at": at,
            "acknowledged_at": at if state == "ACKNOWLEDGED" else None,
            "resolved_at": at if state == "RESOLVED" else None, "escalated_at": None,
            "event_key": f"key-{i}", "first_event_at": at, "last_event_at": at,
            "event_count": rng.randrange(1, 50), "correlation_key": f"{DOMAIN}\x1fp\x1fkey-{i}",
            "changes": [],
        })  # fmt: skip
    return alerts


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def main(args: argparse.Namespace) -> None:
    base = Settings()
    name = f"bench-alerts-{secrets.token_hex(4)}"
    data = base.model_dump()
    data["indices"].update(alerts=f"{name}-alerts", notes=f"{name}-notes",
                           alert_numbers=f"{name}-numbers", apikeys=f"{name}-apikeys")  # fmt: skip
    data["api"]["grpc_port"] = 0
    data["api"]["key_rate_per_second"] = 0
    settings = Settings.model_validate(data)
    es = AsyncElasticsearch(**settings.elasticsearch.client_options())
    indices = settings.indices
    try:
        await ensure_alert_indices(es, indices)
        started = time.monotonic()
        docs = synthetic_alerts(args.alerts, datetime.now(UTC))
        actions = ({"_index": indices.alerts, "_id": a["alert_id"], "_source": a} for a in docs)
        await async_bulk(es, actions, chunk_size=2000)
        await es.indices.refresh(index=indices.alerts)
        await es.indices.forcemerge(index=indices.alerts, max_num_segments=1)
        print(f"{args.alerts} alerts loaded in {time.monotonic() - started:.1f} s")
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            key, _ = await app.state.keys.create(DOMAIN)
            headers = {"Authorization": f"Bearer {key}"}
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                timings: dict[str, list[float]] = {case: [] for case in CASES}
                order = list(CASES.items())
                for round_ in range(args.repeat + 5):
                    # Each round in another order: no query always follows the same one.
                    order = order[1:] + order[:1]
                    for case, (method, body) in order:
                        t0 = time.perf_counter()
                        response = await http.post(f"/monitoring/v1/alert/{method}",
                                                   headers=headers, json=body)  # fmt: skip
                        response.json()
                        elapsed = (time.perf_counter() - t0) * 1000
                        assert response.status_code == 200, (case, response.text)
                        if round_ >= 5:  # warm-up rounds not counted
                            timings[case].append(elapsed)
        print(f"\n{'query':<40} {'p50 ms':>8} {'p99 ms':>8}   ({args.repeat} each, "
              f"{args.alerts} alerts in one domain)")  # fmt: skip
        for case, values in timings.items():
            print(f"{case:<40} {percentile(values, 50):>8.1f} {percentile(values, 99):>8.1f}")
    finally:
        if not args.keep:
            for index in (indices.alerts, indices.notes, indices.alert_numbers, indices.apikeys):
                await es.indices.delete(index=index, ignore_unavailable=True)
        await es.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the indices afterwards")
    asyncio.run(main(parser.parse_args()))
