// Time ranges: quick ranges relative to now ("15m", "24h", "7d") or absolute instants, and
// the histogram's buckets for a range, in the view's time zone. Pure.

import { fromWall, parseWall, wallParts } from "./timezone.js";

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

// The stat formats each bucket as wall time in the zone ("YYYY-MM-DDTHH:MM"), read back
// with parseWall; the pattern's finest directive is the bucket (SPEC §6).
export const BUCKETS = [
  { name: "minute", pattern: "%Y-%m-%dT%H:%M", step: 60_000 },
  { name: "hour", pattern: "%Y-%m-%dT%H:00", step: 3_600_000 },
  { name: "day", pattern: "%Y-%m-%dT00:00", step: 86_400_000 },
  { name: "month", pattern: "%Y-%m-01T00:00", step: 30 * 86_400_000 },
];

/** The finest bucket giving at most `maxBars` bars over the range (months at the most). */
export function bucketFor([from, to], maxBars = 200) {
  const span = Math.max(0, to - from);
  return BUCKETS.find((b) => Math.ceil(span / b.step) <= maxBars) || BUCKETS.at(-1);
}

/** The start of the bucket holding `date`, in `zone`. */
export function floorTo(date, bucket, zone) {
  const p = wallParts(date, zone);
  if (bucket.name === "minute") return fromWall(p.year, p.month, p.day, p.hour, p.minute, 0, zone);
  if (bucket.name === "hour") return fromWall(p.year, p.month, p.day, p.hour, 0, 0, zone);
  if (bucket.name === "day") return fromWall(p.year, p.month, p.day, 0, 0, 0, zone);
  return fromWall(p.year, p.month, 1, 0, 0, 0, zone);
}

function nextStart(start, bucket, zone) {
  if (bucket.name === "minute" || bucket.name === "hour") return new Date(start.getTime() + bucket.step);
  const p = wallParts(start, zone);
  if (bucket.name === "day") return fromWall(p.year, p.month, p.day + 1, 0, 0, 0, zone);
  return fromWall(p.year, p.month + 1, 1, 0, 0, 0, zone);
}

/**
 * The bucket starts covering the range: `{starts, capped}`; at most `maxBars` of them, the
 * newest kept when a range is longer than that (`capped` then says how many were left out).
 */
export function bucketStarts([from, to], bucket, zone, maxBars = 200) {
  const starts = [];
  for (let t = floorTo(from, bucket, zone); t < to; t = nextStart(t, bucket, zone)) starts.push(t);
  const capped = Math.max(0, starts.length - maxBars);
  return { starts: capped ? starts.slice(capped) : starts, capped };
}

/** A bucket key of the stat (wall time in `zone`) as its instant. */
export function parseBucket(text, zone) {
  return parseWall(text, zone);
}

/** A short label for a bucket start in `zone`. */
export function bucketLabel(date, bucket, zone) {
  const p = wallParts(date, zone);
  const two = (n) => String(n).padStart(2, "0");
  const day = `${p.year}-${two(p.month)}-${two(p.day)}`;
  if (bucket.name === "minute" || bucket.name === "hour") return `${two(p.month)}-${two(p.day)} ${two(p.hour)}:${two(p.minute)}`;
  if (bucket.name === "day") return day;
  return day.slice(0, 7);
}
