"""The one index creator against the real node: created from its spec in `schemas.index`,
and processes racing to create it all succeed."""

from __future__ import annotations

import asyncio

import pytest
from elasticsearch import AsyncElasticsearch

from ingest.elasticsearch.indices import ensure_index
from ingest.rules.log import EventRuleLog
from query_api.services.event_rules import EventRuleStore
from schemas.index import (
    ALERTS_INDEX,
    APIKEYS_INDEX,
    EVENT_RULES_INDEX,
    WEBHOOKS_INDEX,
    IndexSpec,
)
from schemas.settings import IndexSettings, Settings


@pytest.mark.parametrize("spec", [ALERTS_INDEX, APIKEYS_INDEX, WEBHOOKS_INDEX, EVENT_RULES_INDEX],
                         ids=["alerts", "apikeys", "webhooks", "event rules"])  # fmt: skip
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


async def test_the_event_rules_store_creates_its_index_with_the_configured_replicas(
    settings: Settings, es: AsyncElasticsearch, unique_name: str
) -> None:
    """EVENTPIPE_INDICES__REPLICAS reaches the rules index (the one creator, from its spec)."""
    index = f"{unique_name}-event-rules"
    ours = settings.model_copy(update={"indices": IndexSettings(event_rules=index, replicas=1)})
    store = EventRuleStore(es, EventRuleLog(ours), index)  # the log is never started: no Kafka
    try:
        await store.ensure_index()
        made = (await es.indices.get_settings(index=index))[index]["settings"]["index"]
        assert made["number_of_replicas"] == "1"
        assert made["mapping"]["total_fields"]["limit"] == "2000"
        mapping = (await es.indices.get_mapping(index=index))[index]["mappings"]
        assert set(mapping["properties"]) == set(EVENT_RULES_INDEX.mappings["properties"])
    finally:
        await es.indices.delete(index=index, ignore_unavailable=True)
