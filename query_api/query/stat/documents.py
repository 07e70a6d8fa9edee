"""Events read as documents: sorted here exactly as Elasticsearch sorts them, and turned
into pipeline rows (their stored fields, dates in EventInfo form).

A sort over events runs here when it follows a `limit` (Elasticsearch can only sort first);
it must order as `translate_sort` does, so that both paths give one answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from query_api.query.stat.limits import INVALID
from query_api.query.stat.values import date_fields, format_stored_date
from query_api.query.translate import EVENTS, Searchable
from schemas.index import FieldKind, FieldMap
from schemas.query import QueryError, SortKey


def is_object(kind: FieldKind, path: str) -> bool:
    """Whether a field is a whole object, which can be neither grouped nor compared."""
    return kind == "object" or (kind == "flattened" and "." not in path)


def sort_hits(
    hits: list[dict[str, Any]], keys: Sequence[SortKey], searchable: Searchable = EVENTS
) -> list[dict[str, Any]]:
    """Events ordered exactly as Elasticsearch orders them for `translate_sort(keys)`.

    Each key compares the field's doc values (the smallest ascending, the largest
    descending), missing last both ways; ties by the id (event_id) ascending.
    """
    ordered = sorted(hits, key=lambda hit: _doc_values(hit, searchable.id_field)[:1])
    for name, kind, desc in reversed(doc_sort_fields(keys, searchable.fields)):
        present, absent = [], []
        for hit in ordered:
            values = _doc_values(hit, name)
            if kind == "date":
                values = [int(float(v)) for v in values]
            if values:
                present.append(((max if desc else min)(values), hit))
            else:
                absent.append(hit)
        present.sort(key=lambda pair: pair[0], reverse=desc)
        ordered = [hit for _, hit in present] + absent
    return ordered


def _doc_values(hit: dict[str, Any], field: str) -> list[Any]:
    return hit.get("fields", {}).get(field, [])


def doc_sort_fields(
    keys: Sequence[SortKey], mapped: FieldMap = EVENTS.fields
) -> list[tuple[str, FieldKind, bool]]:
    """(exact field, kind, desc) of each sort key over events, as `translate_sort` reads them."""
    fields = []
    for key in keys:
        found = mapped.kind(key.key)
        if found is None:
            continue  # no event has it: it orders nothing
        if is_object(found[0], key.key):
            raise QueryError(INVALID, f"sort: {key.key} is an object")
        fields.append((found[1], found[0], key.desc))
    return fields


def document_row(source: dict[str, Any], fields: FieldMap = EVENTS.fields) -> dict[str, Any]:
    """An event as a pipeline row: its stored fields, dates formatted as in EventInfo."""
    row = dict(source)
    for name in date_fields(fields):
        if row.get(name) is not None:
            row[name] = format_stored_date(row[name])
    return row
