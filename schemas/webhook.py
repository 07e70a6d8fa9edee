"""Webhooks: where monitoring tools send their alerts, and the key that lets them (SPEC §2, §8).

Variants by suffix: `WebhookCreate` / `WebhookUpdate` are what a caller sends,
`Webhook` is the stored record (it holds the SHA-256 of the access key, never the
key), `WebhookInfo` is what every read returns, and `WebhookCreated` is the one
answer that carries the plain key and the URL built from it: create and rotate_key.
"""

from __future__ import annotations

import re
import secrets
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.errors import ResourceError
from schemas.event import Timestamp
from schemas.query import Query
from schemas.settings import Settings

WEBHOOK_ID_PATTERN = re.compile(r"^webhook-[0-9a-f]{12}$")
# Tag keys become field names (`tags.<key>`) in the webhooks index: no dots, no nesting.
TAG_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_:@/-][A-Za-z0-9_:@/ -]{0,127}$")
TagValue = str | int | float | bool
# SPEC §4.6: an identical event within this many seconds is the sender retrying. None: the
# settings' `ingest.duplicate_window_seconds`; 0: off. At most a day (memory per key).
DuplicateWindow = Annotated[float | None, Field(ge=0, le=86_400)]


class WebhookError(ResourceError):
    """A webhook request that cannot be served; `status` and `code` are what the API answers."""


class WebhookInvalid(WebhookError):
    status, code = 400, "ERROR_INVALID_ARGUMENT"


class WebhookNotFound(WebhookError):
    status, code = 404, "ERROR_NOT_FOUND"


class WebhookKeyMismatch(WebhookError):
    status, code = 403, "ERROR_PERMISSION_DENIED"


class WebhookDisabled(WebhookError):
    status, code = 400, "ERROR_WEBHOOK_STATE_DISABLED"


class WebhookState(StrEnum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


def new_webhook_id() -> str:
    """`webhook-` + 12 hex, the original's id format (SPEC §3)."""
    return f"webhook-{secrets.token_hex(6)}"


def webhook_url(public_url: str, webhook_id: str, access_key: str) -> str:
    """The URL a monitoring tool posts to; it contains the key, so it is shown only once."""
    return f"{public_url.rstrip('/')}/monitoring/v1/webhook/{webhook_id}/{access_key}/events"


def public_base_url(settings: Settings) -> str:
    """Where monitoring tools reach the intake: `api.public_url`, else the API's own address."""
    return settings.api.public_url or f"http://{settings.api.host}:{settings.api.port}"


def _check_tags(tags: dict[str, TagValue]) -> dict[str, TagValue]:
    bad = [key for key in tags if not TAG_KEY_PATTERN.match(key)]
    if bad:
        raise ValueError(
            f"tag keys must be 1-128 characters without dots, starting with a letter, digit "
            f"or one of _:@/-; refused: {', '.join(map(repr, bad[:5]))}"
        )
    return tags


class PluginInfo(BaseModel):
    """Which parser reads the webhook's payloads (`available_parsers()`), with its options."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    plugin_id: str = Field(min_length=1, max_length=128)
    options: dict[str, Any] = Field(default_factory=dict)


class WebhookCreate(BaseModel):
    """create's request; domain_id may be omitted with a domain API key (it is the key's)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=255)
    plugin_info: PluginInfo
    project_id: str = Field(min_length=1, max_length=255)
    domain_id: str | None = None
    tags: dict[str, TagValue] = Field(default_factory=dict)
    duplicate_window_seconds: DuplicateWindow = None

    _tags = field_validator("tags")(_check_tags)


class WebhookUpdate(BaseModel):
    """update's request: the fields given replace the stored ones (options and tags whole);
    `duplicate_window_seconds` given as null goes back to the settings' default."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    webhook_id: str = Field(min_length=1)
    name: str | None = Field(default=None, min_length=1, max_length=255)
    options: dict[str, Any] | None = None
    tags: dict[str, TagValue] | None = None
    duplicate_window_seconds: DuplicateWindow = None
    domain_id: str | None = None

    @field_validator("tags")
    @classmethod
    def _valid_tags(cls, tags: dict[str, TagValue] | None) -> dict[str, TagValue] | None:
        return None if tags is None else _check_tags(tags)


class WebhookRequest(BaseModel):
    """get, enable, disable, delete and rotate_key: one webhook, optionally its domain."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    webhook_id: str = Field(min_length=1)
    domain_id: str | None = None


WEBHOOK_EXACT_FILTERS = ("webhook_id", "name", "state", "plugin_id", "project_id", "domain_id")


class WebhookQuery(BaseModel):
    """list's request: a Query (SPEC §5) plus exact-match filters, as event list has."""

    model_config = ConfigDict(extra="forbid")

    query: Query = Field(default_factory=Query)
    webhook_id: str | None = None
    name: str | None = None
    state: WebhookState | None = None
    plugin_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None

    def exact_filters(self) -> dict[str, str]:
        """The set exact-match filters by indexed field; domain_id is scoped separately."""
        fields = {"plugin_id": "plugin_info.plugin_id"}
        return {
            fields.get(name, name): str(value)
            for name in WEBHOOK_EXACT_FILTERS
            if name != "domain_id" and (value := getattr(self, name))
        }


class WebhookInfo(BaseModel):
    """A webhook as every read shows it: no key, no hash, no URL."""

    webhook_id: str
    name: str
    state: WebhookState
    plugin_info: PluginInfo
    project_id: str
    domain_id: str
    tags: dict[str, TagValue]
    created_at: Timestamp
    duplicate_window_seconds: DuplicateWindow = None


class Webhook(WebhookInfo):
    """The stored record; `access_key_sha256` never leaves the store's users."""

    access_key_sha256: str = Field(repr=False)
    updated_at: Timestamp

    def info(self) -> WebhookInfo:
        return WebhookInfo.model_validate(self.model_dump(include=set(WebhookInfo.model_fields)))


class WebhookCreated(WebhookInfo):
    """create's and rotate_key's answer: the only time the plain key and URL are shown."""

    access_key: str = Field(repr=False)
    webhook_url: str = Field(repr=False)

    @classmethod
    def of(cls, webhook: Webhook, access_key: str, public_url: str) -> WebhookCreated:
        return cls(
            **webhook.info().model_dump(),
            access_key=access_key,
            webhook_url=webhook_url(public_url, webhook.webhook_id, access_key),
        )


class WebhooksInfo(BaseModel):
    results: list[WebhookInfo | dict[str, Any]]
    total_count: int
