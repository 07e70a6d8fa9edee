"""Python regular expressions as Lucene regular expressions matching the same values, purely.

Lucene's regex language (Elasticsearch's `regexp` query and terms `include`) is always
anchored, has no escapes like `\\d` and folds case only for ASCII with
`case_insensitive`. `lucene_regex` reads a pattern with Python's own parser and writes
an unanchored Lucene pattern that matches what `re.search(pattern, value, re.I | re.S)`
matches: character classes and non-ASCII letters are case-folded here (`[Éé]`,
`[A-Za-z]`), `\\d \\w \\s` are ASCII classes, `.` matches a newline too. Constructs
Lucene lacks (backreferences, lookaround, `\\b`, inline flags other than i/s/x,
possessive or atomic groups) are refused with ERROR_INVALID_ARGUMENT.
"""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from schemas.query import QueryError

INVALID = "ERROR_INVALID_ARGUMENT"
MAX_REPEAT = 1_000


def case_variants(char: str) -> set[str]:
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


def folded_char(char: str, *, fold_ascii: bool) -> str:
    variants = case_variants(char) if fold_ascii or not char.isascii() else {char}
    return _escape_char(char) if len(variants) == 1 else _class({ord(v) for v in variants})


def fold_literal(text: str) -> str:
    """A Lucene regex matching `text` exactly, in any letter case (`ab` -> `[aA][bB]`)."""
    return "".join(folded_char(c, fold_ascii=True) for c in text) or "()"


def group(alternatives: list[str]) -> str:
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
            return group([emitter.unanchored(list(alt)) for alt in items[0][1][1]])
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
            return folded_char(chr(av), fold_ascii=self.fold_ascii)
        if op is sre.NOT_LITERAL:
            return _class({ord(v) for v in case_variants(chr(av))}, negate=True)
        if op is sre.ANY:
            return "."
        if op is sre.IN:
            return self.char_class(av)
        if op is sre.BRANCH:
            return group([self.sequence(alt) for alt in av[1]])
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
                codepoints |= {ord(v) for v in case_variants(chr(av))}
            elif op is sre.RANGE:
                low, high = av
                codepoints |= set(range(low, high + 1))
                if high - low <= _FOLD_RANGE_LIMIT:
                    for cp in range(low, high + 1):
                        codepoints |= {ord(v) for v in case_variants(chr(cp))}
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
