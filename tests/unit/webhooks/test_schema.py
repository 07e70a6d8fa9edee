"""Webhook ids, URLs, and that no read model carries the key or its hash."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.settings import Settings
from schemas.webhook import (
    WEBHOOK_ID_PATTERN,
    PluginInfo,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookInfo,
    WebhookQuery,
    WebhookState,
    WebhookUpdate,
    new_webhook_id,
    public_base_url,
    webhook_url,
)

KEY = "k" * 43


def stored() -> Webhook:
    now = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    return Webhook(
        webhook_id="webhook-0123456789ab",
        name="prod alerts",
        state=WebhookState.ENABLED,
        plugin_info=PluginInfo(plugin_id="prometheus", options={"x": 1}),
        project_id="project-1",
        domain_id="domain-1",
        tags={"env": "prod"},
        created_at=now,
        updated_at=now,
        access_key_sha256="ab" * 32,
    )


def test_new_ids_have_the_original_format_and_differ() -> None:
    ids = {new_webhook_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(WEBHOOK_ID_PATTERN.match(webhook_id) for webhook_id in ids)
    assert all(len(webhook_id) == len("webhook-") + 12 for webhook_id in ids)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (
            "http://127.0.0.1:8000",
            "http://127.0.0.1:8000/monitoring/v1/webhook/webhook-1/KEY/events",
        ),
        ("https://ep.example/", "https://ep.example/monitoring/v1/webhook/webhook-1/KEY/events"),
        ("https://ep.example/x", "https://ep.example/x/monitoring/v1/webhook/webhook-1/KEY/events"),
    ],
)
def test_webhook_url(base: str, expected: str) -> None:
    assert webhook_url(base, "webhook-1", "KEY") == expected


def test_public_base_url_is_the_setting_else_the_api_address() -> None:
    empty = Settings.model_validate({"api": {"host": "10.0.0.5", "port": 8123, "public_url": ""}})
    assert public_base_url(empty) == "http://10.0.0.5:8123"
    given = Settings.model_validate({"api": {"public_url": "https://ep.example"}})
    assert public_base_url(given) == "https://ep.example"


def test_info_and_created_never_carry_the_hash() -> None:
    webhook = stored()
    info = webhook.info()
    assert type(info) is WebhookInfo
    assert "access_key_sha256" not in info.model_dump()
    created = WebhookCreated.of(webhook, KEY, "http://h:1")
    dumped = created.model_dump(mode="json")
    assert "access_key_sha256" not in dumped
    assert dumped["access_key"] == KEY
    assert (
        dumped["webhook_url"]
        == f"http://h:1/monitoring/v1/webhook/{webhook.webhook_id}/{KEY}/events"
    )
    assert dumped["created_at"] == "2024-05-01T12:00:00.123Z"
    # A stray log line of the object must not print the key or the URL.
    assert KEY not in repr(created) and KEY not in str(created)
    assert "ab" * 32 not in repr(webhook)


@pytest.mark.parametrize("key", ["a.b", "", ".x", "x" * 129])
def test_tag_keys_that_cannot_be_index_fields_are_refused(key: str) -> None:
    with pytest.raises(ValidationError):
        WebhookCreate(
            name="n", plugin_info={"plugin_id": "standard"}, project_id="p", tags={key: 1}
        )
    with pytest.raises(ValidationError):
        WebhookUpdate(webhook_id="webhook-0123456789ab", tags={key: "v"})


def test_create_request_trims_and_forbids_unknown_fields() -> None:
    request = WebhookCreate(
        name="  n ", plugin_info={"plugin_id": " grafana "}, project_id="p", tags={"env": True}
    )
    assert (request.name, request.plugin_info.plugin_id) == ("n", "grafana")
    assert request.tags == {"env": True}
    with pytest.raises(ValidationError):
        WebhookCreate(name="n", plugin_info={"plugin_id": "x"}, project_id="p", access_key="k")


def test_list_exact_filters_map_to_index_fields() -> None:
    query = WebhookQuery(plugin_id="grafana", state="DISABLED", project_id="p", domain_id="d")
    assert query.exact_filters() == {
        "state": "DISABLED",
        "plugin_info.plugin_id": "grafana",
        "project_id": "p",
    }
