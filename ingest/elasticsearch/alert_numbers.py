"""Alert numbers: per domain, positive, unique, growing with the order alerts are opened.

Each domain has one counter document; taking numbers is one scripted update that adds to
it, which Elasticsearch applies atomically on the document's primary. A writer takes a
block at a time (all the alerts a batch opens in that domain), so the counter is touched
once per batch and domain, never locked by eventpipe, and domains never wait for each
other. A block taken for a batch that then fails leaves a gap, which numbers may have.
"""

from __future__ import annotations

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
