// Severity by rank, not by name: Elasticsearch sorts severity as a keyword (alphabetically,
// WARNING above ERROR), the console shows it from the most to the least severe.

import { call } from "./api.js";

/** The severities, the most severe first. */
export const SEVERITIES = ["CRITICAL", "ERROR", "WARNING", "INFO", "NOT_AVAILABLE", "NONE"];

/**
 * A page sorted by severity ORDER (CRITICAL first when descending): the count of each
 * severity (one stat), then each severity's slice of the page, newest first within a
 * severity. Exact for every stored document, with no script and no extra indexed field.
 * `body` is the list request (`query.sort[0]` says the direction); `list` and `stat` are
 * the paths, `label` names the calls; `statBody(query)` is the stat request for the list's
 * query with the severity aggregate (by default `body` with that query).
 */
export async function listBySeverity(body, { list, stat, label, statBody = (query) => ({ ...body, query }) }) {
  const { sort, page, ...query } = body.query;
  const counted = await call(stat, statBody({ ...query, aggregate: [{ group: {
    keys: [{ key: "severity", name: "severity" }], fields: [{ operator: "count", name: "count" }] } }] }),
  `${label}:severity-counts`);
  const count = new Map(counted.results.map((row) => [row.severity ?? null, row.count]));
  const order = sort[0].desc ? SEVERITIES : [...SEVERITIES].reverse();
  const known = [...order, ...[...count.keys()].filter((s) => s !== null && !SEVERITIES.includes(s)).sort(), null];
  const total = [...count.values()].reduce((a, b) => a + b, 0);
  let skip = page.start - 1;
  const results = [];
  for (const severity of known) {
    const n = count.get(severity) || 0;
    if (results.length >= page.limit) break;
    if (skip >= n) { skip -= n; continue; }
    const take = Math.min(n - skip, page.limit - results.length);
    const slice = await call(list, { ...body, query: { ...query,
      filter: [...(query.filter || []), { k: "severity", v: severity, o: "eq" }],
      sort: [{ key: "created_at", desc: true }], page: { start: skip + 1, limit: take } } }, label);
    results.push(...slice.results);
    skip = 0;
  }
  return { results, total_count: total };
}
