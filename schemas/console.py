"""What the console sends its own small routes: a KQL query to compile (SPEC §11)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class KqlFilter(BaseModel):
    """A pill above the results: `field` equal to `value` (null: the field is missing),
    negated or not, on or off."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(min_length=1, max_length=256)
    value: Any = None
    negate: bool = False
    disabled: bool = False


class KqlRequest(BaseModel):
    """`query` in KQL, over the events or the alerts, dates without offset in `time_zone`."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(default="", max_length=8192)
    target: Literal["events", "alerts"] = "events"
    time_zone: str = Field(default="UTC", max_length=64)
    filters: list[KqlFilter] = Field(default_factory=list, max_length=100)
