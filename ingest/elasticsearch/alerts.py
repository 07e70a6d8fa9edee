"""The worker's reads around alerts: the numbers of the alerts a batch opens, and the alerts
people's changes of a batch are for.

Alert numbers: per domain, positive, unique, growing with the order alerts are opened.

Each domain has one counter document, and a number is a version of it: every write of a
document gets the next `_version`, which Elasticsearch assigns on the document's primary,
one write after the other. Taking k numbers is one bulk request of k writes of the domain's
counter, so it costs a request per batch and domain, takes no lock of eventpipe's, and
domains never wait for each other (no script either: a minimal node has no script engine).
Numbers a batch took and then did not use (it failed and is read again) are gaps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from elasticsearch import AsyncElasticsearch


class NumbersRefused(ConnectionError):
    """Elasticsearch refused a write of a counter for now (429, a shard not ready): retried
    as an unreachable node is (`ingest.retry`), the document itself is never at fault."""


async def take_numbers(es: AsyncElasticsearch, index: str, domain_id: str, count: int) -> list[int]:
    """`count` new numbers of `domain_id`, increasing (1 for its first alert)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    action = b'{"index":{"_index":%s,"_id":%s}}' % (orjson.dumps(index), orjson.dumps(domain_id))
    doc = orjson.dumps({"domain_id": domain_id})
    body = b"\n".join([action + b"\n" + doc] * count) + b"\n"
    response = await es.bulk(operations=body, filter_path="errors,items.*.status,items.*._version")
    items = [next(iter(item.values())) for item in response["items"]]
    if response.get("errors") or any(item.get("status", 500) >= 300 for item in items):
        raise NumbersRefused(f"counter writes refused: {[i.get('status') for i in items]}")
    return sorted(int(item["_version"]) for item in items)


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
        numbers = await take_numbers(es, index, domain_id, len(ids))
        number = dict(zip(ids, numbers, strict=True))
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
