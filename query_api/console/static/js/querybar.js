// The query bar. `compileQuery` sends KQL to the service, which compiles it (SPEC §11);
// `parseQuery` below is the older word/field:value form, kept for the views not on KQL yet.
//
//   error disk            keyword words (an event matches any of them)
//   severity:CRITICAL     {k: "severity", v: "CRITICAL", o: "eq"}
//   -provider:zabbix      {o: "not"}
//   title:*disk*          {o: "contain"}          (a * at either end)
//   created_at:>2024-05-01 / :>= / :< / :<=       {o: "gt" | "gte" | "lt" | "lte"}
//   rule:"High CPU"       quotes keep spaces; \" inside quotes is a quote
//   field:*               {o: "exists", v: true};  -field:*  {o: "exists", v: false}

import { call } from "./api.js";

const COMPARE = [[">=", "gte"], ["<=", "lte"], [">", "gt"], ["<", "lt"]];

/** Split on whitespace outside double quotes; quotes are kept for `term` to read. */
export function tokens(text) {
  const out = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "\\" && quoted && i + 1 < text.length) { current += ch + text[++i]; continue; }
    if (ch === '"') { quoted = !quoted; current += ch; continue; }
    if (/\s/.test(ch) && !quoted) { if (current) out.push(current); current = ""; continue; }
    current += ch;
  }
  if (current) out.push(current);
  return out;
}

function unquote(value) {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    return { text: value.slice(1, -1).replace(/\\(.)/g, "$1"), quoted: true };
  }
  return { text: value, quoted: false };
}

/** One token -> a condition, or null when it is a keyword word. */
export function term(token) {
  const match = /^(-?)([A-Za-z_][\w.]*):(.*)$/s.exec(token);
  if (!match) return null;
  const [, minus, key, rest] = match;
  const negate = minus === "-";
  for (const [prefix, operator] of COMPARE) {
    if (rest.startsWith(prefix) && !negate) {
      return { k: key, v: unquote(rest.slice(prefix.length)).text, o: operator };
    }
  }
  const { text, quoted } = unquote(rest);
  if (!quoted && text === "*") return { k: key, v: !negate, o: "exists" };
  if (!quoted && text.length > 1 && (text.startsWith("*") || text.endsWith("*"))) {
    return { k: key, v: text.replace(/^\*+|\*+$/g, ""), o: negate ? "not_contain" : "contain" };
  }
  return { k: key, v: text, o: negate ? "not" : "eq" };
}

/** The query text -> `{filter, keyword}` of a Query. */
export function parseQuery(text) {
  const filter = [];
  const words = [];
  for (const token of tokens(text || "")) {
    const condition = term(token);
    if (condition) filter.push(condition);
    else words.push(unquote(token).text);
  }
  const query = { filter };
  if (words.length) query.keyword = words.join(" ");
  return query;
}

/** A `field:value` term for the bar, quoted when the value needs it. */
export function formatTerm(key, value, negate = false) {
  const text = String(value ?? "");
  const plain = /^[^\s"*:<>=-][^\s"]*$/.test(text) && !text.endsWith("*");
  const shown = plain ? text : `"${text.replace(/(["\\])/g, "\\$1")}"`;
  return `${negate ? "-" : ""}${key}:${shown}`;
}

/** The query text with a term added, or removed when its opposite is there (toggle). */
export function addTerm(text, key, value, negate = false) {
  const wanted = formatTerm(key, value, negate);
  const opposite = formatTerm(key, value, !negate);
  const kept = tokens(text || "").filter((t) => t !== wanted && t !== opposite);
  return [...kept, wanted].join(" ");
}

// ---- KQL (SPEC §11): compiled by the service, in one place (`POST /console/api/kql`) ----


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
