"""The one index creator against the real node: created from its spec in `schemas.index`,
and processes racing to create it all succeed."""

from __future__ import annotations

import asyncio

import pytest
from elasticsearch import AsyncElasticsearch

from ingest.elasticsearch.indices import ensure_index
from schemas.index import ALERTS_INDEX, APIKEYS_INDEX, WEBHOOKS_INDEX, IndexSpec


@pytest.mark.parametrize("spec", [ALERTS_INDEX, APIKEYS_INDEX, WEBHOOKS_INDEX],
                         ids=["alerts", "apikeys", "webhooks"])  # fmt: skip
async def test_racing_creators_all_succeed_with_the_specs_mapping(
    es: AsyncElasticsearch, unique_name: str, spec: IndexSpec
) -> None:
    index = f"{unique_name}-created"
    try:
        await asyncio.gather(*(ensure_index(es, index, spec) for _ in range(6)))
        await ensure_index(es, index, spec)  # there already: nothing to do
        mapping = (await es.indices.get_mapping(index=index))[index]["mappings"]
        assert set(mapping["properties"]) == set(spec.mappings["properties"])
        settings = (await es.indices.get_settings(index=index))[index]["settings"]["index"]
        assert settings["number_of_shards"] == "1"
    finally:
        await es.indices.delete(index=index, ignore_unavailable=True)
