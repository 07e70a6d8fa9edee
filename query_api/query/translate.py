"""Query (SPEC §5) -> Elasticsearch DSL, with no I/O: one translator for every list.

The event list and the webhook list both translate here; each passes its `Searchable`
(`EVENTS`, `WEBHOOKS`): the field map read from its index mapping
(`schemas.index.FieldMap`), its id field (the sort's tie-break) and the fields its
keyword searches. Rules fixed here (and mirrored by `tests/reference/list_eval.py`):

- Unmapped keys: an unmapped key is a field no document has, so a positive operator
  matches nothing and a negative one (`not`, `not_in`, `not_contain`, `not_contain_in`,
  `exists: false`) matches everything; its value is still checked. A sort on it orders
  nothing. The same for every list (MongoDB's meaning of a field nobody has). Fields the
  mapping keeps out of the index (`"index": false`, e.g. a webhook's key hash) cannot be
  filtered or sorted on: ERROR_INVALID_ARGUMENT.
- Null values (MongoDB's meaning): `eq` null matches a missing or null field, `not` null a
  present, non-null one; `in`/`not_in` lists may hold null with the same meaning for that
  item. Any other operator refuses null.
- Values are compared as Elasticsearch keywords: numbers and booleans become their JSON
  text (`5`, `1.5`, `true`); lt/lte/gt/gte compare strings by code point, except on date
  fields, where every value must be an ISO-8601 date and comparisons are by instant.
  datetime_* and timediff_* need a date field.
- Case: `eq`, `in` and comparisons are case-sensitive. `contain*` and `regex*` are
  case-insensitive for every script, in every list: Elasticsearch's `case_insensitive`
  folds ASCII literals only (not `é`, not `[a-z]`), so non-ASCII letters and character
  classes are folded here (`query_api.query.regex`). They never anchor, except where the
  pattern starts with `^`/`\\A` or ends with `$`/`\\Z`.
- On a keyed flattened field (`additional_info.env`) substring and regex matching cannot be
  a Lucene query, so they become *expansions*: the executor lists the field's distinct
  values matching a case-folded regex (a terms aggregation's `include`) and
  `apply_expansions` puts a `terms` query in the placeholder's place.
- `eq`/`in` (and so `not`/`not_in`) on a flattened root (`additional_info`) match any of
  its values, at any key (the console's free text); other operators there need a key.
- `match` takes a dict: each key/value is an `eq` on `key.subkey` (nested dicts recurse),
  all ANDed; it applies to objects (`resource`) and flattened fields.
- keyword: split on whitespace; a document matches when ANY word matches, and a word
  matches when it is a case-insensitive substring of one of the list's substring fields
  (event_id and title; webhook_id and name), or when all its analyzed tokens occur in
  one of its full-text fields (events: title or description, SPEC §8). The keyword is
  ANDed with `filter` and with `filter_or`.
- Every regexp clause remembers the condition it came from, so a regex Elasticsearch
  refuses as too complex is reported naming that condition.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from query_api.query.regex import case_variants, fold_literal, folded_char, group, lucene_regex
from schemas.alert import ALERT_QUERY_FILTERS, NOTE_QUERY_FILTERS
from schemas.event import format_timestamp
from schemas.index import (
    ALERT_FIELDS,
    EVENT_FIELDS,
    EVENT_RULE_FIELDS,
    NOTE_FIELDS,
    WEBHOOK_FIELDS,
    FieldMap,
)
from schemas.messages import EXACT_FILTERS
from schemas.query import Condition, Query, QueryError, SortKey

INVALID = "ERROR_INVALID_ARGUMENT"

# Elasticsearch's from+size window; beyond it pages are walked with search_after.
MAX_RESULT_WINDOW = 10_000
# A page may hold at most this many events, and a query without paging (limit 0) may
# match at most this many: past it the caller must page (ERROR_INVALID_ARGUMENT).
MAX_PAGE_SIZE = 10_000
# An expansion (substring/regex on a flattened field) may match at most this many distinct
# values; past it the query is refused (ERROR_QUERY_TOO_BROAD) instead of sent.
MAX_EXPANSION_VALUES = 10_000
# Elasticsearch's default index.max_regex_length for regexp queries.
MAX_REGEX_LENGTH = 1_000

MINIMAL_FIELDS = ("event_id", "event_key", "event_type", "title", "severity", "alert_id")
# Cloudforet's minimal AlertInfo
ALERT_MINIMAL_FIELDS = (
    "alert_number", "alert_id", "title", "state", "status_message", "assignee", "urgency",
    "escalation_step", "escalation_ttl", "project_id",
)  # fmt: skip
DEFAULT_SORT = (SortKey(key="created_at", desc=True),)

# EventQuery's exact-match filters (SPEC §2) and the field each one tests.
EXACT_FIELDS: dict[str, str] = {
    name: {"resource_id": "resource.resource_id"}.get(name, name) for name in EXACT_FILTERS
}

LIST_OPERATORS = frozenset({"in", "not_in", "contain_in", "not_contain_in", "regex_in"})
# A negative operator is the negation of a positive one, so missing fields match it.
NEGATIONS = {"not": "eq", "not_in": "in", "not_contain": "contain", "not_contain_in": "contain_in"}
COMPARISONS = {"lt", "lte", "gt", "gte"}
DATETIME_OPERATORS = {f"datetime_{c}": c for c in COMPARISONS}
TIMEDIFF_OPERATORS = {f"timediff_{c}": c for c in COMPARISONS}
OPERATORS = frozenset(
    {"eq", "in", "contain", "contain_in", "exists", "match", "regex", "regex_in"}
    | NEGATIONS.keys()
    | COMPARISONS
    | DATETIME_OPERATORS.keys()
    | TIMEDIFF_OPERATORS.keys()
)

MATCH_ALL: dict[str, Any] = {"match_all": {}}
MATCH_NONE: dict[str, Any] = {"match_none": {}}
EXPANSION_KEY = "__expansion__"


@dataclass(frozen=True)
class Searchable:
    """What one list translates against: its fields, id (tie-break) and keyword fields, its
    default sort, `minimal` fields and exact-match filters (documents are in created_at order,
    ties by id, where stat needs an order)."""

    fields: FieldMap
    id_field: str
    keyword_substrings: tuple[str, ...]
    keyword_full_text: tuple[str, ...] = ()
    default_sort: tuple[SortKey, ...] = (SortKey(key="created_at", desc=True),)
    minimal_fields: tuple[str, ...] = ()
    # exact-match filters a list request may carry besides its query: name -> field
    exact_fields: tuple[tuple[str, str], ...] = ()
    noun: str = "documents"


EVENTS = Searchable(
    EVENT_FIELDS, "event_id", ("event_id", "title"), ("title", "description"),
    minimal_fields=MINIMAL_FIELDS, noun="events",
)  # fmt: skip
WEBHOOKS = Searchable(WEBHOOK_FIELDS, "webhook_id", ("webhook_id", "name"), noun="webhooks")
# Cloudforet's keyword over alerts (alert_id, title), the event key as the console had it,
# and full text over title and description, as events have.
ALERTS = Searchable(
    ALERT_FIELDS, "alert_id", ("alert_id", "title", "event_key"), ("title", "description"),
    minimal_fields=ALERT_MINIMAL_FIELDS, exact_fields=tuple(ALERT_QUERY_FILTERS.items()),
    noun="alerts",
)  # fmt: skip
NOTES = Searchable(
    NOTE_FIELDS, "note_id", ("note_id", "note"), ("note",),
    minimal_fields=("note_id", "note", "alert_id", "created_by"),
    exact_fields=tuple((name, name) for name in NOTE_QUERY_FILTERS), noun="notes",
)  # fmt: skip
EVENT_RULES = Searchable(
    EVENT_RULE_FIELDS, "event_rule_id", ("event_rule_id", "name"),
    default_sort=(SortKey(key="order"),),
    minimal_fields=("event_rule_id", "name", "order", "scope", "project_id"), noun="event rules",
)  # fmt: skip


@dataclass(frozen=True)
class Expansion:
    """Distinct values of `field` matching the Lucene regex `pattern` (already case-folded);
    `where` names the condition it came from."""

    field: str
    pattern: str
    where: str = field(default="", compare=False)


@dataclass(frozen=True)
class FilterPlan:
    """An Elasticsearch query whose `{"__expansion__": i}` nodes wait for `expansions[i]`.

    `regexps` pairs each regexp clause with the condition it came from.
    """

    query: dict[str, Any]
    expansions: tuple[Expansion, ...] = ()
    regexps: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass(frozen=True)
class ListPlan:
    """Everything a list search needs; `limit` 0 means all (at most MAX_PAGE_SIZE)."""

    filter: FilterPlan
    sort: tuple[dict[str, Any], ...]
    offset: int
    limit: int
    source_includes: tuple[str, ...] | None
    count_only: bool


# ---- filters ---------------------------------------------------------------------------


def build_filter(
    filter: list[Condition],
    filter_or: list[Condition],
    keyword: str | None,
    *,
    now: datetime,
    searchable: Searchable = EVENTS,
) -> FilterPlan:
    """`filter` ANDed, `filter_or` ORed, the two groups and the keyword ANDed (SPEC §5)."""
    builder = _Builder(now, searchable.fields)
    clauses = [builder.condition(c, f"filter[{i}]") for i, c in enumerate(filter)]
    if filter_or:
        either = [builder.condition(c, f"filter_or[{i}]") for i, c in enumerate(filter_or)]
        clauses.append(_any(either))
    if keyword and keyword.split():
        clauses.append(keyword_query(keyword, searchable))
    return FilterPlan(_all(clauses), tuple(builder.expansions), tuple(builder.regexps))


def apply_expansions(plan: FilterPlan, values_by_expansion: Sequence[Sequence[str]]) -> dict:
    """The plan's query with each placeholder replaced by a `terms` query of its values."""
    if len(values_by_expansion) != len(plan.expansions):
        raise ValueError(
            f"{len(plan.expansions)} expansions, {len(values_by_expansion)} value lists"
        )
    terms = []
    for expansion, values in zip(plan.expansions, values_by_expansion, strict=True):
        distinct = sorted(set(values))
        if len(distinct) > MAX_EXPANSION_VALUES:
            raise QueryError(
                "ERROR_QUERY_TOO_BROAD",
                f"{expansion.field}: more than {MAX_EXPANSION_VALUES} distinct values match;"
                " narrow the substring or regex",
            )
        terms.append({"terms": {expansion.field: distinct}})

    def substitute(node: Any) -> Any:
        if isinstance(node, dict):
            if node.keys() == {EXPANSION_KEY}:
                return terms[node[EXPANSION_KEY]]
            return {k: substitute(v) for k, v in node.items()}
        if isinstance(node, list):
            return [substitute(v) for v in node]
        return node

    return substitute(plan.query)


