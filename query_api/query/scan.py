"""The one point-in-time scan: pages past Elasticsearch's from+size window, read
consistently with search_after in a point in time (PIT).

A list page past 10,000 skips its offset with sort values only, then reads the page; a
stat over more events than one request holds reads them page by page. Both open, walk
and close the PIT here, so its id (which Elasticsearch may change on every answer),
its keep-alive and its closing (even when the reader stops early) live in one place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError

PIT_KEEP_ALIVE = "1m"


class PointInTime:
    """An open point in time over an index: searches in it, pages through it."""

    def __init__(self, es: AsyncElasticsearch, pit_id: str) -> None:
        self._es = es
        self.pit_id = pit_id

    async def search(self, **kwargs: Any) -> dict[str, Any]:
        """One search in the point in time (no index: the PIT names it)."""
        response = await self._es.search(
            pit={"id": self.pit_id, "keep_alive": PIT_KEEP_ALIVE}, **kwargs
        )
        body: dict[str, Any] = response.body
        self.pit_id = body.get("pit_id", self.pit_id)
        return body

    async def pages(
        self, *, size: int, after: list[Any] | None = None, **kwargs: Any
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every hit from `after` on, `size` at a time, in the request's sort (which must
        end in a unique tie-break); stops after the first short page."""
        while True:
            response = await self.search(size=size, search_after=after, **kwargs)
            hits: list[dict[str, Any]] = response["hits"]["hits"]
            yield hits
            if len(hits) < size:
                return
            after = hits[-1]["sort"]


@asynccontextmanager
async def point_in_time(
    es: AsyncElasticsearch, index: str, *, ignore_unavailable: bool = False
) -> AsyncIterator[PointInTime]:
    """A point in time over `index`, closed on the way out (an expired one is fine)."""
    opened = await es.open_point_in_time(
        index=index, keep_alive=PIT_KEEP_ALIVE, ignore_unavailable=ignore_unavailable
    )
    pit = PointInTime(es, opened["id"])
    try:
        yield pit
    finally:
        try:
            await es.close_point_in_time(id=pit.pit_id)
        except NotFoundError:
            pass  # expired already
