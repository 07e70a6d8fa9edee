"""Webhook management over HTTP against the real Elasticsearch, and the registry's freshness.

The router is mounted on a small app of its own whose state is set as `create_app`'s
lifespan sets it, with per-test index names. Requests go straight through ASGI,
so no HTTP client package is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch
from fastapi import FastAPI

from deploy import cli_webhook
from deploy.cli_webhook import add_webhook_commands
from ingest.webhooks.log import WebhookLog
from ingest.webhooks.registry import WebhookRegistry
from query_api.rest.errors import install_error_handlers
from query_api.rest.routes import webhooks as routes_webhooks
from query_api.services.apikeys import ApiKeyStore
from query_api.services.webhooks import WebhookStore
from schemas.index import WEBHOOK_MAPPINGS
from schemas.settings import Settings
from schemas.webhook import (
    WEBHOOK_ID_PATTERN,
    Webhook,
    WebhookCreate,
    WebhookDisabled,
    WebhookKeyMismatch,
    WebhookNotFound,
    WebhookUpdate,
)
from tests.integration.pipeline import delete_topics

PUBLIC_URL = "https://events.example.test"
BOUND_SECONDS = 1.0


@dataclass
class Service:
    app: FastAPI
    es: AsyncElasticsearch
    store: WebhookStore
    settings: Settings
    admin_key: str
    key_a: str  # domain-a
    key_b: str  # domain-b

    async def post(
        self, route: str, body: dict[str, Any], key: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One POST through the ASGI app: (status, JSON body)."""
        path = f"/monitoring/v1/webhook/{route}"
        headers = [(b"content-type", b"application/json")]
        if key is not None:
            headers.append((b"authorization", f"Bearer {key}".encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        incoming = [{"type": "http.request", "body": json.dumps(body).encode()}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        raw = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return status, json.loads(raw)

    async def ok(self, route: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        status, answer = await self.post(route, body, key)
        assert status == 200, (route, answer)
        return answer


@dataclass
class Keys:
    index: str
    store: ApiKeyStore
    admin: str
    domain_a: str
    domain_b: str


@pytest.fixture(scope="module")
async def api_keys(settings: Settings) -> AsyncIterator[Keys]:
    """One admin and two domain keys for the module: creating keys waits for refreshes."""
    es = AsyncElasticsearch(**settings.elasticsearch.client_options())
    index = f"test-{uuid.uuid4().hex[:12]}-apikeys"
    store = ApiKeyStore(es, index)
    try:
        admin, _ = await store.create(None)
        domain_a, _ = await store.create("domain-a")
        domain_b, _ = await store.create("domain-b")
        yield Keys(index, store, admin, domain_a, domain_b)
    finally:
        await es.indices.delete(index=index, ignore_unavailable=True)
        await es.close()


@pytest.fixture
async def service(
    settings: Settings, es: AsyncElasticsearch, unique_name: str, api_keys: Keys
) -> AsyncIterator[Service]:
    """The webhook routes over a webhooks index of this test's own."""
    test_settings = settings.model_copy(deep=True)
    test_settings.indices.apikeys = api_keys.index
    if hasattr(test_settings.api, "public_url"):
        test_settings.api.public_url = PUBLIC_URL
    else:  # until Settings declares it: the router falls back to host and port
        test_settings.api.host, test_settings.api.port = "events.example.test", 443
    test_settings.topics.webhooks = f"{unique_name}.webhooks"
    webhook_log = WebhookLog(test_settings)
    await webhook_log.start()
    store = WebhookStore(es, webhook_log, f"{unique_name}-webhooks")
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(routes_webhooks.router)
    app.state.settings, app.state.es, app.state.webhooks = test_settings, es, store
    app.state.keys = api_keys.store
    app.state.registry = WebhookRegistry(webhook_log)  # the intake's, in the same process
    try:
        yield Service(
            app, es, store, test_settings, api_keys.admin, api_keys.domain_a, api_keys.domain_b
        )
    finally:
        await webhook_log.stop()
        await es.indices.delete(index=store.index, ignore_unavailable=True)
        await delete_topics(test_settings, [test_settings.topics.webhooks])


def new_webhook(name: str, plugin: str = "prometheus", **extra: Any) -> dict[str, Any]:
    return {"name": name, "plugin_info": {"plugin_id": plugin}, "project_id": "project-1", **extra}


def expected_url(service: Service, created: dict[str, Any]) -> str:
    has_setting = hasattr(service.settings.api, "public_url")
    base = PUBLIC_URL if has_setting else "http://events.example.test:443"
    return f"{base}/monitoring/v1/webhook/{created['webhook_id']}/{created['access_key']}/events"


async def test_create_get_update_enable_disable_rotate_delete(service: Service) -> None:
    created = await service.ok(
        "create",
        new_webhook(" Prod Alertmanager ", tags={"env": "prod", "tier": 1})
        | {"plugin_info": {"plugin_id": "prometheus", "options": {"severity_label": "level"}}},
        service.key_a,
    )
    webhook_id, key = created["webhook_id"], created["access_key"]
    assert WEBHOOK_ID_PATTERN.match(webhook_id)
    assert created["name"] == "Prod Alertmanager"
    assert created["state"] == "ENABLED"
    assert created["domain_id"] == "domain-a"  # the key's domain
    assert created["plugin_info"] == {
        "plugin_id": "prometheus",
        "options": {"severity_label": "level"},
    }
    assert created["tags"] == {"env": "prod", "tier": 1}
    assert created["created_at"].endswith("Z")
    assert len(key) >= 43
    assert created["webhook_url"] == expected_url(service, created)
    assert "access_key_sha256" not in created

    got = await service.ok("get", {"webhook_id": webhook_id}, service.key_a)
    assert got == {k: v for k, v in created.items() if k not in ("access_key", "webhook_url")}

    # The stored document holds only the SHA-256 of the key.
    stored = (await service.es.get(index=service.store.index, id=webhook_id))["_source"]
    assert stored["access_key_sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in json.dumps(stored)

    updated = await service.ok(
        "update",
        {"webhook_id": webhook_id, "name": "renamed", "options": {"x": 1}, "tags": {"team": "db"}},
        service.key_a,
    )
    assert (updated["name"], updated["plugin_info"], updated["tags"]) == (
        "renamed",
        {"plugin_id": "prometheus", "options": {"x": 1}},
        {"team": "db"},
    )
    partial = await service.ok("update", {"webhook_id": webhook_id, "name": "again"}, service.key_a)
    assert (partial["name"], partial["tags"], partial["plugin_info"]["options"]) == (
        "again",
        {"team": "db"},
        {"x": 1},
    )

    disabled = await service.ok("disable", {"webhook_id": webhook_id}, service.key_a)
    assert disabled["state"] == "DISABLED"
    assert (await service.ok("get", {"webhook_id": webhook_id}, service.key_a))[
        "state"
    ] == "DISABLED"
    enabled = await service.ok("enable", {"webhook_id": webhook_id}, service.key_a)
    assert enabled["state"] == "ENABLED"

    rotated = await service.ok("rotate_key", {"webhook_id": webhook_id}, service.key_a)
    assert rotated["webhook_id"] == webhook_id
    assert rotated["access_key"] != key
    assert rotated["webhook_url"] == expected_url(service, rotated)
    stored = (await service.es.get(index=service.store.index, id=webhook_id))["_source"]
    assert stored["access_key_sha256"] == hashlib.sha256(rotated["access_key"].encode()).hexdigest()

    for route, body in [
        ("get", {"webhook_id": webhook_id}),
        ("list", {}),
        ("update", {"webhook_id": webhook_id, "name": "x"}),
    ]:
        _, answer = await service.post(route, body, service.key_a)
        text = json.dumps(answer)
        assert rotated["access_key"] not in text and key not in text
        assert "access_key" not in text and "webhook_url" not in text

    assert await service.ok("delete", {"webhook_id": webhook_id}, service.key_a) == {}
    for route in ("get", "delete", "enable", "rotate_key"):
        status, answer = await service.post(route, {"webhook_id": webhook_id}, service.key_a)
        assert (status, answer["error"]["code"]) == (404, "ERROR_NOT_FOUND")


async def test_list_filters_sort_and_page(service: Service) -> None:
    specs = [
        new_webhook("Alpha prom", "prometheus", tags={"env": "prod"}),
        new_webhook("beta graf", "grafana", tags={"env": "dev"}, project_id="project-2"),
        new_webhook("Gamma PROM", "prometheus", tags={"env": "prod", "team": "db"}),
        new_webhook("delta zbx", "zabbix"),
    ]
    ids = []
    for spec in specs:
        ids.append((await service.ok("create", spec, service.key_a))["webhook_id"])
    await service.ok("disable", {"webhook_id": ids[3]}, service.key_a)
    # Another domain's webhook never shows up in domain-a's lists.
    await service.ok("create", new_webhook("Alpha prom other domain"), service.key_b)

    async def names(body: dict[str, Any], key: str = service.key_a) -> list[str]:
        answer = await service.ok("list", body, key)
        assert answer["total_count"] >= len(answer["results"])
        return [row["name"] for row in answer["results"]]

    by_name = {"sort": {"key": "name"}}
    assert await names({}) == [spec["name"] for spec in reversed(specs)]  # newest first
    assert await names({"query": by_name}) == ["Alpha prom", "Gamma PROM", "beta graf", "delta zbx"]
    assert await names(
        {"query": {"filter": [{"k": "name", "v": "prom", "o": "contain"}], **by_name}}
    ) == [
        "Alpha prom",
        "Gamma PROM",
    ]
    assert await names(
        {
            "query": {
                "filter": [{"k": "plugin_info.plugin_id", "v": ["grafana", "zabbix"], "o": "in"}],
                **by_name,
            }
        }
    ) == ["beta graf", "delta zbx"]
    assert await names({"query": {"filter": [{"k": "tags.env", "v": "prod"}], **by_name}}) == [
        "Alpha prom",
        "Gamma PROM",
    ]
    assert await names(
        {"query": {"filter": [{"k": "tags.team", "v": False, "o": "exists"}], **by_name}}
    ) == [
        "Alpha prom",
        "beta graf",
        "delta zbx",
    ]
    assert await names({"state": "DISABLED"}) == ["delta zbx"]
    assert await names({"project_id": "project-2"}) == ["beta graf"]
    assert await names({"plugin_id": "prometheus", "query": by_name}) == [
        "Alpha prom",
        "Gamma PROM",
    ]
    assert await names({"query": {"keyword": "zbx graf", **by_name}}) == ["beta graf", "delta zbx"]

    page = await service.ok(
        "list", {"query": {**by_name, "page": {"start": 2, "limit": 2}}}, service.key_a
    )
    assert ([row["name"] for row in page["results"]], page["total_count"]) == (
        ["Gamma PROM", "beta graf"],
        4,
    )
    count = await service.ok("list", {"query": {"count_only": True}}, service.key_a)
    assert count == {"results": [], "total_count": 4}
    only = await service.ok(
        "list",
        {"query": {"only": ["webhook_id", "plugin_info.plugin_id"], **by_name}},
        service.key_a,
    )
    assert only["results"][0] == {"webhook_id": ids[0], "plugin_info": {"plugin_id": "prometheus"}}

    # The admin sees every domain, or one when it asks.
    assert len(await names({}, service.admin_key)) == 5
    assert len(await names({"domain_id": "domain-b"}, service.admin_key)) == 1

    for body, code in [
        (
            {"query": {"filter": [{"k": "name", "v": ["a"], "o": "eq"}]}},
            "ERROR_OPERATOR_VALUE_TYPE",
        ),
        (
            {"query": {"filter": [{"k": "name", "v": "a", "o": "in"}]}},
            "ERROR_OPERATOR_LIST_VALUE_TYPE",
        ),
        ({"query": {"filter": [{"k": "name", "v": "a", "o": "nope"}]}}, "ERROR_DB_QUERY"),
        ({"query": {"filter": [{"k": "access_key_sha256", "v": "a"}]}}, "ERROR_INVALID_ARGUMENT"),
        ({"state": "SLEEPING"}, "ERROR_INVALID_ARGUMENT"),
    ]:
        status, answer = await service.post("list", body, service.key_a)
        assert (status, answer["error"]["code"]) == (400, code), body


async def test_list_shares_the_event_lists_rules(service: Service) -> None:
    """One translator: unmapped keys, null values, case folding and regex as for events."""
    for spec in [new_webhook("Évora prom", tags={"env": "prod"}), new_webhook("évora graf"),
                 new_webhook("lisbon zbx", tags={"team": "db"})]:  # fmt: skip
        await service.ok("create", spec, service.key_a)

    async def names(*conditions: dict[str, Any]) -> list[str]:
        body = {"query": {"filter": list(conditions), "sort": {"key": "name"}}}
        return [row["name"] for row in (await service.ok("list", body, service.key_a))["results"]]

    everyone = ["lisbon zbx", "Évora prom", "évora graf"]
    assert await names({"k": "no_such_field", "v": "x"}) == []  # a field nobody has
    assert await names({"k": "no_such_field", "v": "x", "o": "not"}) == everyone
    assert await names({"k": "tags.env", "v": None}) == ["lisbon zbx", "évora graf"]
    assert await names({"k": "tags.env", "v": None, "o": "not"}) == ["Évora prom"]
    assert await names({"k": "tags.team", "v": ["ops", None], "o": "not_in"}) == ["lisbon zbx"]
    assert await names({"k": "name", "v": "ÉVORA", "o": "contain"}) == everyone[1:]
    assert await names({"k": "name", "v": "^év.*(PROM|zbx)$", "o": "regex"}) == ["Évora prom"]
    status, answer = await service.post(
        "list", {"query": {"filter": [{"k": "name", "v": "(.*a.*b.*c.*d.*e.*f.*g.*h.*i.*j.*){1,40}",
                                        "o": "regex"}]}}, service.key_a)  # fmt: skip
    assert (status, answer["error"]["code"]) == (400, "ERROR_INVALID_ARGUMENT"), answer
    assert "filter[0]" in answer["error"]["message"], answer


async def test_list_before_any_webhook_exists(service: Service) -> None:
    assert await service.ok("list", {}, service.key_a) == {"results": [], "total_count": 0}


async def test_requests_that_are_refused(service: Service) -> None:
    status, answer = await service.post("create", new_webhook("x", "nagios"), service.key_a)
    assert (status, answer["error"]["code"]) == (400, "ERROR_INVALID_ARGUMENT")
    assert "nagios" in answer["error"]["message"] and "prometheus" in answer["error"]["message"]
    status, answer = await service.post("create", new_webhook("x"), service.admin_key)
    assert (status, answer["error"]["code"]) == (400, "ERROR_INVALID_ARGUMENT")  # which domain?
    status, answer = await service.post(
        "create", new_webhook("x", tags={"a.b": "c"}), service.key_a
    )
    assert (status, answer["error"]["code"]) == (400, "ERROR_INVALID_ARGUMENT")
    status, answer = await service.post("create", new_webhook("x"))
    assert (status, answer["error"]["code"]) == (401, "ERROR_AUTHENTICATE_FAILURE")
    status, answer = await service.post("get", {"webhook_id": "webhook-000000000000"}, "ep_nope")
    assert status == 401
    by_admin = await service.ok("create", new_webhook("x", domain_id="domain-c"), service.admin_key)
    assert by_admin["domain_id"] == "domain-c"


async def test_another_domain_cannot_see_or_change_a_webhook(service: Service) -> None:
    created = await service.ok("create", new_webhook("mine"), service.key_a)
    webhook_id = created["webhook_id"]
    for route, body in [
        ("get", {"webhook_id": webhook_id}),
        ("update", {"webhook_id": webhook_id, "name": "stolen"}),
        ("enable", {"webhook_id": webhook_id}),
        ("disable", {"webhook_id": webhook_id}),
        ("rotate_key", {"webhook_id": webhook_id}),
        ("delete", {"webhook_id": webhook_id}),
    ]:
        status, answer = await service.post(route, body, service.key_b)
        assert (status, answer["error"]["code"]) == (404, "ERROR_NOT_FOUND"), route
        # Naming the other domain outright is refused as for events.
        status, answer = await service.post(route, {**body, "domain_id": "domain-a"}, service.key_b)
        assert (status, answer["error"]["code"]) == (403, "ERROR_PERMISSION_DENIED"), route
    status, answer = await service.post("list", {"domain_id": "domain-a"}, service.key_b)
    assert status == 403
    assert await service.ok("list", {}, service.key_b) == {"results": [], "total_count": 0}
    status, _ = await service.post(
        "create", new_webhook("planted", domain_id="domain-a"), service.key_b
    )
    assert status == 403

    # Nothing changed, and the admin may act on any domain.
    got = await service.ok("get", {"webhook_id": webhook_id}, service.key_a)
    assert (got["name"], got["state"]) == ("mine", "ENABLED")
    assert (await service.ok("get", {"webhook_id": webhook_id}, service.admin_key))[
        "name"
    ] == "mine"
    status, _ = await service.post(
        "get", {"webhook_id": webhook_id, "domain_id": "domain-b"}, service.admin_key
    )
    assert status == 404


async def seconds_until(check: Callable[[], Awaitable[bool]], started: float) -> float:
    """Poll until `check()` holds; seconds since `started` (fails past twice the bound)."""
    while not await check():
        if time.monotonic() - started > 2 * BOUND_SECONDS:
            pytest.fail("the change did not reach the other registry")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def refused(registry: WebhookRegistry, webhook_id: str, key: str, error: type) -> bool:
    try:
        await registry.authenticate(webhook_id, key)
    except error:
        return True
    return False


async def accepted(registry: WebhookRegistry, webhook_id: str, key: str) -> bool:
    try:
        await registry.authenticate(webhook_id, key)
    except (WebhookDisabled, WebhookKeyMismatch, WebhookNotFound):
        return False
    return True


async def test_changes_reach_another_process_within_a_second(service: Service) -> None:
    other = WebhookLog(service.settings)  # another process's copy, as the worker's
    await other.start()
    await other.wait_loaded()
    registry = WebhookRegistry(other)
    try:
        created = await service.ok("create", new_webhook("watched"), service.key_a)
        webhook_id, key = created["webhook_id"], created["access_key"]
        started = time.monotonic()
        took = {"create": await seconds_until(lambda: accepted(registry, webhook_id, key), started)}
        with pytest.raises(WebhookKeyMismatch):
            await registry.authenticate(webhook_id, "not-the-key")
        with pytest.raises(WebhookNotFound):
            await registry.authenticate("webhook-000000000000", key)

        started = time.monotonic()
        await service.ok("disable", {"webhook_id": webhook_id}, service.key_a)
        took["disable"] = await seconds_until(
            lambda: refused(registry, webhook_id, key, WebhookDisabled), started
        )

        started = time.monotonic()
        await service.ok("enable", {"webhook_id": webhook_id}, service.key_a)
        took["enable"] = await seconds_until(lambda: accepted(registry, webhook_id, key), started)

        started = time.monotonic()
        rotated = await service.ok("rotate_key", {"webhook_id": webhook_id}, service.key_a)
        new_key = rotated["access_key"]
        took["rotate_key"] = await seconds_until(
            lambda: refused(registry, webhook_id, key, WebhookKeyMismatch), started
        )
        assert await accepted(registry, webhook_id, new_key)

        started = time.monotonic()
        await service.ok("delete", {"webhook_id": webhook_id}, service.key_a)
        took["delete"] = await seconds_until(
            lambda: refused(registry, webhook_id, new_key, WebhookNotFound), started
        )

        print(f"\nchange (answered) -> refused/accepted by another registry: {took}")
        assert all(seconds <= BOUND_SECONDS for seconds in took.values()), took
    finally:
        await other.stop()


async def test_concurrent_changes_of_one_webhook_all_take_effect(service: Service) -> None:
    """Two processes change one webhook at once: neither change is lost."""
    other = WebhookLog(service.settings)
    await other.start()
    other_store = WebhookStore(service.es, other, service.store.index)
    try:
        created = await service.ok("create", new_webhook("raced", tags={"n": "0"}), service.key_a)
        webhook_id = created["webhook_id"]
        await other.wait_loaded()
        rename = WebhookUpdate(webhook_id=webhook_id, name="renamed")
        retag = WebhookUpdate(webhook_id=webhook_id, tags={"n": "1"})
        await asyncio.gather(
            service.store.update(rename, "domain-a"),
            other_store.update(retag, "domain-a"),
            other_store.disable(webhook_id, "domain-a"),
        )
        for store in (service.store, other_store):
            for _ in range(20):
                webhook = await store.get(webhook_id, None)
                if (webhook.name, webhook.tags, webhook.state.value) == (
                    "renamed", {"n": "1"}, "DISABLED"
                ):  # fmt: skip
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail(f"a change was lost: {webhook}")
    finally:
        await other.stop()


async def test_a_registry_in_the_same_process_sees_changes_at_once(service: Service) -> None:
    registry: WebhookRegistry = service.app.state.registry
    created = await service.ok("create", new_webhook("local"), service.key_a)
    webhook_id, key = created["webhook_id"], created["access_key"]
    await registry.authenticate(webhook_id, key)
    await service.ok("disable", {"webhook_id": webhook_id}, service.key_a)
    with pytest.raises(WebhookDisabled):
        await registry.authenticate(webhook_id, key)
    await service.ok("enable", {"webhook_id": webhook_id}, service.key_a)
    rotated = await service.ok("rotate_key", {"webhook_id": webhook_id}, service.key_a)
    with pytest.raises(WebhookKeyMismatch):
        await registry.authenticate(webhook_id, key)
    await registry.authenticate(webhook_id, rotated["access_key"])
    await service.ok("delete", {"webhook_id": webhook_id}, service.key_a)
    with pytest.raises(WebhookNotFound):
        await registry.authenticate(webhook_id, rotated["access_key"])


async def test_cli_commands(
    settings: Settings, unique_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`eventpipe webhook ...` against the real store, as an operator runs it."""
    if not hasattr(settings.indices, "webhooks"):
        pytest.skip("Settings has no indices.webhooks yet")
    test_settings = settings.model_copy(deep=True)
    test_settings.indices.webhooks = f"{unique_name}-webhooks"
    test_settings.topics.webhooks = f"{unique_name}.webhooks"
    root = argparse.ArgumentParser(prog="eventpipe")
    add_webhook_commands(root.add_subparsers(dest="command", required=True))

    async def run(*argv: str) -> Any:
        capsys.readouterr()
        assert await cli_webhook._run(root.parse_args(["webhook", *argv]), test_settings) == 0
        return json.loads(capsys.readouterr().out)

    try:
        created = await run(
            "create", "--name", "cli", "--plugin", "grafana", "--project", "p", "--domain", "d",
            "--tag", "env=prod", "--option", "a=1", "--duplicate-window", "30", "--json",
        )  # fmt: skip
        webhook_id, key = created["webhook_id"], created["access_key"]
        assert created["duplicate_window_seconds"] == 30
        assert created["webhook_url"].endswith(f"/{webhook_id}/{key}/events")
        assert (created["tags"], created["plugin_info"]["options"]) == ({"env": "prod"}, {"a": "1"})
        got = await run("get", webhook_id, "--json")
        assert "access_key" not in got and got["name"] == "cli"
        assert (await run("disable", webhook_id, "--json"))["state"] == "DISABLED"
        assert (await run("list", "--state", "DISABLED", "--json"))["total_count"] == 1
        assert (await run("list", "--domain", "other", "--json"))["total_count"] == 0
        updated = await run("update", webhook_id, "--name", "renamed", "--clear-tags", "--json")
        assert (updated["name"], updated["tags"]) == ("renamed", {})
        assert updated["duplicate_window_seconds"] == 30  # not given: unchanged
        off = await run("update", webhook_id, "--duplicate-window", "0", "--json")
        assert off["duplicate_window_seconds"] == 0
        default = await run("update", webhook_id, "--default-duplicate-window", "--json")
        assert default["duplicate_window_seconds"] is None
        rotated = await run("rotate-key", webhook_id, "--json")
        assert rotated["access_key"] not in (key, "")
        assert await run("delete", webhook_id, "--json") == {}
        args = root.parse_args(["webhook", "get", webhook_id])
        with pytest.raises(WebhookNotFound):
            await cli_webhook._run(args, test_settings)
    finally:
        async with AsyncElasticsearch(**settings.elasticsearch.client_options()) as es:
            await es.indices.delete(index=test_settings.indices.webhooks, ignore_unavailable=True)
        await delete_topics(test_settings, [test_settings.topics.webhooks])


async def test_import_copies_webhooks_only_the_index_has(
    settings: Settings, unique_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Webhooks stored by the index-only versions reach the topic with `webhook import`."""
    test_settings = settings.model_copy(deep=True)
    test_settings.indices.webhooks = f"{unique_name}-webhooks"
    test_settings.topics.webhooks = f"{unique_name}.webhooks"
    root = argparse.ArgumentParser(prog="eventpipe")
    add_webhook_commands(root.add_subparsers(dest="command", required=True))

    async def run(*argv: str) -> Any:
        capsys.readouterr()
        assert await cli_webhook._run(root.parse_args(["webhook", *argv]), test_settings) == 0
        return json.loads(capsys.readouterr().out)

    async with AsyncElasticsearch(**settings.elasticsearch.client_options()) as es:
        try:
            kept = await run("create", "--name", "in both", "--plugin", "standard",
                             "--project", "p", "--domain", "d", "--json")  # fmt: skip
            old = Webhook.model_validate(
                {**kept, "webhook_id": "webhook-00000000a1d0", "name": "index only",
                 "access_key_sha256": "0" * 64, "updated_at": kept["created_at"]}
            )  # fmt: skip
            await es.index(index=test_settings.indices.webhooks, id=old.webhook_id,
                           document=old.model_dump(mode="json"), refresh=True)  # fmt: skip
            with pytest.raises(WebhookNotFound):
                await cli_webhook._run(root.parse_args(["webhook", "get", old.webhook_id]),
                                       test_settings)  # fmt: skip
            assert await run("import", "--json") == {"imported": 1}
            assert (await run("get", old.webhook_id, "--json"))["name"] == "index only"
            assert await run("import", "--json") == {"imported": 0}
        finally:
            await es.indices.delete(index=test_settings.indices.webhooks, ignore_unavailable=True)
            await delete_topics(test_settings, [test_settings.topics.webhooks])


async def test_a_webhook_created_a_moment_ago_is_found_by_every_reader(service: Service) -> None:
    """Read-your-writes across processes: an alert sent right after the create (as a direct
    producer or the worker sees it) finds the webhook, though this reader has not yet read
    its record: an unknown id waits until the reader caught up with the topic's end."""
    others = [WebhookLog(service.settings) for _ in range(3)]
    for other in others:
        await other.start()
        await other.wait_loaded()
    try:
        for n in range(5):
            created = await service.ok("create", new_webhook(f"fresh-{n}"), service.key_a)
            found = await asyncio.gather(*(o.find(created["webhook_id"]) for o in others))
            assert all(f is not None and f.webhook_id == created["webhook_id"] for f in found)
        assert await others[0].find("webhook-0123456789ab") is None  # unknown stays unknown
    finally:
        for other in others:
            await other.stop()


async def test_an_index_made_before_the_duplicate_window_gets_its_field(service: Service) -> None:
    """The webhooks mapping is strict: an index made by an earlier version is given the
    fields added since, else no webhook with a duplicate window could be copied into it."""
    es, index = service.es, f"{service.store.index}-old"
    old = {**WEBHOOK_MAPPINGS, "properties": dict(WEBHOOK_MAPPINGS["properties"])}
    del old["properties"]["duplicate_window_seconds"]
    await es.indices.create(index=index, mappings=old)
    try:
        store = WebhookStore(es, service.store.log, index)
        await store.ensure_index()
        mapping = await es.indices.get_mapping(index=index)
        assert mapping[index]["mappings"]["properties"]["duplicate_window_seconds"] == {
            "type": "double"
        }
        webhook, _ = await store.create(
            WebhookCreate(**new_webhook("windowed", domain_id="d"), duplicate_window_seconds=30)
        )
        await es.indices.refresh(index=index)
        found = await es.get(index=index, id=webhook.webhook_id)
        assert found["_source"]["duplicate_window_seconds"] == 30
    finally:
        await es.indices.delete(index=index, ignore_unavailable=True)