def keyword_query(keyword: str, searchable: Searchable = EVENTS) -> dict:
    """Any word: a substring of a substring field, or all its tokens in a full-text field."""
    should: list[dict] = []
    for word in keyword.split():
        for name in searchable.keyword_substrings:
            found = searchable.fields.kind(name)
            assert found is not None, name
            should.append(_substring_query(found[1], word, f"keyword {word!r}"))
        if searchable.keyword_full_text:
            fields = list(searchable.keyword_full_text)
            should.append({"multi_match": {"query": word, "fields": fields, "operator": "and"}})
    return _any(should)


class _Builder:
    """Translates conditions one by one, collecting the expansions and regexps they make."""

    def __init__(self, now: datetime, fields: FieldMap = EVENT_FIELDS) -> None:
        self.now = now if now.tzinfo else now.replace(tzinfo=UTC)
        self.fields = fields
        self.expansions: list[Expansion] = []
        self.regexps: list[tuple[str, dict[str, Any]]] = []
        self.where = ""

    def condition(self, condition: Condition, place: str = "") -> dict:
        """One condition's query; `place` (`filter[0]`) names it in later errors."""
        self.where = describe(condition, place)
        query = self._condition(condition)
        self.regexps += [(self.where, node) for node in _regexp_nodes(query)]
        return query

    def _condition(self, condition: Condition) -> dict:
        key, op, value = condition.key, condition.operator, condition.value
        if op not in OPERATORS:
            raise QueryError("ERROR_DB_QUERY", f"{key}: unknown operator {op!r}")
        if op in LIST_OPERATORS:
            if not isinstance(value, list):
                raise QueryError(
                    "ERROR_OPERATOR_LIST_VALUE_TYPE", f"{key}: operator {op!r} needs a list"
                )
            if not value:
                raise QueryError(INVALID, f"{key}: operator {op!r} needs a non-empty list")
        elif isinstance(value, list):
            raise QueryError(
                "ERROR_OPERATOR_VALUE_TYPE", f"{key}: operator {op!r} takes a single value"
            )
        _check_key(key, op)
        if self.fields.hidden(key):
            raise QueryError(INVALID, f"{key}: this field cannot be filtered")
        if op == "exists":
            if not isinstance(value, bool):
                raise QueryError(INVALID, f"{key}: operator 'exists' needs true or false")
            query = self.exists(key)
            return query if value else _negate(query)
        if op in NEGATIONS:
            return _negate(self.positive(key, NEGATIONS[op], value, op))
        return self.positive(key, op, value, op)

    def exists(self, key: str) -> dict:
        # The field itself, not a text field's keyword sub-field, which skips long values.
        return MATCH_NONE if self.fields.kind(key) is None else {"exists": {"field": key}}

    def positive(self, key: str, op: str, value: Any, shown: str) -> dict:
        """The query of a positive operator; `shown` is the operator the user wrote."""
        where = f"{key}: operator {shown!r}"
        if op == "match":
            return self.match(key, value, where)
        if op in DATETIME_OPERATORS or op in TIMEDIFF_OPERATORS:
            if op in DATETIME_OPERATORS:
                instant = _parse_date(value, where)
                comparison = DATETIME_OPERATORS[op]
            else:
                instant = parse_timediff(value, self.now, where)
                comparison = TIMEDIFF_OPERATORS[op]
            found = self.fields.kind(key)
            if found is None:
                return MATCH_NONE
            if found[0] != "date":
                raise QueryError(INVALID, f"{where} needs a date field")
            return _date_comparison(found[1], comparison, instant)

        if op in ("regex", "regex_in"):
            patterns = value if op == "regex_in" else [value]
            for pattern in patterns:
                if not isinstance(pattern, str):
                    raise QueryError(INVALID, f"{where} needs a string regex, not {pattern!r}")
            return self.regex(key, patterns, where)
        if op in ("contain", "contain_in"):
            needles = value if op == "contain_in" else [value]
            return self.contain(key, [_substring(v, where) for v in needles], where)
        values = value if op == "in" else [value]
        if op in ("eq", "in") and None in values:
            # MongoDB's null: a missing or null field (which Elasticsearch never indexes).
            missing = _negate(self.exists(key))
            rest = [v for v in values if v is not None]
            return _any([missing, self.positive(key, "in", rest, shown)]) if rest else missing
        scalars = [_scalar(v, where) for v in values]
        if op in COMPARISONS and isinstance(value, bool):
            raise QueryError(INVALID, f"{where} cannot compare a boolean")

        found = self.fields.kind(key)
        if found is None:
            return MATCH_NONE
        kind, field = found
        if not (kind == "flattened" and op in ("eq", "in")):
            # eq/in on a flattened root (`additional_info`) is any of its values (free text).
            _check_leaf(key, kind, where)
        if kind == "date":
            instants = [_parse_date(v, where) for v in scalars]
            if op in COMPARISONS:
                return _date_comparison(field, op, instants[0])
            exact = [format_timestamp(i) for i in instants if _whole_millis(i)]
            return _terms(field, exact)
        texts = [_keyword_text(v) for v in scalars]
        if op in COMPARISONS:
            return {"range": {field: {op: texts[0]}}}
        return _terms(field, texts)

    def match(self, key: str, value: Any, where: str) -> dict:
        if not isinstance(value, dict) or not value:
            raise QueryError(INVALID, f"{where} needs a non-empty object")
        found = self.fields.kind(key)
        if found is not None and found[0] not in ("object", "flattened"):
            raise QueryError(INVALID, f"{where} needs an object field")
        clauses = []
        for subkey, subvalue in value.items():
            path = f"{key}.{subkey}"
            _check_key(path, "match")
            if isinstance(subvalue, dict):
                clauses.append(self.match(path, subvalue, where))
            else:
                clauses.append(self.positive(path, "eq", subvalue, "match"))
        return _all(clauses)

    def contain(self, key: str, needles: list[str], where: str) -> dict:
        found = self.fields.kind(key)
        if found is None:
            return MATCH_NONE
        kind, field = found
        _check_leaf(key, kind, where)
        if kind == "date":
            raise QueryError(INVALID, f"{where} cannot match substrings of a date")
        if kind == "flattened":
            alternatives = [fold_literal(n) for n in needles]
            return self.expand(field, ".*" + group(alternatives) + ".*")
        return _any([_substring_query(field, n, where) for n in needles])

    def regex(self, key: str, patterns: list[str], where: str) -> dict:
        found = self.fields.kind(key)
        if found is not None:
            _check_leaf(key, found[0], where)
            if found[0] == "date":
                raise QueryError(INVALID, f"{where} cannot match a regex on a date")
        flattened = found is not None and found[0] == "flattened"
        # Validate every pattern even for an unmapped key.
        translated = [lucene_regex(p, fold_ascii=flattened, where=where) for p in patterns]
        if found is None:
            return MATCH_NONE
        field = found[1]
        if flattened:
            return self.expand(field, group(translated))
        return _any([_regexp(field, p, where) for p in translated])

    def expand(self, field: str, pattern: str) -> dict:
        self.expansions.append(Expansion(field, pattern, self.where))
        return {EXPANSION_KEY: len(self.expansions) - 1}


