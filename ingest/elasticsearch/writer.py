"""The one place the processor writes to Elasticsearch: bulk requests, retried per item
(and the documents a `create` found already there, read back to compare: `read_stored`).

`write_bulk` returns once every item is acknowledged or dead: 429 and 5xx items are sent
again (only those), any other 4xx item is dead with its reason, and a whole request
Elasticsearch refuses for good (`Invalid`) makes every item in it dead. An unreachable
or overloaded node is waited for (`ingest.retry`), so the caller may ack after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from elasticsearch import AsyncElasticsearch
from elasticsearch.serializer import NdjsonSerializer, OrjsonSerializer

from ingest.elasticsearch.bulk import BulkResult, classify_bulk_response, to_bulk_body
from ingest.metrics import BULK_SECONDS
from ingest.retry import Backoff, Invalid, Stopping, retry

log = logging.getLogger("eventpipe.index")

# Only what classify_bulk_response reads: a smaller response to parse.
BULK_FILTER = "errors,items.*.status,items.*.error"


class BytesNdjsonSerializer(NdjsonSerializer):
    """NDJSON whose body may already be the bytes to send: passed on as they are (the stock
    serializer copies every body, megabytes per bulk request, into a new buffer)."""

    def dumps(self, data: Any) -> bytes:
        if isinstance(data, bytes) and data.endswith(b"\n"):
            return data
        return super().dumps(data)


def client_serializers() -> dict[str, Any]:
    """Serializers for the processor's client: orjson for JSON answers (a bulk answer has an
    item per document), bulk bodies sent as built."""
    return {
        "application/json": OrjsonSerializer(),
        "application/vnd.elasticsearch+json": OrjsonSerializer(),
        "application/x-ndjson": BytesNdjsonSerializer(),
        "application/vnd.elasticsearch+x-ndjson": BytesNdjsonSerializer(),
    }


async def read_stored(
    es: AsyncElasticsearch, refs: Sequence[tuple[str, str]], stopping: Callable[[], bool]
) -> list[dict[str, Any] | None]:
    """The _source of each (index, id), None where there is none; waited for while
    Elasticsearch is unreachable, as every write is."""
    if not refs:
        return []

    async def get() -> list[dict[str, Any] | None]:
        docs = [{"_index": index, "_id": doc_id} for index, doc_id in refs]
        response = await es.mget(docs=docs, filter_path="docs._id,docs.found,docs._source")
        return [d.get("_source") if d.get("found") else None for d in response["docs"]]

    return await retry(get, "reading documents back", stopping)


async def write_bulk(
    es: AsyncElasticsearch,
    items: Sequence[tuple[bytes, bytes]],
    stopping: Callable[[], bool],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> BulkResult:
    """Write (action, document) pairs until each is acknowledged or dead."""
    result = BulkResult()
    pending = list(range(len(items)))
    backoff = Backoff(sleep=sleep)
    while pending:
        body = to_bulk_body([items[i] for i in pending])

        async def send(body: bytes = body) -> dict:
            with BULK_SECONDS.time():
                response = await es.bulk(operations=body, filter_path=BULK_FILTER)
            return dict(response.body)

        try:
            response = await retry(send, "bulk request", stopping, sleep)
        except Invalid as invalid:
            result.dead += [(i, f"bulk request refused: {invalid.reason}") for i in pending]
            return result
        outcome = classify_bulk_response(response)
        result.done += [pending[i] for i in outcome.done]
        result.duplicates += [pending[i] for i in outcome.duplicates]
        result.dead += [(pending[i], reason) for i, reason in outcome.dead]
        result.retried += len(outcome.retry)
        pending = [pending[i] for i in outcome.retry]
        if pending:
            if stopping():
                raise Stopping(f"{len(pending)} documents not indexed at shutdown")
            log.warning(
                "%d bulk items refused for now; retrying in %.1f s", len(pending), backoff.delay
            )
            await backoff.wait()
    return result
