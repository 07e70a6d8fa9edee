"""Event rules (SPEC §10): Cloudforet monitoring v1 `EventRule`, as `event_rule.proto` of
`cloudforet-api` 1.1.1 declares it, applied by the worker to each parsed event.

Variants by suffix: `EventRuleCreate` / `EventRuleUpdate` / `EventRuleChangeOrder` are what
a caller sends, `EventRule` is the stored rule and what every read returns (EventRuleInfo's
fields), `DomainRules` is one domain's whole rule set, the value of one record of the rules
topic: every change rewrites a domain's set in one record, so a worker never sees half of a
change (a change_order renumbers many rules at once).

Checked here, so a bad rule is refused (400 naming the field) before anything is written:
condition operators and keys (an event field, `additional_info.<key>` always allowed), the
policy, and every action value's type (strict: `"true"` is not a boolean).
"""

from __future__ import annotations

import re
import secrets
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    field_validator,
    model_validator,
)

from schemas.errors import ResourceError
from schemas.event import Timestamp
from schemas.query import Query, StatisticsQuery

EVENT_RULE_ID_PATTERN = re.compile(r"^event-rule-[0-9a-f]{12}$")
MAX_RULES_PER_DOMAIN = 500  # one domain's set is one Kafka record: it must stay well under 1 MB

ConditionOperator = Literal["eq", "contain", "not", "not_contain"]
CONDITION_OPERATORS: tuple[str, ...] = ("eq", "contain", "not", "not_contain")

# Condition keys: the event's text fields (SPEC §3) by their dotted path, Cloudforet 1.x's
# names for the resource's fields, and `additional_info.<key>`. alert_id is not among them:
# rules run before correlation gives an event its alert.
EVENT_FIELD_PATHS: dict[str, tuple[str, ...]] = {
    name: tuple(name.split("."))
    for name in (
        "event_id", "event_key", "event_type", "title", "description", "severity", "rule",
        "resource.resource_id", "resource.resource_type", "resource.name", "provider",
        "account", "image_url", "webhook_id", "project_id", "domain_id", "occurred_at",
        "created_at",
    )
}  # fmt: skip
CLOUDFORET_ALIASES: dict[str, str] = {
    "resource_id": "resource.resource_id",
    "resource_type": "resource.resource_type",
    "resource_name": "resource.name",
}
ADDITIONAL_INFO = "additional_info."


def condition_path(key: str) -> tuple[str, ...] | None:
    """Where a condition key reads the event, or None when it is not an event field."""
    key = CLOUDFORET_ALIASES.get(key, key)
    if key in EVENT_FIELD_PATHS:
        return EVENT_FIELD_PATHS[key]
    if key.startswith(ADDITIONAL_INFO) and len(key) > len(ADDITIONAL_INFO):
        return ("additional_info", key[len(ADDITIONAL_INFO) :])
    return None


class EventRuleError(ResourceError):
    """A rule request that cannot be served; `status` and `code` are what the API answers."""


class EventRuleInvalid(EventRuleError):
    status, code = 400, "ERROR_INVALID_ARGUMENT"


class EventRuleNotFound(EventRuleError):
    status, code = 404, "ERROR_NOT_FOUND"


class EventRuleConflict(EventRuleError):
    status, code = 409, "ERROR_CONFLICT"


class EventRuleScope(StrEnum):
    GLOBAL = "GLOBAL"
    PROJECT = "PROJECT"


class ConditionsPolicy(StrEnum):
    ALL = "ALL"
    ANY = "ANY"
    ALWAYS = "ALWAYS"  # matches without conditions (not in 1.1.1's enum: number 3 over gRPC)


class Urgency(StrEnum):
    HIGH = "HIGH"
    LOW = "LOW"


class EventRuleCondition(BaseModel):
    """`{key, value, operator}`: value is a string, compared as SPEC §10 says."""

    model_config = ConfigDict(extra="forbid")

    key: StrictStr = Field(min_length=1, max_length=255)
    value: StrictStr = Field(max_length=8191)
    operator: ConditionOperator

    @field_validator("key")
    @classmethod
    def _event_field(cls, key: str) -> str:
        if condition_path(key) is None:
            raise ValueError(
                f"{key!r} is not an event field; use one of "
                f"{', '.join([*EVENT_FIELD_PATHS, *CLOUDFORET_ALIASES])} or additional_info.<key>"
            )
        return key


class EventRuleResponder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource_type: StrictStr = Field(min_length=1, max_length=255)
    resource_id: StrictStr = Field(min_length=1, max_length=255)


NonEmpty = Annotated[StrictStr, Field(min_length=1, max_length=255)]


