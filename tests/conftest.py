"""Where the tests find a real Kafka broker and a real Elasticsearch node.

In order: endpoints given as `EVENTPIPE_KAFKA__BOOTSTRAP_SERVERS` and
`EVENTPIPE_ELASTICSEARCH__URL`; else containers when a Docker engine answers;
else the local engines of `eventpipe engines up` (started here if needed, and
stopped at the end only if this run started them). Tests name their topics and
indices with `unique_name`, so runs never see each other's data.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from elasticsearch import AsyncElasticsearch

from schemas.settings import Settings


def _endpoints_from_environment() -> Settings | None:
    given = {"EVENTPIPE_KAFKA__BOOTSTRAP_SERVERS", "EVENTPIPE_ELASTICSEARCH__URL"}
    return Settings() if given <= os.environ.keys() else None


def _docker_answers() -> bool:
    try:
        from testcontainers.core.docker_client import DockerClient

        DockerClient().client.ping()
        return True
    except Exception:  # no docker package, no socket, no daemon: all mean "no Docker"
        return False


@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> Iterator[Settings]:
    """Settings pointing at real engines, whichever way they are provided."""
    given = _endpoints_from_environment()
    if given is not None:
        yield given
        return
    if _docker_answers():
        yield from _containers()
        return
    # Let the engines' download and start-up progress reach the terminal.
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print()
        engines = _local_engines()
        first = next(engines)
    yield first
    with capture.global_and_fixture_disabled():
        next(engines, None)


def _containers() -> Iterator[Settings]:
    from testcontainers.elasticsearch import ElasticSearchContainer
    from testcontainers.kafka import KafkaContainer

    with (
        KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft() as kafka,
        ElasticSearchContainer(
            "docker.elastic.co/elasticsearch/elasticsearch:9.5.4", mem_limit="3G"
        ) as es,
    ):
        yield Settings.model_validate(
            {
                "kafka": {"bootstrap_servers": kafka.get_bootstrap_server()},
                "elasticsearch": {"url": es.get_url(), "password": None},
            }
        )


def _local_engines() -> Iterator[Settings]:
    from deploy import engines

    base = Settings()
    already = all(row.healthy for row in engines.status(base.engines))
    engines.up(base.engines)
    try:
        # Re-read: `up` may have generated the Elasticsearch password just now.
        yield Settings()
    finally:
        if not already:
            engines.down(base.engines)


@pytest.fixture(scope="session")
def secure_settings(pytestconfig: pytest.Config) -> Iterator[Settings]:
    """Settings for the secured engines (`engines up --secure`: Kafka SASL_SSL, Elasticsearch
    HTTPS), as the `elastic` superuser. Started here if needed, beside the plain engines, and
    stopped at the end only if this run started them."""
    from deploy import engines
    from deploy.engines.secure import client_settings

    base = Settings().engines
    already = all(row.healthy for row in engines.status(base, secure=True))
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print()
        started = time.monotonic()
        engines.secure_up(base)
        print(f"secured engines ready in {time.monotonic() - started:.1f} s")
    try:
        yield client_settings(base)
    finally:
        if not already:
            with capture.global_and_fixture_disabled():
                stopping = time.monotonic()
                engines.down(base, secure=True)
                print(f"secured engines stopped in {time.monotonic() - stopping:.1f} s")


@pytest.fixture
def unique_name() -> str:
    """A topic/index name no other test or run uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def es(settings: Settings) -> AsyncIterator[AsyncElasticsearch]:
    client = AsyncElasticsearch(**settings.elasticsearch.client_options())
    try:
        yield client
    finally:
        await client.close()