def describe(condition: Condition, place: str = "") -> str:
    """A condition as errors name it: `filter[1] (title regex '(a|b)*')`."""
    shown = f"{condition.key} {condition.operator} {condition.value!r}"
    return f"{place} ({shown})" if place else shown


def _regexp_nodes(node: Any) -> list[dict[str, Any]]:
    """Every `regexp` clause inside a query."""
    if isinstance(node, list):
        return [found for item in node for found in _regexp_nodes(item)]
    if not isinstance(node, dict):
        return []
    if "regexp" in node:
        return [node]
    return [found for value in node.values() for found in _regexp_nodes(value)]


def _check_key(key: str, op: str) -> None:
    if any(not part for part in key.split(".")):
        raise QueryError(INVALID, f"{key!r}: operator {op!r}: malformed dotted key")


def _is_object(key: str, kind: str) -> bool:
    """Objects and the root of a flattened field take only `match` and `exists`."""
    return kind == "object" or (kind == "flattened" and "." not in key)


def _check_leaf(key: str, kind: str, where: str) -> None:
    if _is_object(key, kind):
        raise QueryError(INVALID, f"{where}: {key} is an object; use 'match' or 'exists'")


def _scalar(value: Any, where: str) -> str | int | float | bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise QueryError(INVALID, f"{where} needs a string, number or boolean, not {value!r}")


