"""Field maps read from the index mappings (`schemas.index.FieldMap`), the translator's view."""

from __future__ import annotations

from schemas.index import EVENT_FIELDS, WEBHOOK_FIELDS


def test_event_fields() -> None:
    assert EVENT_FIELDS.kind("title") == ("text", "title.keyword")
    assert EVENT_FIELDS.kind("additional_info.env.tier") == (
        "flattened",
        "additional_info.env.tier",
    )
    assert EVENT_FIELDS.kind("resource") == ("object", "resource")
    assert EVENT_FIELDS.kind("resource.nope") is None
    assert not EVENT_FIELDS.hidden("title") and not EVENT_FIELDS.is_dynamic("title")


def test_webhook_fields_dynamic_and_hidden() -> None:
    assert WEBHOOK_FIELDS.kind("name") == ("keyword", "name")
    assert WEBHOOK_FIELDS.kind("plugin_info.plugin_id") == ("keyword", "plugin_info.plugin_id")
    assert WEBHOOK_FIELDS.kind("tags") == ("object", "tags")
    # Any tag is a keyword through the dynamic template, mapped yet or not.
    assert WEBHOOK_FIELDS.kind("tags.env") == ("keyword", "tags.env")
    assert WEBHOOK_FIELDS.is_dynamic("tags.env") and not WEBHOOK_FIELDS.is_dynamic("name")
    # Stored but never indexed: neither a field to query nor an unknown one.
    for path in ("access_key_sha256", "plugin_info.options", "plugin_info.options.x"):
        assert WEBHOOK_FIELDS.kind(path) is None and WEBHOOK_FIELDS.hidden(path), path
    assert WEBHOOK_FIELDS.kind("nope") is None and not WEBHOOK_FIELDS.hidden("nope")
