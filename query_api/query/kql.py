"""KQL (Kibana's query language) -> the API's Query (SPEC §5, §11), with no I/O.

text --tokenize--> tokens --parse--> tree --compile--> and/or/not of conditions
--negations pushed to the conditions, then conjunctive normal form--> a Query:
every clause of one condition goes to `filter`; the one clause of several goes to
`filter_or`. A Query holds ONE such OR group, so a query needing two (`(a or b) and
(c or d)` over different fields) is refused naming both, never answered wrongly.
Values of one field ORed become one condition (`severity:(CRITICAL or ERROR)` is
`severity in [...]`), so they never need the group.

Fields come from the index mapping (`schemas.index`), so events and alerts share one
grammar. What each form means:

- `field:value` — keyword: equal (enumerated fields case-insensitive, checked against
  their values); title/description: case-insensitive substring; `field:"a phrase"`
  the same with spaces; `field:*` has a value; `field:(a or b)`, `field:(a and not b)`.
- `*` wildcards: `*text*` is a case-insensitive substring; other patterns an anchored
  case-insensitive regex (events only); on an enumerated field they pick its values.
- ranges `>`, `>=`, `<`, `<=` (also `field:>=v`): dates as ISO (no offset: the caller's
  time zone) or `now`, `now-1h`, `now/d-7d`; severity by severity order; numbers.
- free text (words without a field): any word, in title/description as a substring,
  equal to a keyword field's value, to an enumerated value in any case, or to any value
  of additional_info (raw_data only by key: it is the sender's whole payload).
  Adjacent words are alternatives (`disk full`: either); adjacent field expressions
  are ANDed.
- `and`, `or`, `not` in any case, parentheses; `not` binds tightest, then `and`.
  `-field:value` is `not field:value` (the console's earlier syntax, so old links work).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from query_api.query.translate import parse_timediff
from schemas.alert import AlertState, Urgency
from schemas.console import KqlFilter
from schemas.event import EventType, Severity, format_timestamp
from schemas.index import ALERT_MAPPINGS, EVENT_FIELDS, FieldMap
from schemas.query import QueryError

NUMBERS = frozenset({"long", "integer", "short", "byte", "double", "float", "half_float"})
FREE_TEXT_SKIPS = frozenset({"raw_data"})  # reached only by key: raw_data.<key>:value
MAX_CLAUSES = 64  # conjunctive clauses one query may expand to before it is refused
CODE = "ERROR_INVALID_QUERY"


class KqlError(ValueError):
    """A query that cannot be compiled: `position` (1-based) and `field` when known."""

    def __init__(self, message: str, *, position: int | None = None, field: str | None = None):
        where = f"position {position}: " if position is not None else ""
        super().__init__(where + message)
        self.message = where + message
        self.position = position
        self.field = field


# ---- targets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a query compiles against: the fields (from the mapping) and the operators the
    list behind it takes (events and alerts take every operator: one translator)."""

    name: str
    fields: FieldMap
    enums: dict[str, tuple[str, ...]]  # field -> its values, highest first when ordered
    ordered: frozenset[str]  # enumerated fields whose ranges follow their order
    always_present: frozenset[str]  # fields every document has (a negated range needs no OR)
    regex: bool
    date_operators: bool  # datetime_* / timediff_* (else lt/gte… with ISO values)
    list_operators: bool  # contain_in, regex_in


SEVERITY_ORDER = tuple(s.value for s in Severity)  # CRITICAL > ERROR > … > NONE

EVENTS = Target(
    name="events",
    fields=EVENT_FIELDS,
    enums={"severity": SEVERITY_ORDER, "event_type": tuple(t.value for t in EventType)},
    ordered=frozenset({"severity"}),
    always_present=frozenset({"event_id", "event_type", "severity", "created_at", "domain_id"}),
    regex=True,
    date_operators=True,
    list_operators=True,
)
_ALERT_HAS_SEVERITY = "severity" in ALERT_MAPPINGS["properties"]
ALERTS = Target(
    name="alerts",
    fields=FieldMap.of(ALERT_MAPPINGS),
    enums={
        "state": tuple(s.value for s in AlertState),
        "urgency": tuple(u.value for u in Urgency),
        **({"severity": SEVERITY_ORDER} if _ALERT_HAS_SEVERITY else {}),
    },
    ordered=frozenset({"severity"} if _ALERT_HAS_SEVERITY else ()),
    always_present=frozenset(
        {"alert_id", "alert_number", "state", "urgency", "created_at", "updated_at"}
        | {"project_id", "domain_id"}
    ),
    regex=True,
    date_operators=False,  # relative times as ISO instants: the same for a stat bucket
    list_operators=True,
)
TARGETS = {"events": EVENTS, "alerts": ALERTS}


