"""A group key's `date_format` (SPEC §6): the named formats and the calendar bucket a
strftime pattern needs.

A pattern is bucketed in Elasticsearch at the finest calendar interval it shows (`%H`: hours),
then buckets that format alike are merged.
"""

from __future__ import annotations

import re
from typing import Literal

from query_api.query.stat.limits import INVALID
from schemas.query import QueryError

Granularity = Literal["year", "month", "day", "hour", "minute", "second", "instant"]
NAMED_FORMATS: dict[str, tuple[str, str]] = {  # name -> (Elasticsearch format, strftime)
    "year": ("yyyy", "%Y"),
    "month": ("yyyy-MM", "%Y-%m"),
    "day": ("yyyy-MM-dd", "%Y-%m-%d"),
}
_FINENESS: tuple[Granularity | None, ...] = (
    None, "year", "month", "day", "hour", "minute", "second", "instant",
)  # fmt: skip
_DIRECTIVES: dict[str, Granularity | None] = {
    **dict.fromkeys("YyC", "year"),
    **dict.fromkeys("mbBh", "month"),
    **dict.fromkeys("djaAwuUWVeDFxgG", "day"),  # G, g: the ISO year depends on the day
    **dict.fromkeys("HIpPkl", "hour"),
    **dict.fromkeys("MR", "minute"),
    **dict.fromkeys("SXcTr", "second"),  # not %s: glibc reads it in local time
    "f": "instant",
    **dict.fromkeys("zZ%nt", None),
}
_DIRECTIVE = re.compile(r"%[-_0^#]?[EO]?(.)", re.DOTALL)


def pattern_granularity(pattern: str) -> Granularity:
    """The coarsest bucket that keeps every instant of a bucket formatting alike."""
    finest = 0
    for directive in _DIRECTIVE.findall(pattern):
        if directive not in _DIRECTIVES:
            raise QueryError(INVALID, f"date_format {pattern!r}: unknown directive %{directive}")
        finest = max(finest, _FINENESS.index(_DIRECTIVES[directive]))
    return _FINENESS[finest] or "year"
