"""Event stat (SPEC §6) planned as exact Elasticsearch requests, the rest finished in Python.

Pure: no I/O here (`query_api.services.events.run_stat` does the requests). Results are exact,
never top-N approximations. The pipeline runs as MongoDB runs it, any stages in
any order; `plan_stat` gives Elasticsearch the longest prefix it can run exactly:

1. The *window*: an optional leading `sort` (as list sorts: missing last, ties by
   event_id; without one, the events' own order: created_at, then event_id) and the
   `skip`/`limit` stages right after it, folded into one offset and limit over the
   matching events.
2. Then, over the events of the window:
   - `group`: over every match, a composite aggregation paged to completion (or,
     when an operator needs every event, `push`/`merge_objects`, or the order a sort
     gave them, `first`/`last` after a sort, a point-in-time scan of the match); over
     a smaller window, a top-N search (one request up to Elasticsearch's 10,000
     window, a point-in-time scan past it) grouped here;
   - `count`: a count request, cut to the window;
   - anything else (a `sort` after a `limit`, `project`, `unwind`, or nothing):
     the window's events are fetched (point-in-time scan, capped) and the stages
     run here, a sort over events still ordering as Elasticsearch does.
3. Every later stage runs in `rows`, over rows, exactly.
A `group` → `sort` → `limit` pipeline is thus one request per composite page.

What a group over events sees of a field, so that every path and the list
filters agree:
- Keys, `max`, `min`, `add_to_set`, `sum` and `average` read a field's *indexed*
  values: a keyword or text field as its string (text up to 8191 characters),
  a date as its instant (`2024-05-01T00:00:00.000Z`), a leaf of
  `additional_info`/`raw_data` as a string (numbers as written, booleans
  `true`/`false`); a list gives each distinct element. An event with several
  values of a key is in one group per value; one without a value is in the
  `null` group. Whole objects (`resource`, `additional_info`, ...) cannot be
  grouped or compared: ERROR_INVALID_ARGUMENT.
- `sum`, `average` and `add_to_set` list a group's distinct values in a terms
  aggregation (`max`/`min` those that may read as numbers, and the first other text);
  when a group has more than MAX_SET_VALUES of them the stage is answered by the scan
  instead (as `push` is), exactly, up to MAX_SCAN_DOCUMENTS.
- `sum`/`average` add the values that read as numbers (`"5"`, `"1.5"`) and skip
  the rest; `sum` is an int when every value is, 0 when none; `average` is a
  float, `null` when none. `max`/`min` put the values that read as numbers first, by
  value (MongoDB orders numbers before strings), then text by code point (dates by
  instant); the value comes back as read.
- `first`, `last`, `push`, `merge_objects` read the field as stored in the
  event (dates formatted as above), in the order the events reach the group: a
  leading sort's, else created_at order, ties by event_id (SPEC §6);
  `push` skips events without the field; `merge_objects` merges the objects,
  later events winning.
- date_format `year`/`month`/`day` or any strftime pattern, in UTC or the key's
  `time_zone` (an IANA name: buckets start at that zone's midnights); a pattern
  is bucketed at the finest calendar interval it shows, then buckets that
  format alike are merged here.
A group or count over no events gives no row. Events that reach a `project` or
`unwind` become rows of their stored fields (dates formatted as above), and so

The modules, in the order a stat runs through them:
- `plan`: the query checked and split (`plan_stat`), before any I/O; `dates` the
  date_format buckets; `limits` the caps and error codes.
- `aggregate`: a group as composite aggregations; `fetch`: a group or the documents
  over fetched events; `groups`: the table both feed; `distinct`: the distinct values.
- `documents`: events sorted as Elasticsearch sorts them, events as rows; `values`: how
  stored fields and dates read.
- `rows`: the stages over rows (group, count, sort, project, unwind, skip, limit) and paging.
"""

from __future__ import annotations

from query_api.query.stat.aggregate import (
    SetOverflow,
    composite_aggregations,
    groups_from_aggregations,
)
from query_api.query.stat.dates import pattern_granularity
from query_api.query.stat.distinct import distinct_aggregations, distinct_from_aggregations
from query_api.query.stat.documents import document_row, sort_hits
from query_api.query.stat.fetch import fetch_request, groups_from_hits
from query_api.query.stat.groups import GroupTable
from query_api.query.stat.limits import (
    COMPOSITE_PAGE_SIZE,
    MAX_GROUPS,
    MAX_SCAN_DOCUMENTS,
    MAX_SET_VALUES,
    SCAN_PAGE_SIZE,
    TOO_LARGE,
    too_large,
)
from query_api.query.stat.plan import GroupPlan, KeyPlan, StatPlan, Window, plan_group, plan_stat
from query_api.query.stat.rows import Rows, page_result, read_number, run_stages

__all__ = [
    "COMPOSITE_PAGE_SIZE",
    "MAX_GROUPS",
    "MAX_SCAN_DOCUMENTS",
    "MAX_SET_VALUES",
    "SCAN_PAGE_SIZE",
    "TOO_LARGE",
    "GroupPlan",
    "GroupTable",
    "KeyPlan",
    "Rows",
    "SetOverflow",
    "StatPlan",
    "Window",
    "composite_aggregations",
    "distinct_aggregations",
    "distinct_from_aggregations",
    "document_row",
    "fetch_request",
    "groups_from_aggregations",
    "groups_from_hits",
    "page_result",
    "pattern_granularity",
    "plan_group",
    "plan_stat",
    "read_number",
    "run_stages",
    "sort_hits",
    "too_large",
]