class EventRuleActions(BaseModel):
    """What a matching rule does, applied in SPEC §10's order (the field order here).

    Unset and empty are the same (proto3 cannot tell them apart): `""`, `[]`, `{}`, false.
    """

    model_config = ConfigDict(extra="forbid")

    change_project: StrictStr | None = Field(default=None, max_length=255)
    change_assignee: StrictStr | None = Field(default=None, max_length=255)
    change_urgency: Urgency | None = None
    add_project_dependency: list[NonEmpty] = Field(default_factory=list, max_length=100)
    add_responder: list[EventRuleResponder] = Field(default_factory=list, max_length=100)
    add_additional_info: dict[str, Any] = Field(default_factory=dict)
    no_notification: StrictBool = False

    @field_validator("change_project", "change_assignee", mode="after")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("change_urgency", mode="before")
    @classmethod
    def _urgency(cls, value: Any) -> Any:
        if value == "" or value is None:
            return None
        if not isinstance(value, str) or value not in Urgency.__members__:
            raise ValueError("must be HIGH or LOW")
        return value

    @field_validator("add_additional_info")
    @classmethod
    def _info_keys(cls, info: dict[str, Any]) -> dict[str, Any]:
        bad = [key for key in info if not key or "." in key]
        if bad:
            raise ValueError(f"keys must be non-empty and without dots; refused: {bad[:3]}")
        return info


class EventRuleOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stop_processing: StrictBool = False


Tags = dict[str, Any]


class EventRule(BaseModel):
    """A stored rule: EventRuleInfo's fields. project_id is None for a GLOBAL rule."""

    event_rule_id: str
    name: str = ""
    order: int = Field(ge=1)
    conditions: list[EventRuleCondition] = Field(default_factory=list)
    conditions_policy: ConditionsPolicy
    actions: EventRuleActions = Field(default_factory=EventRuleActions)
    options: EventRuleOptions = Field(default_factory=EventRuleOptions)
    scope: EventRuleScope
    project_id: str | None = None
    tags: Tags = Field(default_factory=dict)
    domain_id: str
    created_at: Timestamp

    @property
    def group(self) -> tuple[EventRuleScope, str | None]:
        """Rules are ordered within their scope (and project): SPEC §10's order."""
        return self.scope, self.project_id


class DomainRules(BaseModel):
    """One domain's rules, the value of its record in the rules topic."""

    domain_id: str
    rules: list[EventRule] = Field(default_factory=list, max_length=MAX_RULES_PER_DOMAIN)

    @model_validator(mode="after")
    def _one_domain(self) -> DomainRules:
        if any(rule.domain_id != self.domain_id for rule in self.rules):
            raise ValueError("every rule of a domain's set must be of that domain")
        return self


def new_event_rule_id() -> str:
    return f"event-rule-{secrets.token_hex(6)}"


class EventRuleCreate(BaseModel):
    """create's request; domain_id may be omitted with a domain API key (it is the key's)."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(default="", max_length=255)
    conditions: list[EventRuleCondition] = Field(default_factory=list, max_length=100)
    conditions_policy: ConditionsPolicy
    actions: EventRuleActions
    options: EventRuleOptions = Field(default_factory=EventRuleOptions)
    project_id: StrictStr | None = Field(default=None, max_length=255)
    tags: Tags = Field(default_factory=dict)
    domain_id: StrictStr | None = None


class EventRuleUpdate(BaseModel):
    """update's request: the fields given replace the stored ones (each whole)."""

    model_config = ConfigDict(extra="forbid")

    event_rule_id: StrictStr = Field(min_length=1)
    name: StrictStr | None = Field(default=None, max_length=255)
    conditions: list[EventRuleCondition] | None = Field(default=None, max_length=100)
    conditions_policy: ConditionsPolicy | None = None
    actions: EventRuleActions | None = None
    options: EventRuleOptions | None = None
    tags: Tags | None = None
    domain_id: StrictStr | None = None


class EventRuleChangeOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_rule_id: StrictStr = Field(min_length=1)
    order: int = Field(ge=1)
    domain_id: StrictStr | None = None


class EventRuleRequest(BaseModel):
    """delete's request: one rule, optionally its domain."""

    model_config = ConfigDict(extra="forbid")

    event_rule_id: StrictStr = Field(min_length=1)
    domain_id: StrictStr | None = None


class GetEventRuleRequest(EventRuleRequest):
    only: list[str] | None = None


EVENT_RULE_EXACT_FILTERS = ("event_rule_id", "name", "scope", "project_id")


class EventRuleQuery(BaseModel):
    """list's request: a Query (SPEC §5) plus EventRuleQuery's exact-match filters."""

    model_config = ConfigDict(extra="forbid")

    query: Query = Field(default_factory=Query)
    event_rule_id: str | None = None
    name: str | None = None
    scope: EventRuleScope | None = None
    project_id: str | None = None
    domain_id: str | None = None

    def exact_filters(self) -> dict[str, str]:
        return {
            name: str(value) for name in EVENT_RULE_EXACT_FILTERS if (value := getattr(self, name))
        }


class EventRuleStatQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: StatisticsQuery
    domain_id: str | None = None


class EventRulesInfo(BaseModel):
    results: list[EventRule | dict[str, Any]]
    total_count: int
