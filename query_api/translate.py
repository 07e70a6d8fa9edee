"""Event list queries (SPEC §5) -> Elasticsearch DSL, with no I/O.

Field types come from `schemas.index.field_kind`, so the mapping is written down once.
Rules fixed here (and mirrored by `tests/reference/list_eval.py`):

- Unmapped keys: an unmapped key is a field no event has, so a positive operator
  matches nothing and a negative one (`not`, `not_in`, `not_contain`, `not_contain_in`,
  `exists: false`) matches everything. Its value is still checked.
- Values are compared as Elasticsearch keywords: numbers and booleans become their JSON
  text (`5`, `1.5`, `true`); lt/lte/gt/gte compare strings by code point, except on date
  fields (`created_at`, `occurred_at`), where every value must be an ISO-8601 date and
  comparisons are by instant. datetime_* and timediff_* need a date field.
- `contain*` and `regex*` are case-insensitive for every script. Elasticsearch's
  `case_insensitive` folds ASCII literals only (not `é`, not `[a-z]`), so non-ASCII
  letters and character classes are folded here (`[Éé]`, `[A-Za-z]`). They never
  anchor, except where the pattern starts with `^`/`\\A` or ends with `$`/`\\Z`.
  `\\d \\w \\s` are ASCII classes, `.` matches any character including a newline.
  Constructs Lucene lacks (backreferences, lookaround, `\\b`, inline flags other than
  i/s/x, possessive or atomic groups) are refused.
- On a keyed flattened field (`additional_info.env`) substring and regex matching cannot be
  a Lucene query, so they become *expansions*: the executor lists the field's distinct
  values matching a case-folded regex (a terms aggregation's `include`) and
  `apply_expansions` puts a `terms` query in the placeholder's place.
- `match` takes a dict: each key/value is an `eq` on `key.subkey` (nested dicts recurse),
  all ANDed; it applies to objects (`resource`) and flattened fields.
- keyword: split on whitespace; an event matches when ANY word matches, and a word matches
  when it is a case-insensitive substring of event_id or title, or when all its analyzed
  tokens occur in title, or all in description (full text, SPEC §8).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from schemas.event import format_timestamp
from schemas.index import field_kind
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
MAX_REPEAT = 1_000

MINIMAL_FIELDS = ("event_id", "event_key", "event_type", "title", "severity", "alert_id")
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
class Expansion:
    """Distinct values of `field` matching the Lucene regex `pattern` (already case-folded)."""

    field: str
    pattern: str


@dataclass(frozen=True)
class FilterPlan:
    """An Elasticsearch query whose `{"__expansion__": i}` nodes wait for `expansions[i]`."""

    query: dict[str, Any]
    expansions: tuple[Expansion, ...] = ()


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
) -> FilterPlan:
    """`filter` ANDed, `filter_or` ORed, the two groups and the keyword ANDed (SPEC §5)."""
    builder = _Builder(now)
    clauses = [builder.condition(c) for c in filter]
    if filter_or:
        clauses.append(_any([builder.condition(c) for c in filter_or]))
    if keyword and keyword.split():
        clauses.append(keyword_query(keyword))
    return FilterPlan(_all(clauses), tuple(builder.expansions))


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


def keyword_query(keyword: str) -> dict:
    """Any word: a substring of event_id or title, or full text over title or description."""
    should: list[dict] = []
    for word in keyword.split():
        should += [
            _substring_query("event_id", word, f"keyword {word!r}"),
            _substring_query("title.keyword", word, f"keyword {word!r}"),
            {
                "multi_match": {
                    "query": word,
                    "fields": ["title", "description"],
                    "operator": "and",
                }
            },
        ]
    return _any(should)


class _Builder:
    """Translates conditions one by one, collecting the expansions they need."""

    def __init__(self, now: datetime) -> None:
        self.now = now if now.tzinfo else now.replace(tzinfo=UTC)
        self.expansions: list[Expansion] = []

    def condition(self, condition: Condition) -> dict:
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
        return MATCH_NONE if field_kind(key) is None else {"exists": {"field": key}}

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
            found = field_kind(key)
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
        scalars = [_scalar(v, where) for v in values]
        if op in COMPARISONS and isinstance(value, bool):
            raise QueryError(INVALID, f"{where} cannot compare a boolean")

        found = field_kind(key)
        if found is None:
            return MATCH_NONE
        kind, field = found
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
        found = field_kind(key)
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
        found = field_kind(key)
        if found is None:
            return MATCH_NONE
        kind, field = found
        _check_leaf(key, kind, where)
        if kind == "date":
            raise QueryError(INVALID, f"{where} cannot match substrings of a date")
        if kind == "flattened":
            alternatives = [fold_literal(n) for n in needles]
            return self.expand(field, ".*" + _group(alternatives) + ".*")
        return _any([_substring_query(field, n, where) for n in needles])

    def regex(self, key: str, patterns: list[str], where: str) -> dict:
        found = field_kind(key)
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
            return self.expand(field, _group(translated))
        return _any([_regexp(field, p, where) for p in translated])

    def expand(self, field: str, pattern: str) -> dict:
        self.expansions.append(Expansion(field, pattern))
        return {EXPANSION_KEY: len(self.expansions) - 1}


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
    if all(len(_case_variants(c)) == 1 for c in needle if not c.isascii()):
        pattern = "*" + _escape_wildcard(needle) + "*"
        return {"wildcard": {field: {"value": pattern, "case_insensitive": True}}}
    folded = "".join(_folded_char(c, fold_ascii=False) for c in needle)
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


# ---- regular expressions -------------------------------------------------------------------


def _case_variants(char: str) -> set[str]:
    variants = {char}
    for other in (char.lower(), char.upper(), char.casefold(), char.title()):
        if len(other) == 1:
            variants.add(other)
    return variants


def _escape_char(char: str) -> str:
    """Lucene treats `\\` + any character as that character; only ASCII punctuation needs it."""
    return "\\" + char if char.isascii() and not char.isalnum() else char


def _class(codepoints: set[int], *, negate: bool = False) -> str:
    ranges: list[list[int]] = []
    for cp in sorted(codepoints):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(
        _escape_char(chr(lo)) + ("" if lo == hi else "-" + _escape_char(chr(hi)))
        for lo, hi in ranges
    )
    return "[" + ("^" if negate else "") + body + "]"


def _folded_char(char: str, *, fold_ascii: bool) -> str:
    variants = _case_variants(char) if fold_ascii or not char.isascii() else {char}
    return _escape_char(char) if len(variants) == 1 else _class({ord(v) for v in variants})


def fold_literal(text: str) -> str:
    """A Lucene regex matching `text` exactly, in any letter case (`ab` -> `[aA][bB]`)."""
    return "".join(_folded_char(c, fold_ascii=True) for c in text) or "()"


def _group(alternatives: list[str]) -> str:
    return "(" + "|".join(a or "()" for a in alternatives) + ")"


_CATEGORIES: dict[Any, set[int]] = {
    sre.CATEGORY_DIGIT: set(range(0x30, 0x3A)),
    sre.CATEGORY_WORD: set(range(0x30, 0x3A))
    | set(range(0x41, 0x5B))
    | set(range(0x61, 0x7B))
    | {0x5F},
    sre.CATEGORY_SPACE: {0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D},
}
_NOT_CATEGORIES = {
    sre.CATEGORY_NOT_DIGIT: sre.CATEGORY_DIGIT,
    sre.CATEGORY_NOT_WORD: sre.CATEGORY_WORD,
    sre.CATEGORY_NOT_SPACE: sre.CATEGORY_SPACE,
}
_STARTS = {sre.AT_BEGINNING, sre.AT_BEGINNING_STRING}
_ENDS = {sre.AT_END, sre.AT_END_STRING}
_FOLD_RANGE_LIMIT = 0x3000
# Matching is case-insensitive and `.` matches newlines anyway; (?x) only affects parsing.
_HARMLESS_FLAGS = re.IGNORECASE | re.UNICODE | re.DOTALL | re.VERBOSE


class _Unsupported(Exception):
    pass


def lucene_regex(pattern: str, *, fold_ascii: bool, where: str = "regex") -> str:
    """A Python regex as an unanchored Lucene regex matching the same values.

    Character classes and non-ASCII literals are always case-folded here; ASCII literals
    too with `fold_ascii` (otherwise the caller sets the query's ASCII `case_insensitive`).
    Raises ERROR_INVALID_ARGUMENT for invalid patterns and constructs Lucene cannot express.
    """
    try:
        re.compile(pattern)
        parsed = sre_parse.parse(pattern, 0)
    except (re.error, RecursionError, OverflowError) as error:
        raise QueryError(INVALID, f"{where}: invalid regex {pattern!r}: {error}") from None
    if parsed.state.flags & ~_HARMLESS_FLAGS:
        raise QueryError(INVALID, f"{where}: regex flags are not supported in {pattern!r}")
    emitter = _Emitter(fold_ascii)
    items = list(parsed)
    try:
        if len(items) == 1 and items[0][0] is sre.BRANCH:
            return _group([emitter.unanchored(list(alt)) for alt in items[0][1][1]])
        return emitter.unanchored(items)
    except _Unsupported as error:
        raise QueryError(INVALID, f"{where}: {error} in regex {pattern!r}") from None


class _Emitter:
    def __init__(self, fold_ascii: bool) -> None:
        self.fold_ascii = fold_ascii

    def unanchored(self, items: list) -> str:
        start = bool(items) and items[0][0] is sre.AT and items[0][1] in _STARTS
        if start:
            items = items[1:]
        end = bool(items) and items[-1][0] is sre.AT and items[-1][1] in _ENDS
        if end:
            items = items[:-1]
        body = self.sequence(items)
        return ("" if start else ".*") + body + ("" if end else ".*") or "()"

    def sequence(self, items: Any) -> str:
        return "".join(self.item(op, av) for op, av in items)

    def item(self, op: Any, av: Any) -> str:
        if op is sre.LITERAL:
            return _folded_char(chr(av), fold_ascii=self.fold_ascii)
        if op is sre.NOT_LITERAL:
            return _class({ord(v) for v in _case_variants(chr(av))}, negate=True)
        if op is sre.ANY:
            return "."
        if op is sre.IN:
            return self.char_class(av)
        if op is sre.BRANCH:
            return _group([self.sequence(alt) for alt in av[1]])
        if op is sre.SUBPATTERN:
            _group_id, add_flags, del_flags, sub = av
            if add_flags & ~_HARMLESS_FLAGS or del_flags:
                raise _Unsupported("inline flags are not supported")
            return "(" + self.sequence(sub) + ")"
        if op is sre.MAX_REPEAT or op is sre.MIN_REPEAT:
            low, high, sub = av
            if low > MAX_REPEAT or (high is not sre.MAXREPEAT and high > MAX_REPEAT):
                raise _Unsupported(f"repetition counts above {MAX_REPEAT} are not supported")
            return "(" + self.sequence(sub) + ")" + _quantifier(low, high)
        if op is sre.AT:
            raise _Unsupported("anchors and \\b are only supported at the start or end")
        raise _Unsupported(f"{str(op).lower()} is not supported")

    def char_class(self, items: list) -> str:
        negate = bool(items) and items[0][0] is sre.NEGATE
        if negate:
            items = items[1:]
        if len(items) == 1 and items[0][0] is sre.CATEGORY and items[0][1] in _NOT_CATEGORIES:
            # \D, \W, \S alone (or [^\D]): the complement of the ASCII class.
            codepoints = _CATEGORIES[_NOT_CATEGORIES[items[0][1]]]
            return _class(codepoints, negate=not negate)
        codepoints: set[int] = set()
        for op, av in items:
            if op is sre.LITERAL:
                codepoints |= {ord(v) for v in _case_variants(chr(av))}
            elif op is sre.RANGE:
                low, high = av
                codepoints |= set(range(low, high + 1))
                if high - low <= _FOLD_RANGE_LIMIT:
                    for cp in range(low, high + 1):
                        codepoints |= {ord(v) for v in _case_variants(chr(cp))}
            elif op is sre.CATEGORY and av in _CATEGORIES:
                codepoints |= _CATEGORIES[av]
            else:
                raise _Unsupported("negated classes inside a character class are not supported")
        return _class(codepoints, negate=negate)


def _quantifier(low: int, high: Any) -> str:
    if high is sre.MAXREPEAT:
        return {0: "*", 1: "+"}.get(low, f"{{{low},}}")
    if (low, high) == (0, 1):
        return "?"
    return f"{{{low}}}" if low == high else f"{{{low},{high}}}"


# ---- list -----------------------------------------------------------------------------------


def translate_list(query: Query, exact: Mapping[str, str | None], *, now: datetime) -> ListPlan:
    """A list query plus EventQuery's exact-match filters (None: not given) -> the search."""
    plan = build_filter(query.filter, query.filter_or, query.keyword, now=now)
    terms = []
    for name, value in exact.items():
        if value is None:  # an optional filter left out
            continue
        if name not in EXACT_FIELDS:
            raise QueryError(INVALID, f"{name}: not an exact-match filter of EventQuery")
        if not isinstance(value, str):
            raise QueryError(INVALID, f"{name}: needs a string, not {value!r}")
        terms.append({"term": {EXACT_FIELDS[name]: value}})
    if terms:
        plan = FilterPlan(_all([*terms, plan.query]), plan.expansions)
    if query.page.limit > MAX_PAGE_SIZE:
        raise QueryError(INVALID, f"page.limit: at most {MAX_PAGE_SIZE} events per page")
    paged = query.page.limit > 0
    return ListPlan(
        filter=plan,
        sort=translate_sort(query.sort),
        offset=query.page.start - 1 if paged else 0,
        limit=query.page.limit,
        source_includes=source_includes(query.only, minimal=query.minimal),
        count_only=query.count_only,
    )


def translate_sort(keys: Sequence[SortKey]) -> tuple[dict[str, Any], ...]:
    """Sort clauses with missing values last both ways and event_id ascending as tie-break.

    No keys means newest first. Unmapped keys are dropped: every event lacks them, so
    they order nothing.
    """
    clauses = []
    fields = set()
    for key in keys or DEFAULT_SORT:
        _check_key(key.key, "sort")
        found = field_kind(key.key)
        if found is None:
            continue
        if _is_object(key.key, found[0]):
            raise QueryError(INVALID, f"sort: {key.key} is an object")
        fields.add(found[1])
        clauses.append({found[1]: {"order": "desc" if key.desc else "asc", "missing": "_last"}})
    if "event_id" not in fields:
        clauses.append({"event_id": {"order": "asc", "missing": "_last"}})
    return tuple(clauses)


def source_includes(only: list[str] | None, *, minimal: bool = False) -> tuple[str, ...] | None:
    """The `_source` fields to return: `only` wins over `minimal`; None means all fields.

    An empty `only` is no `only` (as in the original). Wildcards are refused so that
    exactly the listed fields come back.
    """
    if only:
        for key in only:
            if "*" in key or any(not part for part in key.split(".")):
                raise QueryError(INVALID, f"only: {key!r} is not a field")
        return tuple(dict.fromkeys(only))
    return MINIMAL_FIELDS if minimal else None


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
