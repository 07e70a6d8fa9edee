"""The node is a real Elasticsearch: bulk index, search and aggregate with the async client."""

from __future__ import annotations

from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_bulk


async def test_index_search_aggregate(es: AsyncElasticsearch, unique_name: str) -> None:
    # The integ-test-zip has no `GET /`; the nodes API reports the version.
    nodes = await es.nodes.info()
    versions = {node["version"] for node in nodes["nodes"].values()}
    assert versions and all(v.split(".")[0] == "9" for v in versions)
    await es.indices.create(
        index=unique_name,
        mappings={
            "properties": {
                "title": {"type": "text"},
                "severity": {"type": "keyword"},
                "created_at": {"type": "date"},
            }
        },
    )
    try:
        severities = ["CRITICAL", "WARNING", "WARNING", "INFO"] * 25
        docs = [
            {
                "_index": unique_name,
                "_id": f"event-{i:04d}",
                "title": f"disk {'full' if i % 2 else 'slow'} on host-{i % 5}",
                "severity": severity,
                "created_at": f"2024-05-{1 + i % 3:02d}T00:00:00.000Z",
            }
            for i, severity in enumerate(severities)
        ]
        indexed, errors = await async_bulk(es, docs, refresh="wait_for")
        assert (indexed, errors) == (100, [])

        hits = await es.search(
            index=unique_name,
            query={"bool": {"must": [{"match": {"title": "full"}}],
                            "filter": [{"term": {"severity": "WARNING"}}]}},
            size=100,
        )  # fmt: skip
        ids = sorted(hit["_id"] for hit in hits["hits"]["hits"])
        expected = sorted(
            d["_id"] for d in docs if "full" in d["title"] and d["severity"] == "WARNING"
        )
        assert ids == expected and hits["hits"]["total"]["value"] == len(expected)

        result = await es.search(
            index=unique_name, size=0, aggs={"by_severity": {"terms": {"field": "severity"}}}
        )
        counts = {
            b["key"]: b["doc_count"] for b in result["aggregations"]["by_severity"]["buckets"]
        }
        assert counts == {"WARNING": 50, "CRITICAL": 25, "INFO": 25}
    finally:
        await es.indices.delete(index=unique_name)


async def test_credentials_are_checked(es: AsyncElasticsearch) -> None:
    """Security is on for the local node: a wrong password is refused."""
    from elasticsearch import AuthenticationException

    options = es.transport.node_pool.get().config
    if es._headers.get("authorization") is None:  # containers run without security
        return
    wrong = AsyncElasticsearch(f"{options.scheme}://{options.host}:{options.port}",
                               basic_auth=("elastic", "not-the-password"))  # fmt: skip
    try:
        try:
            await wrong.info()
        except AuthenticationException:
            return
        raise AssertionError("a wrong password was accepted")
    finally:
        await wrong.close()