def field_names(target: Target) -> list[str]:
    """Every field a query may name, as errors list them (`additional_info.<key>`)."""
    names: list[str] = []

    def walk(properties: dict[str, Any], prefix: str) -> None:
        for name, spec in properties.items():
            path = prefix + name
            if spec.get("index") is False or spec.get("enabled") is False:
                continue
            if spec.get("type") == "flattened":
                names.append(f"{path}.<key>")
            elif "properties" in spec:
                walk(spec["properties"], path + ".")
            else:
                names.append(path)

    walk(target.fields.properties, "")
    return names


# ---- tokens --------------------------------------------------------------------------------

TokenKind = Literal["WORD", "QUOTED", "LPAREN", "RPAREN", "COLON", "CMP", "AND", "OR", "NOT", "END"]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str  # the value, escapes resolved
    position: int  # 1-based
    parts: tuple[str, ...] = ()  # WORD: the text split at unescaped `*`


_SPECIAL = '()":<>'


def tokenize(text: str) -> list[Token]:
    """The query's tokens. After `:` or a comparison a word may hold `:` (ISO times)."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    value_mode = False
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        start = i + 1
        if char == "(":
            tokens.append(Token("LPAREN", char, start))
            value_mode = False
            i += 1
        elif char == ")":
            tokens.append(Token("RPAREN", char, start))
            value_mode = False
            i += 1
        elif char == ":":
            tokens.append(Token("COLON", char, start))
            value_mode = True
            i += 1
        elif char in "<>":
            op = char + ("=" if text[i + 1 : i + 2] == "=" else "")
            tokens.append(Token("CMP", op, start))
            value_mode = True
            i += len(op)
        elif char == '"':
            i += 1
            chars: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(text[i])
                i += 1
            if i >= n:
                raise KqlError('unterminated quoted phrase: add the closing "', position=start)
            i += 1
            value = "".join(chars)
            tokens.append(Token("QUOTED", value, start, (value,)))
            value_mode = False
        else:
            parts: list[str] = []
            current: list[str] = []
            raw_start = i
            while i < n:
                c = text[i]
                if c.isspace() or c in '()"' or (c in ":<>" and not value_mode):
                    break
                if c == "\\" and i + 1 < n:
                    current.append(text[i + 1])
                    i += 2
                    continue
                if c == "*":
                    parts.append("".join(current))
                    current = []
                else:
                    current.append(c)
                i += 1
            parts.append("".join(current))
            raw = text[raw_start:i]
            word = "*".join(parts)
            keyword = raw.lower()
            if not value_mode and keyword in ("and", "or", "not"):
                tokens.append(Token(keyword.upper(), raw, start))  # type: ignore[arg-type]
            else:
                tokens.append(Token("WORD", word, start, tuple(parts)))
            value_mode = False
    tokens.append(Token("END", "", n + 1))
    return tokens


# ---- tree ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    text: str
    parts: tuple[str, ...]  # more than one: a wildcard pattern
    quoted: bool
    position: int

    @property
    def wildcard(self) -> bool:
        return len(self.parts) > 1

    @property
    def shown(self) -> str:
        return json.dumps(self.text) if self.quoted else self.text


@dataclass(frozen=True)
class And:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any
    position: int


@dataclass(frozen=True)
class FieldMatch:
    """`field:<values>`; `values` is a Value or an And/Or/Not of Values."""

    name: str
    values: Any
    position: int


@dataclass(frozen=True)
class FieldRange:
    name: str
    op: str  # gt gte lt lte
    value: Value
    position: int


@dataclass(frozen=True)
class FreeText:
    values: tuple[Value, ...]
    position: int


COMPARISON = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
SYMBOL = {v: k for k, v in COMPARISON.items()}


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> Any:
        if self.token.kind == "END":
            return And(())
        tree = self.or_()
        if self.token.kind == "RPAREN":
            raise KqlError("')' without a matching '('", position=self.token.position)
        if self.token.kind != "END":  # pragma: no cover - every other token starts a term
            raise KqlError(f"unexpected {self.token.text!r}", position=self.token.position)
        return tree

    def or_(self) -> Any:
        items = [self.and_()]
        while self.token.kind == "OR":
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Any:
        items = [self.not_()]
        while self.token.kind in ("AND", "WORD", "QUOTED", "LPAREN", "NOT"):
            if self.token.kind == "AND":
                self.take()
            items.append(self.not_())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_(self) -> Any:
        if self.token.kind == "NOT":
            position = self.take().position
            return Not(self.not_(), position)
        return self.primary()

    def primary(self) -> Any:
        token = self.token
        if token.kind == "LPAREN":
            self.take()
            if self.token.kind == "RPAREN":
                raise KqlError("empty parentheses", position=token.position)
            inner = self.or_()
            if self.token.kind != "RPAREN":
                raise KqlError(f"'(' at position {token.position} is never closed",
                               position=self.token.position)  # fmt: skip
            self.take()
            return inner
        if token.kind == "WORD" and self.peek().kind == "COLON":
            if token.text.startswith("-") and len(token.parts) == 1 and len(token.text) > 1:
                # `-field:value`, the console's earlier form of `not field:value`
                name = token.text[1:]
                self.tokens[self.i] = Token("WORD", name, token.position + 1, (name,))
                return Not(self.field_expression(), token.position)
            return self.field_expression()
        if token.kind == "WORD" and self.peek().kind == "CMP":
            name = self.take()
            return self.range_(name)
        if token.kind == "QUOTED" and self.peek().kind in ("COLON", "CMP"):
            raise KqlError("a field name is written without quotes", position=token.position)
        if token.kind in ("WORD", "QUOTED"):
            values = []
            while self.token.kind in ("WORD", "QUOTED") and self.peek().kind not in (
                "COLON",
                "CMP",
            ):
                values.append(self.value())
            return FreeText(tuple(values), token.position)
        raise self.expected("a field, a value, 'not' or '('")

    def expected(self, what: str) -> KqlError:
        token = self.token
        if token.kind == "END":
            return KqlError(f"the query ends where {what} was expected", position=token.position)
        if token.kind == "RPAREN":
            return KqlError("')' without a matching '('", position=token.position)
        return KqlError(f"expected {what}, found {token.text!r}", position=token.position)

    def value(self) -> Value:
        token = self.take()
        return Value(token.text, token.parts, token.kind == "QUOTED", token.position)

    def field_name(self) -> Token:
        name = self.take()
        if len(name.parts) > 1:
            raise KqlError("a field name cannot hold '*'", position=name.position, field=name.text)
        return name

    def field_expression(self) -> Any:
        name = self.field_name()
        self.take()  # ':'
        if self.token.kind == "CMP":
            return self.range_(name)
        if self.token.kind == "LPAREN":
            opening = self.take()
            if self.token.kind == "RPAREN":
                raise KqlError(f"{name.text}: empty parentheses", position=opening.position,
                               field=name.text)  # fmt: skip
            values = self.values_or(name)
            if self.token.kind != "RPAREN":
                raise KqlError(f"{name.text}: '(' at position {opening.position} is never closed",
                               position=self.token.position, field=name.text)  # fmt: skip
            self.take()
            return FieldMatch(name.text, values, name.position)
        if self.token.kind in ("WORD", "QUOTED"):
            return FieldMatch(name.text, self.value(), name.position)
        raise KqlError(
            f"{name.text}: a value must follow ':' ({name.text}:* means it has any value)",
            position=self.token.position, field=name.text,
        )  # fmt: skip

    def range_(self, name: Token) -> FieldRange:
        if len(name.parts) > 1:
            raise KqlError("a field name cannot hold '*'", position=name.position, field=name.text)
        op = self.take()
        if self.token.kind not in ("WORD", "QUOTED"):
            raise KqlError(f"{name.text} {op.text}: a value must follow {op.text!r}",
                           position=self.token.position, field=name.text)  # fmt: skip
        return FieldRange(name.text, COMPARISON[op.text], self.value(), name.position)

    # values inside field:( … ): adjacent values are alternatives, as free-text words are
    def values_or(self, name: Token) -> Any:
        items = [self.values_and(name)]
        while self.token.kind == "OR" or (self.token.kind in ("WORD", "QUOTED", "LPAREN", "NOT")):
            if self.token.kind == "OR":
                self.take()
            items.append(self.values_and(name))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def values_and(self, name: Token) -> Any:
        items = [self.values_not(name)]
        while self.token.kind == "AND":
            self.take()
            items.append(self.values_not(name))
        return items[0] if len(items) == 1 else And(tuple(items))

    def values_not(self, name: Token) -> Any:
        if self.token.kind == "NOT":
            position = self.take().position
            return Not(self.values_not(name), position)
        if self.token.kind == "LPAREN":
            opening = self.take()
            inner = self.values_or(name)
            if self.token.kind != "RPAREN":
                raise KqlError(f"'(' at position {opening.position} is never closed",
                               position=self.token.position, field=name.text)  # fmt: skip
            self.take()
            return inner
        if self.token.kind in ("WORD", "QUOTED"):
            if self.peek().kind in ("COLON", "CMP"):
                raise KqlError(f"{name.text}:( … ) holds values of {name.text}, not another field",
                               position=self.token.position, field=name.text)  # fmt: skip
            return self.value()
        raise KqlError(f"{name.text}: expected a value", position=self.token.position,
                       field=name.text)  # fmt: skip


def parse(text: str) -> Any:
    """The query's tree (And(()) for an empty query)."""
    return _Parser(tokenize(text)).parse()


