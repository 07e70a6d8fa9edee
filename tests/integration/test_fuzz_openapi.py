"""schemathesis over the running service's own OpenAPI description, against the real engines.

The description is the app's own (what it serves at /openapi.json); the requests go to
the service running as `eventpipe api` runs it (uvicorn on a free port, the socket limits,
the app's lifespan against the real Kafka and Elasticsearch, topics and indices of its
own), and a real `eventpipe worker` process, which applies the changes to alerts the API
hands it. Every operation gets `EXAMPLES` generated requests, valid and invalid, with an
admin API key; hypothesis is derandomized, so a run is reproducible. Checked: no 5xx,
status codes, content types and bodies as the description says.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ingest.kafka.topics import ensure_topics
from query_api.rest.app import create_app
from query_api.rest.http_limits import limited_protocol
from schemas.settings import Settings
from tests.integration.pipeline import ROOT, _remove, pipeline_settings, settings_environment

EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class RunningApi:
    base_url: str
    api_key: str


async def _cleanup(ours: Settings) -> None:
    from elasticsearch import AsyncElasticsearch

    es = AsyncElasticsearch(**ours.elasticsearch.client_options())
    try:
        await _remove(ours, es)  # indices, topics, the worker's changelog
    finally:
        await es.close()


@pytest.fixture(scope="module")
def running_api(settings: Settings) -> Iterator[RunningApi]:
    """The service in a thread of its own (its own event loop), as a client would reach it."""
    ours = pipeline_settings(settings, f"test-fuzz-{uuid.uuid4().hex[:12]}")
    ours.api.key_rate_per_second = 0  # exercise the routes, not the limiter
    ours.api.alert_change_timeout_seconds = 30.0  # a loaded machine's worker still answers
    asyncio.run(ensure_topics(ours))
    worker = subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "worker"], cwd=ROOT,
        env=settings_environment(ours), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    app = create_app(ours)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=0, log_config=None, http=limited_protocol(ours.api)
        )
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        created = asyncio.run_coroutine_threadsafe(app.state.keys.create(None), loop)
        api_key, _ = created.result(30)
        base_url = f"http://127.0.0.1:{port}"
        _wait_for_the_worker(base_url, api_key)
        yield RunningApi(base_url, api_key)
    finally:
        server.should_exit = True
        thread.join(30)
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        with contextlib.suppress(Exception):
            loop.run_until_complete(_cleanup(ours))
        loop.close()


def _wait_for_the_worker(base_url: str, api_key: str) -> None:
    """Until the worker applies a change (an alert created), so none waits on its start."""
    import httpx

    deadline = time.monotonic() + 120
    body = {"title": "warm-up", "project_id": "project-fuzz", "domain_id": "domain-fuzz"}
    while True:
        answer = httpx.post(f"{base_url}/monitoring/v1/alert/create", json=body, timeout=60,
                            headers={"Authorization": f"Bearer {api_key}"})  # fmt: skip
        if answer.status_code == 200 or time.monotonic() > deadline:
            assert answer.status_code == 200, answer.text
            return
        time.sleep(1)


# The description the running service serves at /openapi.json (building it needs no
# engine), so the operations are known when tests are collected: one test each.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_described(case: Any, running_api: RunningApi) -> None:
    # Alert.update_state is not provided: its one answer is the 501 it declares (SPEC §9).
    unimplemented = case.path == "/monitoring/v1/alert/update_state"
    checks = [check for check in CHECKS if not (unimplemented and check is not_a_server_error)]
    response = case.call_and_validate(
        base_url=running_api.base_url,
        headers={"Authorization": f"Bearer {running_api.api_key}"},
        checks=checks,
        timeout=30,
    )
    if unimplemented:
        assert response.status_code in (400, 405, 501), response.text
