"""The query languages of list (Query, SPEC §5) and stat (StatisticsQuery, SPEC §6).

The models accept every alias and form the API allows and normalize them to one
shape: `k|key`, `v|value`, `o|operator`; sort as `{key, desc}`, `{keys: [...]}`
or a list, always stored as `list[SortKey]`. They check structure only; what an
operator does with its value is checked where the query is translated, so the
error codes of SPEC §5 come from one place.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator


class QueryError(Exception):
    """A query the API refuses: `code` is an ERROR_* code of SPEC §5, `message` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Condition(BaseModel):
    """One filter condition; unknown operators are refused at translation (ERROR_DB_QUERY)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    key: str = Field(validation_alias=AliasChoices("key", "k"), min_length=1)
    value: Any = Field(default=None, validation_alias=AliasChoices("value", "v"))
    operator: str = Field(default="eq", validation_alias=AliasChoices("operator", "o"))


class SortKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1)
    desc: bool = False


def normalize_sort(value: Any) -> Any:
    """`{key, desc}` | `{keys: [{key, desc}...]}` | `[{key, desc}...]` -> list of sort keys."""
    if value is None:
        return []
    if isinstance(value, dict):
        if "keys" in value:
            return value["keys"]
        return [value]
    return value


class Page(BaseModel):
    """1-based start; limit 0 means no paging."""

    model_config = ConfigDict(extra="forbid")

    start: int = Field(default=1, ge=1)
    limit: int = Field(default=0, ge=0)


class Query(BaseModel):
    """The `query` of event list (SPEC §5)."""

    model_config = ConfigDict(extra="forbid")

    filter: list[Condition] = Field(default_factory=list)
    filter_or: list[Condition] = Field(default_factory=list)
    sort: list[SortKey] = Field(default_factory=list)
    page: Page = Field(default_factory=Page)
    only: list[str] | None = None
    minimal: bool = False
    count_only: bool = False
    keyword: str | None = None

    _sort = field_validator("sort", mode="before")(normalize_sort)

    @field_validator("page", mode="before")
    @classmethod
    def _page_none(cls, value: Any) -> Any:
        return {} if value is None else value


# ---- StatisticsQuery (SPEC §6) -------------------------------------------------------------

GROUP_FIELD_OPERATORS = (
    "count", "sum", "average", "max", "min", "first", "last", "push", "add_to_set",
    "merge_objects",
)  # fmt: skip


class GroupKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1)
    name: str = ""
    # `year`, `month`, `day`, or a strftime pattern; applied in UTC to date fields, or in
    # `time_zone` (an IANA name such as `America/New_York`) when given.
    date_format: str | None = None
    time_zone: str | None = Field(default=None, max_length=64)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _default_name(self) -> GroupKey:
        if not self.name:
            self.name = self.key
        return self


class GroupField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator: str
    name: str = Field(min_length=1)
    key: str | None = None

    @model_validator(mode="after")
    def _check(self) -> GroupField:
        if self.operator not in GROUP_FIELD_OPERATORS:
            raise ValueError(f"unknown group field operator {self.operator!r}")
        if self.operator != "count" and not self.key:
            raise ValueError(f"group field operator {self.operator!r} needs a key")
        return self


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[GroupKey] = Field(default_factory=list)
    fields: list[GroupField] = Field(default_factory=list)


class CountStage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)


PROJECT_OPERATORS = ("size",)


class ProjectField(BaseModel):
    """`name` = the value at `key`; with operator `size`, the number of elements of that list."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1)
    name: str = ""
    operator: str | None = None

    @model_validator(mode="after")
    def _default_name(self) -> ProjectField:
        if not self.name:
            self.name = self.key
        if self.operator is not None and self.operator not in PROJECT_OPERATORS:
            raise ValueError(
                f"unknown project operator {self.operator!r}; known: {', '.join(PROJECT_OPERATORS)}"
            )
        return self


class ProjectStage(BaseModel):
    """Rows keep the current group keys plus `fields`; `exclude_keys: true` drops the keys.

    `exclude_keys` is a boolean, as in Cloudforet's core query proto.
    """

    model_config = ConfigDict(extra="forbid")

    fields: list[ProjectField] = Field(default_factory=list)
    exclude_keys: bool = False

    @field_validator("fields", mode="before")
    @classmethod
    def _plain_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"key": v} if isinstance(v, str) else v for v in value]
        return value


class UnwindStage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1)


class Stage(BaseModel):
    """One aggregate stage: exactly one of its fields is set."""

    model_config = ConfigDict(extra="forbid")

    group: Group | None = None
    count: CountStage | None = None
    sort: list[SortKey] | None = None
    project: ProjectStage | None = None
    unwind: UnwindStage | None = None
    limit: int | None = Field(default=None, ge=0)
    skip: int | None = Field(default=None, ge=0)

    @field_validator("sort", mode="before")
    @classmethod
    def _sort(cls, value: Any) -> Any:
        return None if value is None else normalize_sort(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> Stage:
        set_fields = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(set_fields) != 1:
            raise ValueError(
                f"an aggregate stage has exactly one of {list(type(self).model_fields)}"
            )
        return self


class StatisticsQuery(BaseModel):
    """The `query` of event stat (SPEC §6)."""

    model_config = ConfigDict(extra="forbid")

    filter: list[Condition] = Field(default_factory=list)
    filter_or: list[Condition] = Field(default_factory=list)
    keyword: str | None = None
    aggregate: list[Stage] = Field(default_factory=list)
    distinct: str | None = None
    page: Page = Field(default_factory=Page)

    @field_validator("aggregate", mode="before")
    @classmethod
    def _single_stage(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @field_validator("page", mode="before")
    @classmethod
    def _page_none(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _something_to_do(self) -> StatisticsQuery:
        if not self.aggregate and not self.distinct:
            raise ValueError("a statistics query needs `aggregate` or `distinct`")
        return self
