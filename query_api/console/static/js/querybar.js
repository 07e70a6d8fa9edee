// The query bar: KQL (SPEC §11), compiled by the service in one place
// (`POST /console/api/kql`), so the console and the API never read a query differently.

import { call } from "./api.js";

const compiled = new Map();

/** The active pills as the compile route takes them. */
function activeFilters(filters) {
  return filters.filter((f) => !f.disabled)
    .map(({ field, value, negate }) => ({ field, value, negate: Boolean(negate) }));
}

/**
 * KQL text and pills -> `{filter, filter_or}` of a Query (dates without offset in `zone`).
 * Rejects with the API's error (code ERROR_INVALID_QUERY, a message naming the position
 * or the field) for a query that cannot run. Answers are kept for the page's life.
 */
export async function compileQuery(text, { target = "events", zone = "UTC", filters = [] } = {}) {
  const active = activeFilters(filters);
  if (!String(text || "").trim() && !active.length) return { filter: [], filter_or: [] };
  const key = JSON.stringify([text, target, zone, active]);
  if (!compiled.has(key)) {
    const body = { query: text || "", target, time_zone: zone, filters: active };
    compiled.set(key, call("/console/api/kql", body, "kql").then((answer) => answer.query));
    compiled.get(key).catch(() => compiled.delete(key));
  }
  return compiled.get(key);
}

/** The reference table of the query language, for the help. */
export const KQL_HELP = [
  ["severity:critical", "a field equals a value (severity, event_type, state, urgency in any case)"],
  ["title:disk", "title and description match anywhere, in any case"],
  ['title:"disk full"', "a phrase"],
  ["severity:(critical or error)", "any of these values"],
  ["provider:a and not rule:b", "and, or, not (any case), parentheses; not binds tightest"],
  ["resource.name:web-*", "wildcards: * stands for anything (case-insensitive)"],
  ["occurred_at:*", "the field has a value (not occurred_at:* for none)"],
  ["severity >= warning", "severity order: CRITICAL > ERROR > WARNING > INFO > NOT_AVAILABLE > NONE"],
  ["created_at >= now-1h", "dates: now, now-15m, now/d; or ISO (2024-05-01T10:30, in the shown zone)"],
  ["created_at:2024-05-01", "a whole day in the shown zone"],
  ["host-21", "free text: any text, keyword or additional_info value"],
  ["additional_info.instance:host-21", "a key of additional_info or raw_data"],
];
