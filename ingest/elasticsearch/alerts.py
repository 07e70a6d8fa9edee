"""The worker's reads around alerts: the numbers of the alerts a batch opens, and the alerts
people's changes of a batch are for.

Alert numbers: per domain, positive, unique, growing with the order alerts are opened.

Each domain has one counter document; taking numbers is one scripted update that adds to
it, which Elasticsearch applies atomically on the document's primary. A writer takes a
block at a time (all the alerts a batch opens in that domain), so the counter is touched
once per batch and domain, never locked by eventpipe, and domains never wait for each
other. A block taken for a batch that then fails leaves a gap, which numbers may have.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from elasticsearch import AsyncElasticsearch

ADD = "ctx._source.next += params.count"
RETRIES_ON_CONFLICT = 50


async def take_numbers(es: AsyncElasticsearch, index: str, domain_id: str, count: int) -> int:
    """The first of `count` new consecutive numbers of `domain_id` (1 for its first alert)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    response = await es.update(
        index=index,
        id=domain_id,
        script={"source": ADD, "lang": "painless", "params": {"count": count}},
        upsert={"domain_id": domain_id, "next": count},
        retry_on_conflict=RETRIES_ON_CONFLICT,
        source=True,
    )
    last = int(response["get"]["_source"]["next"])
    return last - count + 1


async def number_alerts(
    es: AsyncElasticsearch, index: str, alerts: Iterable[dict[str, Any]]
) -> int:
    """Give every alert still numbered 0 its number, in order, one block per domain; the
    same alert appearing more than once (a state and a batch's write) gets one number.
    Returns how many alerts were numbered."""
    by_domain: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts:
        if alert is not None and alert.get("alert_number") == 0:
            by_domain.setdefault(alert["domain_id"], []).append(alert)
    numbered = 0
    for domain_id, found in by_domain.items():
        ids = list(dict.fromkeys(alert["alert_id"] for alert in found))
        first = await take_numbers(es, index, domain_id, len(ids))
        number = {alert_id: first + i for i, alert_id in enumerate(ids)}
        for alert in found:
            alert["alert_number"] = number[alert["alert_id"]]
        numbered += len(ids)
    return numbered


async def load_alerts(
    es: AsyncElasticsearch, index: str, alert_ids: Iterable[str]
) -> dict[str, dict[str, Any] | None]:
    """The alerts as the index holds them now (a real-time read: what the worker wrote last
    is seen, refreshed or not); None for those it does not hold."""
    ids = sorted(set(alert_ids))
    if not ids:
        return {}
    response = await es.mget(index=index, ids=ids, realtime=True)
    return {doc["_id"]: doc.get("_source") if doc.get("found") else None
            for doc in response["docs"]}  # fmt: skip