def _substring(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise QueryError(INVALID, f"{where} needs a string, not {value!r}")
    return _keyword_text(value)


def _keyword_text(value: str | int | float | bool) -> str:
    """A value as Elasticsearch indexes it in a keyword: numbers and booleans as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _terms(field: str, values: list[str]) -> dict:
    if not values:
        return MATCH_NONE
    if len(values) == 1:
        return {"term": {field: values[0]}}
    return {"terms": {field: values}}


def _substring_query(field: str, needle: str, where: str) -> dict:
    """Case-insensitive substring on a keyword field; a regexp when ASCII folding won't do."""
    if all(len(case_variants(c)) == 1 for c in needle if not c.isascii()):
        pattern = "*" + _escape_wildcard(needle) + "*"
        return {"wildcard": {field: {"value": pattern, "case_insensitive": True}}}
    folded = "".join(folded_char(c, fold_ascii=False) for c in needle)
    return _regexp(field, ".*" + folded + ".*", where)


def _regexp(field: str, pattern: str, where: str) -> dict:
    """A regexp query; ASCII literals are folded by the flag, the rest by the pattern."""
    if len(pattern) > MAX_REGEX_LENGTH:
        raise QueryError(INVALID, f"{where}: pattern longer than {MAX_REGEX_LENGTH} once folded")
    return {"regexp": {field: {"value": pattern, "case_insensitive": True}}}


def _escape_wildcard(text: str) -> str:
    return re.sub(r"([*?\\])", r"\\\1", text)


def _all(clauses: list[dict]) -> dict:
    if any(c == MATCH_NONE for c in clauses):
        return MATCH_NONE
    clauses = [c for c in clauses if c != MATCH_ALL]
    if not clauses:
        return MATCH_ALL
    return clauses[0] if len(clauses) == 1 else {"bool": {"filter": clauses}}


def _any(clauses: list[dict]) -> dict:
    if any(c == MATCH_ALL for c in clauses):
        return MATCH_ALL
    clauses = [c for c in clauses if c != MATCH_NONE]
    if not clauses:
        return MATCH_NONE
    if len(clauses) == 1:
        return clauses[0]
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def _negate(query: dict) -> dict:
    if query == MATCH_NONE:
        return MATCH_ALL
    if query == MATCH_ALL:
        return MATCH_NONE
    inner = query.get("bool", {}).get("must_not", [])
    if query.keys() == {"bool"} and query["bool"].keys() == {"must_not"} and len(inner) == 1:
        return inner[0]
    return {"bool": {"must_not": [query]}}


# ---- dates -------------------------------------------------------------------------------

_TIMEDIFF = re.compile(
    r"\s*now(?:/(?P<round>[dwm]))?\s*(?:(?P<sign>[+-])\s*(?P<n>\d+)\s*(?P<unit>[smhdw]))?\s*"
)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_timediff(value: Any, now: datetime, where: str = "timediff") -> datetime:
    """`now`, `now/d` (UTC day), `now/w` (Monday), `now/m` (1st of the month) ± N{s,m,h,d,w}.

    `m` rounds to the month but, as an offset unit, counts minutes (SPEC §5's examples).
    """
    match = _TIMEDIFF.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise QueryError(INVALID, f"{where} needs now[/d|/w|/m][±N(s|m|h|d|w)], not {value!r}")
    base = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC)
    midnight = base.replace(hour=0, minute=0, second=0, microsecond=0)
    rounding = match["round"]
    if rounding == "d":
        base = midnight
    elif rounding == "w":
        base = midnight - timedelta(days=midnight.weekday())
    elif rounding == "m":
        base = midnight.replace(day=1)
    if match["sign"]:
        try:
            delta = timedelta(**{_UNITS[match["unit"]]: int(match["n"])})
            base = base + delta if match["sign"] == "+" else base - delta
        except OverflowError:
            raise QueryError(INVALID, f"{where}: {value!r} is out of range") from None
    return base


