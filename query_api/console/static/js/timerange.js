// Time ranges: quick ranges relative to now ("15m", "24h", "7d") or absolute ISO instants,
// and the date bucket a histogram uses for a span. Pure.

export const QUICK = [
  ["15m", "Last 15 minutes"], ["1h", "Last hour"], ["24h", "Last 24 hours"],
  ["7d", "Last 7 days"], ["30d", "Last 30 days"], ["365d", "Last year"],
];
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `{range, from, to}` of the URL -> [fromDate, toDate]. A quick range ends at the next
 * whole minute (nothing that happened is left out), so the same view asked again within
 * the minute sends the same request and Elasticsearch can answer it from its cache.
 */
export function resolveRange(state, now = new Date()) {
  if (state.from && state.to) return [new Date(state.from), new Date(state.to)];
  const match = /^(\d+)([mhd])$/.exec(state.range || "24h") || [null, "24", "h"];
  const end = new Date(Math.ceil((now.getTime() + 1) / 60_000) * 60_000);
  return [new Date(end.getTime() - Number(match[1]) * UNIT_MS[match[2]]), end];
}

/** The created_at conditions of a range. */
export function rangeFilter([from, to], key = "created_at") {
  return [
    { k: key, v: from.toISOString(), o: "gte" },
    { k: key, v: to.toISOString(), o: "lte" },
  ];
}

// [max span in ms, strftime pattern of the stat group key, step in ms, parse suffix]
const BUCKETS = [
  [3 * 3_600_000, "%Y-%m-%dT%H:%M", 60_000, ":00Z"],
  [10 * 86_400_000, "%Y-%m-%dT%H", 3_600_000, ":00:00Z"],
  [400 * 86_400_000, "%Y-%m-%d", 86_400_000, "T00:00:00Z"],
  [Infinity, "%Y-%m", 30 * 86_400_000, "-01T00:00:00Z"],
];

/** The calendar bucket for a span: `{pattern, step, parse(bucketText) -> Date, name}`. */
export function bucketFor([from, to]) {
  const span = to - from;
  const [, pattern, step, suffix] = BUCKETS.find(([max]) => span <= max);
  const name = { 60_000: "minute", 3_600_000: "hour", 86_400_000: "day" }[step] || "month";
  return { pattern, step, name, parse: (text) => new Date(text + suffix) };
}

/** The start of the bucket holding `date` (UTC), for laying out empty buckets. */
export function floorTo(date, bucket) {
  const d = new Date(date);
  if (bucket.name === "month") return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
  return new Date(Math.floor(d.getTime() / bucket.step) * bucket.step);
}

/** A short label for a bucket start. */
export function bucketLabel(date, bucket) {
  const iso = date.toISOString();
  if (bucket.name === "minute" || bucket.name === "hour") return iso.slice(5, 16).replace("T", " ");
  if (bucket.name === "day") return iso.slice(0, 10);
  return iso.slice(0, 7);
}
