"""How much a stat may read, and the two errors it answers with.

Past a cap a stat is refused (ERROR_STAT_TOO_LARGE) rather than answered in part.
"""

from __future__ import annotations

from schemas.query import QueryError

MAX_GROUPS = 100_000  # composite buckets read for one group stage or distinct
MAX_SCAN_DOCUMENTS = 200_000  # events read when a group stage needs every event
MAX_SET_VALUES = 10_000  # distinct values of a field within one group (add_to_set, sum, average)
MAX_ROWS = 200_000  # rows an unwind may make
# Buckets per composite page: every page reads every matching event again, so fewer pages
# are faster; a page Elasticsearch refuses (search.max_buckets) is asked again smaller.
COMPOSITE_PAGE_SIZE = 2_000
SCAN_PAGE_SIZE = 1_000

TOO_LARGE = "ERROR_STAT_TOO_LARGE"
INVALID = "ERROR_INVALID_ARGUMENT"


def too_large(what: str, cap: int) -> QueryError:
    return QueryError(TOO_LARGE, f"this stat reads more than {cap:,} {what}; narrow the filter "
                                 "or group by fewer keys")  # fmt: skip