# ---- conditions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Lit:
    """One Query condition; `position` and `source` say where it came from (for errors)."""

    key: str
    op: str
    value: Any
    position: int = field(default=0, compare=False)
    source: str = field(default="", compare=False)

    @property
    def ident(self) -> tuple[str, str, str]:
        return self.key, self.op, json.dumps(self.value, sort_keys=True)

    def condition(self) -> dict[str, Any]:
        return {"k": self.key, "v": self.value, "o": self.op}


NEGATED = {
    "eq": "not", "not": "eq", "in": "not_in", "not_in": "in",
    "contain": "not_contain", "not_contain": "contain",
    "contain_in": "not_contain_in", "not_contain_in": "contain_in",
}  # fmt: skip
COMPLEMENT = {"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}


@dataclass
class _Compiler:
    target: Target
    zone: ZoneInfo
    now: datetime

    # -- fields

    def resolve(self, name: str, position: int) -> tuple[str, str]:
        found = self.target.fields.kind(name)
        if found is None or any(not part for part in name.split(".")):
            raise KqlError(
                f"unknown field {name!r}; {self.target.name} have: "
                + ", ".join(field_names(self.target)),
                position=position or None, field=name,
            )  # fmt: skip
        kind, _ = found
        if kind == "object" or (kind == "flattened" and "." not in name):
            hint = (
                f"{name}.<key>"
                if kind == "flattened"
                else ", ".join(n for n in field_names(self.target) if n.startswith(name + "."))
            )
            raise KqlError(f"{name} is an object: name one of its fields ({hint})",
                           position=position or None, field=name)  # fmt: skip
        return found

    # -- tree -> and/or/not of Lits

    def node(self, tree: Any) -> Any:
        if isinstance(tree, And):
            return And(tuple(self.node(item) for item in tree.items))
        if isinstance(tree, Or):
            return Or(tuple(self.node(item) for item in tree.items))
        if isinstance(tree, Not):
            return Not(self.node(tree.item), tree.position)
        if isinstance(tree, FieldMatch):
            kind, _ = self.resolve(tree.name, tree.position)
            return self.values(tree.name, kind, tree.values, tree.position)
        if isinstance(tree, FieldRange):
            kind, _ = self.resolve(tree.name, tree.position)
            return self.range_(tree.name, kind, tree.op, tree.value, tree.position)
        if isinstance(tree, FreeText):
            return Or(tuple(self.free_text(value) for value in tree.values))
        raise TypeError(f"not a query node: {tree!r}")  # pragma: no cover

    def values(self, name: str, kind: str, values: Any, start: int) -> Any:
        if isinstance(values, And):
            return And(tuple(self.values(name, kind, v, start) for v in values.items))
        if isinstance(values, Or):
            return Or(tuple(self.values(name, kind, v, start) for v in values.items))
        if isinstance(values, Not):
            return Not(self.values(name, kind, values.item, start), values.position)
        return self.match(name, kind, values, start)

    def match(self, name: str, kind: str, value: Value, start: int) -> Any:
        """`name:value` for one value."""
        at = start  # conditions point at their field; value errors at the value
        source = f"{name}:{value.shown}"

        def lit(op: str, v: Any) -> Lit:
            return Lit(name, op, v, at, source)

        if not value.quoted and value.parts == ("", ""):
            return lit("exists", True)
        if name in self.target.enums:
            return self.enum_values(name, value, lit)
        if kind == "date":
            return self.date_match(name, value, lit)
        if kind in NUMBERS:
            return lit("eq", self.number(name, value))
        if kind == "boolean":
            return lit("eq", self.boolean(name, value))
        if kind == "text":
            return self.substring(name, value, lit)
        if value.wildcard:
            return self.pattern(name, value, lit, anchored=True)
        return lit("eq", value.text)

    def enum_values(self, name: str, value: Value, lit: Any) -> Lit:
        members = self.target.enums[name]
        if value.wildcard:
            pattern = re.compile(".*".join(re.escape(p) for p in value.parts), re.I | re.S)
            chosen = [m for m in members if pattern.fullmatch(m)]
            if not chosen:
                raise KqlError(
                    f"{name}: no value matches {value.text!r}; values: " + ", ".join(members),
                    position=value.position,
                    field=name,
                )
            return lit("in", chosen) if len(chosen) > 1 else lit("eq", chosen[0])
        return lit("eq", self.member(name, value))

    def member(self, name: str, value: Value) -> str:
        wanted = value.text.strip().upper()
        if wanted not in self.target.enums[name]:
            raise KqlError(
                f"{name}: {value.text!r} is not one of "
                + ", ".join(self.target.enums[name]) + " (any case)",
                position=value.position, field=name,
            )  # fmt: skip
        return wanted

    def number(self, name: str, value: Value) -> int | float:
        try:
            return int(value.text)
        except ValueError:
            pass
        try:
            number = float(value.text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise KqlError(f"{name}: {value.text!r} is not a number",
                           position=value.position or None, field=name)  # fmt: skip
        return number

    def boolean(self, name: str, value: Value) -> bool:
        text = value.text.strip().lower()
        if text not in ("true", "false"):
            raise KqlError(f"{name}: {value.text!r} is not true or false",
                           position=value.position or None, field=name)  # fmt: skip
        return text == "true"

    def substring(self, name: str, value: Value, lit: Any) -> Lit:
        """Text fields match anywhere: `*` at either end changes nothing."""
        parts = list(value.parts)
        while len(parts) > 1 and parts[0] == "":
            parts.pop(0)
        while len(parts) > 1 and parts[-1] == "":
            parts.pop()
        if len(parts) == 1:
            if not parts[0]:
                raise KqlError(f"{name}: an empty value matches everything; use {name}:*",
                               position=value.position, field=name)  # fmt: skip
            return lit("contain", parts[0])
        return self.pattern(name, Value(value.text, tuple(parts), False, value.position), lit,
                            anchored=False)  # fmt: skip

    def pattern(self, name: str, value: Value, lit: Any, *, anchored: bool) -> Lit:
        parts = value.parts
        if anchored and len(parts) == 3 and parts[0] == parts[2] == "" and parts[1]:
            return lit("contain", parts[1])
        if not self.target.regex:
            raise KqlError(
                f"{name}: {self.target.name} take only *text* wildcards (a substring)",
                position=value.position, field=name,
            )  # fmt: skip
        body = ".*".join(re.escape(p) for p in parts)
        return lit("regex", f"^{body}$" if anchored else body)

    # -- dates

    def instant(self, name: str, value: Value) -> tuple[datetime, timedelta | None]:
        """An ISO date or time in the query's time zone; a date alone also gives its span."""
        text = value.text.strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                day = date.fromisoformat(text)
                return datetime(day.year, day.month, day.day, tzinfo=self.zone), timedelta(days=1)
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise KqlError(
                f"{name}: {value.text!r} is not a date: use ISO-8601 (2024-05-01, "
                "2024-05-01T10:30, with Z or an offset for other zones) or now-1h",
                position=value.position, field=name,
            ) from None  # fmt: skip
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=self.zone)
        return parsed, None

    def date_lit(self, name: str, op: str, value: Value, lit: Any) -> Lit:
        """`op` (gt…) against a date value: ISO or now-math."""
        text = value.text.strip()
        if text.lower().startswith("now"):
            try:
                moment = parse_timediff(text.lower(), self.now, name)
            except QueryError:
                raise KqlError(
                    f"{name}: {value.text!r}: use now, now-15m, now-1h, now-7d or now/d-1d "
                    "(units s, m, h, d, w)", position=value.position, field=name,
                ) from None  # fmt: skip
            if self.target.date_operators:
                return lit(f"timediff_{op}", text.lower())
            return lit(op, format_timestamp(moment))
        moment, _ = self.instant(name, value)
        shown = format_timestamp(moment)
        return lit(f"datetime_{op}" if self.target.date_operators else op, shown)

    def date_match(self, name: str, value: Value, lit: Any) -> Any:
        if value.wildcard:
            raise KqlError(f"{name}: a date takes no wildcard; use a range ({name} >= now-1d)",
                           position=value.position, field=name)  # fmt: skip
        if value.text.strip().lower().startswith("now"):
            raise KqlError(f"{name}: use a range with now ({name} >= {value.text})",
                           position=value.position, field=name)  # fmt: skip
        moment, span = self.instant(name, value)
        prefix = "datetime_" if self.target.date_operators else ""
        if span is None:
            return lit("eq", format_timestamp(moment))
        end = (moment.replace(tzinfo=None) + span).replace(tzinfo=self.zone)
        return And((lit(prefix + "gte", format_timestamp(moment)),
                    lit(prefix + "lt", format_timestamp(end))))  # fmt: skip

    # -- ranges

    def range_(self, name: str, kind: str, op: str, value: Value, position: int) -> Any:
        source = f"{name} {SYMBOL[op]} {value.shown}"

        def lit(o: str, v: Any) -> Lit:
            return Lit(name, o, v, position, source)

        if value.wildcard:
            raise KqlError(f"{source}: a range takes no wildcard", position=value.position,
                           field=name)  # fmt: skip
        if name in self.target.enums:
            if name not in self.target.ordered:
                raise KqlError(f"{name} has no order; list values: {name}:(a or b)",
                               position=position, field=name)  # fmt: skip
            members = self.target.enums[name]
            rank = members.index(self.member(name, value))  # 0 is the highest
            chosen = {"gte": members[: rank + 1], "gt": members[:rank],
                      "lte": members[rank:], "lt": members[rank + 1 :]}[op]  # fmt: skip
            if not chosen:
                raise KqlError(
                    f"{source}: no {name} is {'above' if op == 'gt' else 'below'} {members[rank]}",
                    position=value.position,
                    field=name,
                )
            return lit("in", list(chosen)) if len(chosen) > 1 else lit("eq", chosen[0])
        if kind == "date":
            return self.date_lit(name, op, value, lit)
        if kind in NUMBERS:
            return lit(op, self.number(name, value))
        if kind == "boolean":
            raise KqlError(f"{name} is true or false: no range", position=position, field=name)
        return lit(op, value.text)

    # -- free text

    def free_text(self, value: Value) -> Any:
        """One word or phrase over every text, keyword and flattened field."""
        source = value.shown
        at = value.position
        alternatives: list[Any] = []

        def walk(properties: dict[str, Any], prefix: str) -> None:
            for name, spec in properties.items():
                path = prefix + name
                if "properties" in spec:
                    walk(spec["properties"], path + ".")
                    continue
                kind = spec.get("type")
                if spec.get("index") is False or kind not in ("keyword", "text", "flattened"):
                    continue

                def lit(op: str, v: Any, path: str = path) -> Lit:
                    return Lit(path, op, v, at, source)

                if path in self.target.enums:
                    members = self.target.enums[path]
                    if value.wildcard:
                        pattern = ".*".join(re.escape(p) for p in value.parts)
                        chosen = [m for m in members if re.fullmatch(pattern, m, re.I | re.S)]
                        if chosen:
                            alternatives.append(lit("in", chosen))
                    elif value.text.strip().upper() in members:
                        alternatives.append(lit("eq", value.text.strip().upper()))
                elif kind == "text":
                    alternatives.append(self.substring(path, value, lit))
                elif kind == "flattened":
                    # Not raw_data: it is the sender's whole payload, which for a batch
                    # (an Alertmanager group, a list) holds its other events' values too.
                    if not value.wildcard and path not in FREE_TEXT_SKIPS:
                        alternatives.append(lit("eq", value.text))
                elif value.wildcard:
                    if value.parts[0] == value.parts[-1] == "" and len(value.parts) == 3:
                        alternatives.append(lit("contain", value.parts[1]))
                    elif self.target.regex:
                        alternatives.append(self.pattern(path, value, lit, anchored=True))
                else:
                    alternatives.append(lit("eq", value.text))

        if not value.text.strip("* "):
            raise KqlError("a free-text value needs a letter or digit", position=at)
        walk(self.target.fields.properties, "")
        return Or(tuple(alternatives))

    # -- filters (pills)

    def pill(self, index: int, pill: KqlFilter) -> Any:
        """A pill: `field` equal (exactly) to `value`, or not; a null value: field missing."""
        source = f"filter {index + 1} ({pill.field})"
        kind, _ = self.resolve(pill.field, 0) if pill.field else ("", "")
        if not pill.field:
            raise KqlError(f"{source}: no field")

        def lit(op: str, v: Any) -> Lit:
            return Lit(pill.field, op, v, 0, source)

        value = pill.value
        if value is None or (value == "" and kind == "date"):
            node: Any = lit("exists", False)
        elif isinstance(value, (dict, list)):
            raise KqlError(f"{source}: a filter takes one value, not {type(value).__name__}",
                           field=pill.field)  # fmt: skip
        elif kind == "date":
            node = lit("datetime_gte" if self.target.date_operators else "gte", str(value))
            node = And((node, lit("datetime_lte" if self.target.date_operators else "lte",
                                  str(value))))  # fmt: skip
        elif kind in NUMBERS:
            node = lit("eq", self.number(pill.field, Value(str(value), (str(value),), True, 0)))
        elif kind == "boolean":
            node = lit("eq", self.boolean(pill.field, Value(str(value), (str(value),), True, 0)))
        else:
            node = lit("eq", value)
        return Not(node, 0) if pill.negate else node

    # -- negation

    def nnf(self, node: Any, negate: bool = False) -> Any:
        """Negations pushed down to the conditions (De Morgan)."""
        if isinstance(node, Not):
            return self.nnf(node.item, not negate)
        if isinstance(node, And):
            items = tuple(self.nnf(i, negate) for i in node.items)
            return Or(items) if negate else And(items)
        if isinstance(node, Or):
            items = tuple(self.nnf(i, negate) for i in node.items)
            return And(items) if negate else Or(items)
        return self.negated(node) if negate else node

    def negated(self, lit: Lit) -> Any:
        if lit.op == "exists":
            return Lit(lit.key, "exists", not lit.value, lit.position, lit.source)
        if lit.op in NEGATED:
            return Lit(lit.key, NEGATED[lit.op], lit.value, lit.position, lit.source)
        prefix, _, comparison = lit.op.rpartition("_")
        if comparison in COMPLEMENT:
            op = (prefix + "_" if prefix else "") + COMPLEMENT[comparison]
            flipped = Lit(lit.key, op, lit.value, lit.position, lit.source)
            if lit.key in self.target.always_present:
                return flipped
            # `not x > 5` also holds where x is missing, as Kibana's `not` does.
            return Or((flipped, Lit(lit.key, "exists", False, lit.position, lit.source)))
        raise KqlError(
            f"'not' cannot apply to the wildcard pattern {lit.source}: the Query has no negated "
            "regex; use a *substring* wildcard (not field:*text*) or list the values",
            position=lit.position, field=lit.key,
        )  # fmt: skip


# ---- normal form ---------------------------------------------------------------------------

Clause = tuple[Lit, ...]


def _cnf(node: Any) -> list[Clause]:
    if isinstance(node, Lit):
        return [(node,)]
    if isinstance(node, And):
        return [clause for item in node.items for clause in _cnf(item)]
    if isinstance(node, Or):
        clauses: list[Clause] = [()]
        for item in node.items:
            clauses = [a + b for a in clauses for b in _cnf(item)]
            if len(clauses) > MAX_CLAUSES:
                first = _first_position(node)
                raise KqlError(
                    "too many combinations of 'or' over 'and' groups; simplify the query",
                    position=first,
                )
        return clauses
    raise TypeError(f"not a normal-form node: {node!r}")  # pragma: no cover


def _first_position(node: Any) -> int | None:
    if isinstance(node, Lit):
        return node.position or None
    if isinstance(node, (And, Or)):
        found = [p for p in (_first_position(i) for i in node.items) if p]
        return min(found) if found else None
    return None


MERGED = {"eq": "in", "in": "in", "contain": "contain_in", "contain_in": "contain_in",
          "regex": "regex_in", "regex_in": "regex_in"}  # fmt: skip


def _fold(
    lits: Iterable[Lit], groups: dict[str, str], always: str, target: Target, earliest: bool
) -> list[Lit]:
    """Conditions on one field whose operators share a group folded into one list condition
    of that group (`groups`; `always` may fold even where the target has no list operators
    but `in`/`not_in`). `earliest`: the folded condition points at the earliest position."""
    out: list[Lit] = []
    for lit in lits:
        group = groups.get(lit.op)
        if group is None or (group != always and not target.list_operators):
            out.append(lit)
            continue
        values = lit.value if isinstance(lit.value, list) else [lit.value]
        for i, other in enumerate(out):
            if other.key == lit.key and groups.get(other.op) == group:
                known = other.value if isinstance(other.value, list) else [other.value]
                merged = known + [v for v in values if v not in known]
                position = other.position
                if earliest:
                    position = min(other.position, lit.position) or other.position or lit.position
                out[i] = Lit(other.key, group, merged, position, other.source)
                break
        else:
            out.append(lit)
    return out


def _merge(clause: Clause, target: Target) -> Clause:
    """An OR of conditions with values of one field folded into one list condition."""
    firsts: dict[tuple[str, str, str], Lit] = {}
    for lit in clause:
        firsts.setdefault(lit.ident, lit)  # a condition said twice counts once
    out = _fold(firsts.values(), MERGED, "in", target, earliest=True)
    return tuple(
        Lit(lit.key, lit.op.removesuffix("_in") if lit.op in ("contain_in", "regex_in") else "eq",
            lit.value[0], lit.position, lit.source)
        if lit.op in ("in", "contain_in", "regex_in") and len(lit.value) == 1 else lit
        for lit in out
    )  # fmt: skip


def _simplify(clauses: list[Clause], target: Target) -> list[Clause]:
    merged = [_merge(c, target) for c in clauses]
    unique: dict[frozenset[tuple[str, str, str]], Clause] = {}
    for clause in merged:
        unique.setdefault(frozenset(lit.ident for lit in clause), clause)
    keys = list(unique)
    # absorption: (a) and (a or b) is (a)
    kept = [k for k in keys if not any(o < k for o in keys)]
    return [unique[k] for k in kept]


NEGATIONS_MERGED = {
    "not": "not_in",
    "not_in": "not_in",
    "not_contain": "not_contain_in",
    "not_contain_in": "not_contain_in",
}


def _merge_negations(lits: list[Lit], target: Target) -> list[Lit]:
    """ANDed negations of one field as one condition: `not a and not b` is `not_in [a, b]`."""
    return _fold(lits, NEGATIONS_MERGED, "not_in", target, earliest=False)


def _describe(clause: Clause) -> str:
    sources = list(dict.fromkeys(lit.source for lit in clause))
    shown = " or ".join(sources[:4]) + (" or …" if len(sources) > 4 else "")
    return f"({shown})"


# ---- entry point ---------------------------------------------------------------------------


def compile_kql(
    text: str,
    *,
    target: Target = EVENTS,
    time_zone: str = "UTC",
    now: datetime | None = None,
    filters: Sequence[KqlFilter] = (),
) -> dict[str, list[dict[str, Any]]]:
    """A KQL query (plus pills) -> `{"filter": [...], "filter_or": [...]}` of a Query.

    Raises KqlError naming the position or the field of the first problem.
    """
    try:
        zone = ZoneInfo(time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise KqlError(f"unknown time zone {time_zone!r}") from None
    moment = now or datetime.now(UTC)
    compiler = _Compiler(target, zone, moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    tree = compiler.node(parse(text or ""))
    pills = [compiler.pill(i, p) for i, p in enumerate(filters) if not p.disabled]
    clauses = _simplify(_cnf(compiler.nnf(And((tree, *pills)))), target)
    if any(not clause for clause in clauses):  # pragma: no cover - free text always has fields
        raise KqlError("this query can match nothing")
    single = _merge_negations([c[0] for c in clauses if len(c) == 1], target)
    groups = [c for c in clauses if len(c) > 1]
    if len(groups) > 1:
        first, second = sorted(groups, key=lambda c: min(lit.position or 10**9 for lit in c))[:2]
        position = min(lit.position or 10**9 for lit in second)
        raise KqlError(
            f"two OR groups over different fields, {_describe(first)} and {_describe(second)}: "
            "the API's Query ANDs plain conditions with ONE OR group. Keep one group, or OR the "
            "values of one field: field:(a or b)",
            position=None if position == 10**9 else position,
        )  # fmt: skip
    return {
        "filter": [lit.condition() for lit in single],
        "filter_or": [lit.condition() for lit in groups[0]] if groups else [],
    }
