"""The processor's Elasticsearch client sends bulk bodies as built and reads answers fast."""

from __future__ import annotations

from elasticsearch import AsyncElasticsearch

from ingest.elasticsearch.writer import BytesNdjsonSerializer, client_serializers


def test_a_ready_bulk_body_is_sent_as_it_is() -> None:
    body = b'{"create":{"_index":"i","_id":"1"}}\n{"a":1}\n'
    assert BytesNdjsonSerializer().dumps(body) is body


def test_other_bodies_are_serialized_as_the_stock_serializer_does() -> None:
    serializer = BytesNdjsonSerializer()
    assert serializer.dumps(b'{"a":1}') == b'{"a":1}\n'
    assert serializer.dumps([{"a": 1}, '{"b":2}']) == b'{"a":1}\n{"b":2}\n'


async def test_the_client_takes_them_for_every_mimetype_it_sends_and_reads() -> None:
    es = AsyncElasticsearch("http://127.0.0.1:9", serializers=client_serializers())
    try:
        used = es.transport.serializers.serializers
        for mimetype in ("application/x-ndjson", "application/vnd.elasticsearch+x-ndjson"):
            assert isinstance(used[mimetype], BytesNdjsonSerializer)
        assert used["application/vnd.elasticsearch+json"].loads(b'{"errors":false}') == {
            "errors": False
        }
    finally:
        await es.close()