def _parse_date(value: Any, where: str) -> datetime:
    """An ISO-8601 string (no zone = UTC) as an aware UTC datetime."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise QueryError(INVALID, f"{where} needs an ISO-8601 date, not {value!r}") from None
    else:
        raise QueryError(INVALID, f"{where} needs an ISO-8601 date, not {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _whole_millis(instant: datetime) -> bool:
    return instant.microsecond % 1000 == 0


def _date_comparison(field: str, op: str, instant: datetime) -> dict:
    """A range on a millisecond date field, exact even for a sub-millisecond instant."""
    if not _whole_millis(instant):
        # Stored dates are whole milliseconds: `> 0.5ms` is `> 0ms`, `>= 0.5ms` is `> 0ms`.
        op = {"gte": "gt", "lt": "lte"}.get(op, op)
    floor = instant.replace(microsecond=instant.microsecond - instant.microsecond % 1000)
    return {"range": {field: {op: format_timestamp(floor)}}}


# ---- list -----------------------------------------------------------------------------------


def translate_list(
    query: Query,
    exact: Mapping[str, Any],
    *,
    now: datetime,
    searchable: Searchable = EVENTS,
) -> ListPlan:
    """A list query plus its request's exact-match filters (by request name; None: not
    given) -> the search. Events' filters are strings; an alert's number is an integer and
    is_snoozed a boolean, compared as such."""
    plan = build_filter(query.filter, query.filter_or, query.keyword, now=now,
                        searchable=searchable)  # fmt: skip
    fields = dict(searchable.exact_fields) if searchable is not EVENTS else EXACT_FIELDS
    terms = []
    for name, value in exact.items():
        if value is None:  # an optional filter left out
            continue
        if name not in fields:
            raise QueryError(INVALID, f"{name}: not an exact-match filter of {searchable.noun}")
        if not isinstance(value, str | int | bool) or (
            searchable is EVENTS and not isinstance(value, str)
        ):
            raise QueryError(INVALID, f"{name}: needs a string, not {value!r}")
        terms.append({"term": {fields[name]: value}})
    if terms:
        plan = FilterPlan(_all([*terms, plan.query]), plan.expansions, plan.regexps)
    if query.page.limit > MAX_PAGE_SIZE:
        raise QueryError(INVALID, f"page.limit: at most {MAX_PAGE_SIZE} {searchable.noun} per page")
    paged = query.page.limit > 0
    return ListPlan(
        filter=plan,
        sort=translate_sort(query.sort, searchable),
        offset=query.page.start - 1 if paged else 0,
        limit=query.page.limit,
        source_includes=source_includes(
            query.only, minimal=query.minimal, minimal_fields=searchable.minimal_fields
        ),
        count_only=query.count_only,
    )


def translate_sort(
    keys: Sequence[SortKey], searchable: Searchable = EVENTS
) -> tuple[dict[str, Any], ...]:
    """Sort clauses with missing values last both ways and the id ascending as tie-break.

    No keys means newest first. Unmapped keys are dropped: every document lacks them, so
    they order nothing. A dynamic keyword not mapped yet (`tags.env`) sorts as missing.
    """
    clauses = []
    fields = set()
    for key in keys or searchable.default_sort:
        _check_key(key.key, "sort")
        if searchable.fields.hidden(key.key):
            raise QueryError(INVALID, f"sort: {key.key} cannot be sorted on")
        found = searchable.fields.kind(key.key)
        if found is None:
            continue
        if _is_object(key.key, found[0]):
            raise QueryError(INVALID, f"sort: {key.key} is an object")
        fields.add(found[1])
        order = {"order": "desc" if key.desc else "asc", "missing": "_last"}
        if searchable.fields.is_dynamic(key.key):
            order["unmapped_type"] = "keyword"
        clauses.append({found[1]: order})
    if searchable.id_field not in fields:
        clauses.append({searchable.id_field: {"order": "asc", "missing": "_last"}})
    return tuple(clauses)


def source_includes(
    only: list[str] | None,
    *,
    minimal: bool = False,
    minimal_fields: tuple[str, ...] = MINIMAL_FIELDS,
) -> tuple[str, ...] | None:
    """The `_source` fields to return: `only` wins over `minimal`; None means all fields.

    An empty `only` is no `only` (as in the original). Wildcards are refused so that
    exactly the listed fields come back.
    """
    if only:
        for key in only:
            if "*" in key or any(not part for part in key.split(".")):
                raise QueryError(INVALID, f"only: {key!r} is not a field")
        return tuple(dict.fromkeys(only))
    return minimal_fields if minimal else None


def scoped(query: dict, domain_id: str | None) -> dict:
    """`query` confined to one domain (None: every domain, for admin keys).

    The domain term sits beside the query in a bool filter, so nothing inside the query
    can widen it.
    """
    if domain_id is None:
        return query
    if not isinstance(domain_id, str):
        raise TypeError(f"domain_id must be a string or None, not {type(domain_id).__name__}")
    return {"bool": {"filter": [{"term": {"domain_id": domain_id}}, query]}}
