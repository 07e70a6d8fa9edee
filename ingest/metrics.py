"""Every Prometheus metric of the pipeline, defined once.

Names follow `eventpipe_<name>_<unit>_total`; failures carry a bounded `code`
label (the ERROR_* code), never free text. Counters are bumped per batch.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INTAKE_REQUESTS = Counter(
    "eventpipe_intake_requests_total",
    "Webhook requests answered by the HTTP intake, by status code",
    ["status"],
)
RATE_LIMITED = Counter(
    "eventpipe_rate_limited_requests_total",
    "Requests refused with 429, by what was over its rate: webhook (intake) or apikey (reads)",
    ["scope"],
)
INTAKE_PRODUCED = Counter(
    "eventpipe_intake_records_produced_total", "Records the intake put on events.raw"
)
RECORDS_RECEIVED = Counter(
    "eventpipe_records_received_total", "Records the worker read from events.raw"
)
EVENTS_PRODUCED = Counter(
    "eventpipe_events_produced_total", "Parsed events the worker put on events.normalized"
)
EVENTS_INDEXED = Counter(
    "eventpipe_events_indexed_total", "Events Elasticsearch acknowledged as new documents"
)
EVENTS_DUPLICATE = Counter(
    "eventpipe_events_duplicate_total", "Replayed events Elasticsearch already had (409)"
)
EVENTS_DEDUPLICATED = Counter(
    "eventpipe_events_deduplicated_total",
    "Events dropped as a sender's retry: identical to one written for the same webhook and "
    "key within the webhook's duplicate window (SPEC 4.6)",
)
EVENTS_RETRIED = Counter(
    "eventpipe_events_retried_total", "Events resent after a 429/5xx bulk item"
)
DEAD_LETTERS = Counter(
    "eventpipe_dead_letters_total", "Records and events sent to events.dlq", ["code"]
)
ORPHAN_RECOVERIES = Counter(
    "eventpipe_orphan_recoveries_total", "RECOVERY events kept with no open alert"
)
PARTITIONS_REREAD = Counter(
    "eventpipe_partitions_reread_total",
    "Partitions sought back to a record that never reached a stream (ingest/kafka/faust_runtime)",
)
BULK_SECONDS = Histogram(
    "eventpipe_bulk_request_seconds",
    "Latency of one bulk request to Elasticsearch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CONSUMER_LAG = Gauge(
    "eventpipe_consumer_lag_records",
    "Records behind the end of each partition, as of the last batch",
    ["topic", "partition"],
)
