// Stats: a StatisticsQuery built from pickers, drawn as bars, lines, a table or one number,
// saying what it cut. A group shows its top N values by the measure plus "(other)", which is
// computed exactly by its own request (the same measure over the events of every other value);
// a date bucket is never finer than the chart can draw (a coarser one is used and said); rows
// past ROW_LIMIT are said, not dropped silently. No group and no bucket is one total, not a
// hidden "by severity". Date buckets are in the Events view's zone (the browser's, or UTC with
// tz=utc). URL: range, q, g1, g2, bucket, op, field, top, other, chart, tz, run.

import { call, toCurl, withDomain } from "./api.js";
import { OTHER, colourMap, drawChart, legend } from "./chart.js";
import { compileQuery } from "./querybar.js";
import { BUCKETS as ZONE_BUCKETS, QUICK, bucketLabel, bucketStarts, rangeFilter, resolveRange } from "./timerange.js";
import { BROWSER_ZONE, wallParts, zoneLabel, zoneOf } from "./timezone.js";
import { errorBox, h, jsonPanel, navigate } from "./ui.js";

const STAT = "/monitoring/v1/event/stat";
const ALERT_STAT = "/monitoring/v1/alert/stat";
const ALERT_LIST = "/monitoring/v1/alert/list";
export const FIELDS = ["severity", "event_type", "provider", "project_id", "webhook_id", "rule",
  "resource.resource_type", "resource.name", "account", "alert_id", "event_key", "domain_id"];
export const OPERATORS = [["count", "count of events"], ["sum", "sum of"], ["average", "average of"],
  ["min", "minimum of"], ["max", "maximum of"]];
export const ALERT_STATES = ["TRIGGERED", "ACKNOWLEDGED", "RESOLVED", "ERROR"];
const MINUTE = 60_000, HOUR = 3_600_000, DAY = 86_400_000;
/** name -> [strftime pattern of the stat key (wall time in the zone), step in ms (a month: its
 * shortest)]. The patterns are the Events histogram's, read back the same way. */
export const BUCKETS = Object.fromEntries(ZONE_BUCKETS.map((b) => [b.name,
  [b.pattern, b.name === "month" ? 28 * DAY : b.step]]));
const ORDER = ["minute", "hour", "day", "month"];
/** Bars the chart draws at 2 px or more each on a 1,366 px screen. */
export const MAX_BUCKETS = 480;
/** Rows read for one chart; more are said, not drawn. */
export const ROW_LIMIT = 10_000;
export const NONE = "(none)";

/** Buckets of `name` a range spans (a month counted generously). */
function bucketCount(name, [from, to]) {
  if (name === "month") {
    return (to.getUTCFullYear() - from.getUTCFullYear()) * 12 + to.getUTCMonth() - from.getUTCMonth() + 1;
  }
  const step = BUCKETS[name][1];
  return Math.floor(to / step) - Math.floor(from / step) + 1;
}

/**
 * The bucket a range is drawn with: the one asked for ("auto": the finest) unless it makes
 * more than MAX_BUCKETS, then the finest coarser one that fits. `{name, asked, count, capped}`.
 */
export function chooseBucket(asked, range) {
  if (!asked) return null;
  const start = asked === "auto" ? 0 : ORDER.indexOf(asked);
  for (const name of ORDER.slice(start)) {
    const count = bucketCount(name, range);
    if (count <= MAX_BUCKETS || name === "month") {
      return { name, asked, count, capped: asked !== "auto" && name !== asked,
               askedCount: asked === "auto" ? count : bucketCount(asked, range) };
    }
  }
  return null;
}

/** The stat's name of the bucket starting at `date`: its wall time in `zone`. */
function wallText(date, zone) {
  const p = wallParts(date, zone);
  const two = (n) => String(n).padStart(2, "0");
  return `${p.year}-${two(p.month)}-${two(p.day)}T${two(p.hour)}:${two(p.minute)}`;
}

/** Every bucket of the range, empty ones too: `{keys (as the stat names them), labels}`. */
export function timeBuckets(name, range, zone = "UTC") {
  const bucket = ZONE_BUCKETS.find((b) => b.name === name);
  const { starts } = bucketStarts(range, bucket, zone, MAX_BUCKETS + 2);
  return { keys: starts.map((t) => wallText(t, zone)), labels: starts.map((t) => bucketLabel(t, bucket, zone)) };
}

/**
 * The aggregate stages that measure `keys` ({key, name, date_format?}) into a `value` column.
 * min/max compare numbers as numbers: each distinct value is first read as a number
 * (its average), then the rows of a key keep the least or greatest (SPEC §6's min/max over
 * events compare text, where "9" > "10").
 */
export function measureStages(keys, op, field) {
  if (op === "count") return [{ group: { keys, fields: [{ operator: "count", name: "value" }] } }];
  if (op === "sum" || op === "average") {
    return [{ group: { keys, fields: [{ operator: op, key: field, name: "value" }] } }];
  }
  return [
    { group: { keys: [...keys, { key: field, name: "_distinct" }],
               fields: [{ operator: "average", key: field, name: "_number" }] } },
    { group: { keys: keys.map((k) => ({ key: k.name, name: k.name })),
               fields: [{ operator: op, key: "_number", name: "value" }] } },
  ];
}

/** The pickers of the URL, with defaults; `problem` says why it cannot run, if it cannot. */
export function picked(params) {
  const p = {
    range: params.range || "24h", q: params.q || "", g1: params.g1 || "", g2: params.g2 || "",
    bucket: params.bucket ?? "", op: params.op || "count", field: (params.field || "").trim(),
    top: params.top || "10", chart: params.chart || "bar", other: params.other === "hide" ? "hide" : "show",
    tz: params.tz === "utc" ? "utc" : "", zone: zoneOf(params),
  };
  if (p.op !== "count" && !p.field) p.problem = `Name the field to take the ${p.op} of (e.g. additional_info.value).`;
  else if (p.g2 && !p.g1) p.problem = "Pick “Group by” before “Then by”.";
  else if (p.g1 && p.g1 === p.g2) p.problem = "“Group by” and “Then by” are the same field.";
  return p;
}

/**
 * The filter every request of a chart shares: the range and the KQL query (SPEC §11),
 * compiled by the service as the Events view compiles it; a query it cannot compile rejects.
 */
export async function baseQuery(p, now = new Date()) {
  const compiled = await compileQuery(p.q, { target: "events", zone: "UTC" });
  const range = resolveRange({ range: p.range }, now);
  return {
    range,
    filter: [...rangeFilter(range), ...(compiled.filter || [])],
    filterOr: compiled.filter_or || [],
  };
}

function measureName(p) {
  return p.op === "count" ? "count" : `${p.op} of ${p.field}`;
}

/** The request naming the top N values of one group key by the measure (and how many exist). */
export function rankBody(p, base, key) {
  const keys = [{ key, name: key }];
  return { query: {
    filter: base.filter, ...(base.filterOr.length ? { filter_or: base.filterOr } : {}),
    aggregate: [...measureStages(keys, p.op, p.field),
      { sort: [{ key: "value", desc: true }, { key, desc: false }] }],
    page: { start: 1, limit: Number(p.top) },
  } };
}

/**
 * One request of a chart: the time key (when bucketed) and the dims kept as "top", each
 * dim's values limited to its top N (`in`) or, for "(other)", to the rest (`not_in`).
 */
export function partBody(p, base, bucket, dims) {
  const keys = bucket ? [{ key: "created_at", name: "time", date_format: BUCKETS[bucket.name][0],
                           ...(p.zone !== "UTC" ? { time_zone: p.zone } : {}) }] : [];
  const filter = [...base.filter];
  for (const dim of dims) {
    if (dim.part === "top") keys.push({ key: dim.key, name: dim.key });
    if (dim.cut) filter.push({ k: dim.key, v: dim.values, o: dim.part === "top" ? "in" : "not_in" });
  }
  return { query: {
    filter, ...(base.filterOr.length ? { filter_or: base.filterOr } : {}),
    aggregate: measureStages(keys, p.op, p.field),
    page: { start: 1, limit: ROW_LIMIT },
  } };
}

/** Every combination of "top" / "(other)" of the dims that were cut. */
function parts(dims) {
  let out = [[]];
  for (const dim of dims) {
    const choices = dim.cut ? ["top", "other"] : ["top"];
    out = out.flatMap((prefix) => choices.map((part) => [...prefix, { ...dim, part }]));
  }
  return out;
}

/** Ask everything a chart needs: `{rows, notes, requests}`; rows carry time/g1/g2/value. */
export async function runStats(p, now = new Date()) {
  const base = await baseQuery(p, now);
  const bucket = chooseBucket(p.bucket, base.range);
  const notes = [];
  const ranked = await Promise.all([p.g1, p.g2].filter(Boolean).map(async (key) => {
    const body = withDomain(rankBody(p, base, key));
    return { key, body, answer: await call(STAT, body, `stat-top:${key}`) };
  }));
  const dims = ranked.map(({ key, answer }) => {
    const values = answer.results.map((r) => r[key] ?? null);
    const total = answer.total_count ?? values.length;
    if (total > values.length) {
      const rest = (total - values.length).toLocaleString("en");
      notes.push(`${key}: the top ${values.length} of ${total.toLocaleString("en")} values by ` +
        `${measureName(p)}; ` + (p.other === "hide" ? `the other ${rest} are left out.`
          : `the other ${rest} are one ${OTHER}, ${p.op === "count" ? "counted" : "measured"} over their events.`));
    }
    return { key, values, total, cut: total > values.length };
  });
  // The first part keeps every dim's top values: the main request, shown first.
  const bodies = parts(dims).map((combo) => ({ combo, body: withDomain(partBody(p, base, bucket, combo)) }));
  const requests = [bodies[0].body, ...ranked.map((r) => r.body), ...bodies.slice(1).map((b) => b.body)];
  const answers = await Promise.all(bodies.map(async ({ combo, body }) =>
    ({ combo, answer: await call(STAT, body, "stat") })));
  const rows = [];
  for (const { combo, answer } of answers) {
    const total = answer.total_count ?? answer.results.length;
    if (total > answer.results.length) {
      notes.push(`Read ${answer.results.length.toLocaleString("en")} of ${total.toLocaleString("en")} rows ` +
        `(the most one chart reads); the rest are not shown.`);
    }
    for (const row of answer.results) {
      const out = { value: row.value };
      if (bucket) out.time = row.time;
      for (const dim of combo) out[dim.key] = dim.part === "other" ? OTHER : (row[dim.key] ?? NONE);
      rows.push(out);
    }
  }
  if (bucket?.capped) {
    notes.push(`Per ${bucket.asked} would be ${bucket.askedCount.toLocaleString("en")} buckets, more than ` +
      `the chart draws (${MAX_BUCKETS}): shown per ${bucket.name}.`);
  }
  if (p.op !== "count") {
    notes.push(`${p.op} of ${p.field}: values that are not numbers are skipped; a group with none has no ${p.op}.`);
  }
  return { rows, notes, requests, bucket, base, dims };
}

const SEVERITY_ORDER = ["CRITICAL", "ERROR", "WARNING", "INFO", "NOT_AVAILABLE", "NONE"];
/** Severities in severity order (CRITICAL first), anything else after them. */
function bySeverity(a, b) {
  const at = (v) => (SEVERITY_ORDER.includes(v) ? SEVERITY_ORDER.indexOf(v) : SEVERITY_ORDER.length);
  return at(a) - at(b) || String(a).localeCompare(String(b));
}

/** Rows -> chart categories and series: time (or g1) on x, the remaining keys as series. */
export function toSeries(rows, p, bucket, range) {
  const keys = [p.g1, p.g2].filter(Boolean);
  const xKey = bucket ? "time" : keys[0];
  const seriesKeys = bucket ? keys : keys.slice(1);
  const rank = (value) => (value === OTHER ? 2 : value === NONE ? 1 : 0);
  let categories;
  let labels = null;
  if (bucket) ({ keys: categories, labels } = timeBuckets(bucket.name, range, p.zone));
  else if (xKey) {
    // x in the order of the measure (largest first), "(none)" and "(other)" last
    const totals = new Map();
    for (const r of rows) totals.set(r[xKey], (totals.get(r[xKey]) || 0) + (Number(r.value) || 0));
    categories = [...totals.keys()].sort((a, b) => rank(a) - rank(b)
      || (xKey === "severity" ? bySeverity(a, b) : totals.get(b) - totals.get(a)));
  } else categories = ["all"];
  const nameOf = (row) => seriesKeys.map((k) => row[k]).join(" · ") || measureName(p);
  const totals = new Map();
  for (const r of rows) totals.set(nameOf(r), (totals.get(nameOf(r)) || 0) + (Number(r.value) || 0));
  const names = [...totals.keys()].sort((a, b) => rank(a) - rank(b)
      || (seriesKeys.length === 1 && seriesKeys[0] === "severity" ? bySeverity(a, b) : totals.get(b) - totals.get(a)));
  const series = names.map((name) => ({ name, values: categories.map(() => 0) }));
  const at = new Map(categories.map((c, i) => [c, i]));
  let outside = 0;
  for (const row of rows) {
    const i = at.get(xKey ? row[xKey] : "all");
    if (i === undefined) { outside++; continue; }
    series[names.indexOf(nameOf(row))].values[i] += Number(row.value) || 0;
  }
  return { categories, labels: labels || categories, series, outside };
}

function describe(p, bucket) {
  const by = [p.g1, p.g2].filter(Boolean).join(", ");
  return `${measureName(p)}${bucket ? ` per ${bucket.name}` : ""}${by ? ` by ${by}` : ""}`;
}

export async function renderStats(root, params, isCurrent) {
  const p = picked(params);
  const select = (name, label, options, value = p[name]) => h("label", {}, label,
    h("select", { name, id: `stat-${name}`, "data-testid": `stat-${name}` },
      options.map(([v, text]) => h("option", { value: v, selected: value === v }, text))));
  const fieldOptions = [["", "— none"], ...FIELDS.map((f) => [f, f])];
  const form = h("form", { class: "card form-grid", id: "stat-form", "data-testid": "stat-form", onsubmit: (e) => {
    e.preventDefault();
    navigate("stats", { ...Object.fromEntries(new FormData(form)), run: "1" });
  } },
    select("range", "Time range", QUICK),
    h("label", {}, "Filter (KQL)", h("input", { name: "q", id: "stat-q", value: p.q, placeholder: "severity:critical and not provider:zabbix" })),
    select("g1", "Group by (top values)", fieldOptions),
    select("g2", "Then by", fieldOptions),
    select("top", "Top values shown", [["5", "top 5"], ["10", "top 10"], ["15", "top 15"]]),
    select("other", "The other values", [["show", "shown as (other)"], ["hide", "left out"]]),
    select("bucket", "Date bucket (created_at)", [["", "none"], ["auto", "auto (fits the chart)"],
      ...ORDER.map((b) => [b, `per ${b}`])]),
    select("tz", "Time zone of the buckets", [["", `this browser's (${BROWSER_ZONE})`], ["utc", "UTC"]]),
    select("op", "Measure", OPERATORS),
    h("label", {}, "Numeric field (sum, average, min, max)",
      h("input", { name: "field", id: "stat-field", value: p.field, placeholder: "additional_info.value" })),
    select("chart", "Draw as", [["bar", "bars"], ["line", "lines"], ["table", "table"]]),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "stat-run", "data-testid": "stat-run" }, "Run")));
  const states = h("section", { class: "card alert-states", "data-testid": "alert-states", "aria-labelledby": "alert-states-title" },
    h("h2", { id: "alert-states-title" }, "Alerts by state"), h("p", { class: "muted" }, "…"));
  const out = h("section", { id: "stat-result", "data-testid": "stat-result", "aria-live": "polite", "aria-label": "Result" });
  root.replaceChildren(h("h1", { class: "visually-hidden" }, "Stats"), states, form, out);
  root.dataset.ready = "false";
  const work = [alertStates(states, isCurrent)];
  if (params.run === "1") {
    if (p.problem) out.replaceChildren(h("p", { class: "error", role: "alert", "data-testid": "stat-error" }, p.problem));
    else work.push(drawResult(out, p, isCurrent));
  }
  await Promise.allSettled(work);
  if (isCurrent()) root.dataset.ready = "true";
}

async function drawResult(out, p, isCurrent) {
  out.replaceChildren(h("p", { class: "muted" }, "Running…"));
  let result;
  try {
    result = await runStats(p);
  } catch (error) {
    if (!isCurrent()) return;
    out.replaceChildren(errorBox(error));
    return;
  }
  if (!isCurrent()) return;
  const { rows, notes, requests, bucket, base } = result;
  const noteList = notes.length
    ? h("div", { role: "status", "data-testid": "stat-notes" }, h("ul", { class: "notes" }, notes.map((n) => h("li", {}, n))))
    : null;
  const panels = [jsonPanel(STAT, requests[0], toCurl)];
  if (requests.length > 1) {
    panels.push(h("details", { class: "json-more" }, h("summary", {}, requests.length === 2 ? "The other request of this chart"
      : `The other ${requests.length - 1} requests of this chart`),
      requests.slice(1).map((body) => h("pre", { class: "query-json-extra", tabindex: "0", "aria-label": "Query JSON" }, JSON.stringify(body, null, 2)))));
  }
  const shown = p.other === "hide" ? rows.filter((r) => ![p.g1, p.g2].some((k) => k && r[k] === OTHER)) : rows;
  out.replaceChildren(...[h("h2", { class: "result-title" }, describe(p, bucket)), noteList,
    drawn(shown, p, bucket, base.range), ...panels].filter(Boolean));
  out.querySelector("details.json").open = p.chart === "table";
}

function formatValue(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return String(value);
  return Number.isInteger(value) ? value.toLocaleString("en") : value.toLocaleString("en", { maximumFractionDigits: 3 });
}

function drawn(rows, p, bucket, range) {
  if (!rows.length) return h("p", { "data-testid": "stat-empty" }, "No events match in this range.");
  const keys = [bucket ? "time" : null, p.g1 || null, p.g2 || null].filter(Boolean);
  if (!keys.length) {
    return h("p", { class: "metric", "data-testid": "stat-total" },
      h("span", { class: "metric-value" }, formatValue(rows[0].value)), " ", h("span", { class: "muted" }, measureName(p)));
  }
  if (p.chart === "table") {
    const columns = [...keys, "value"];
    // time in order; a group's values largest first, "(none)" and "(other)" last
    const rank = (v) => (v === OTHER ? 2 : v === NONE ? 1 : 0);
    const sorted = [...rows].sort((a, b) => (bucket ? String(a.time).localeCompare(String(b.time)) : 0)
      || keys.filter((k) => k !== "time").reduce((c, k) => c || rank(a[k]) - rank(b[k]), 0)
      || (Number(b.value) || 0) - (Number(a.value) || 0)
      || keys.reduce((c, k) => c || String(a[k]).localeCompare(String(b[k])), 0));
    return h("table", { id: "stat-table", "data-testid": "stat-table" },
      h("caption", { class: "visually-hidden" }, describe(p, bucket)),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c === "value" ? "num" : null },
        c === "value" ? measureName(p) : c)))),
      h("tbody", {}, sorted.map((r) => h("tr", {}, columns.map((c) =>
        h("td", { class: c === "value" ? "num" : "" }, c === "value" ? formatValue(r[c]) : r[c]))))));
  }
  const { categories, labels, series } = toSeries(rows, p, bucket, range);
  const colours = colourMap(series.map((s) => s.name));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "chart");
  svg.id = "stat-plot";
  svg.dataset.testid = "stat-plot";
  svg.dataset.categories = String(categories.length);
  svg.style.height = "280px";
  const box = h("div", { class: "chart-box" }, svg, legend(series, colours));
  const xTitle = bucket ? `created_at (${zoneLabel(p.zone)}), per ${bucket.name}` : p.g1;
  requestAnimationFrame(() => drawChart(svg, { categories, labels, series, type: p.chart, colours, xTitle,
    title: describe(p, bucket) }));
  return box;
}

/** Alerts counted by state (all of the domain's alerts), each a link to the alerts view. */
async function alertStates(slot, isCurrent) {
  const counts = new Map(ALERT_STATES.map((s) => [s, null]));
  try {
    const answer = await call(ALERT_STAT, withDomain({ query: { aggregate: [
      { group: { keys: [{ key: "state", name: "state" }], fields: [{ operator: "count", name: "count" }] } }] } }), "alert-states");
    for (const state of ALERT_STATES) counts.set(state, 0); // the stat answered: none is 0
    for (const row of answer.results) counts.set(row.state, row.count);
  } catch (error) {
    if (error.status !== 404 && error.status !== 405) {
      if (isCurrent()) slot.replaceChildren(slot.firstChild, errorBox(error));
      return;
    }
    // A service without alert stat: count each state with the list.
    await Promise.all(ALERT_STATES.map(async (state) => {
      try {
        const answer = await call(ALERT_LIST, withDomain({ state, query: { count_only: true } }), `alerts:${state}`);
        counts.set(state, answer.total_count);
      } catch { /* a state this service does not know */ }
    }));
  }
  if (!isCurrent()) return;
  slot.replaceChildren(slot.firstChild, h("ul", { class: "state-counts" },
    [...counts].map(([state, count]) => h("li", { "data-state": state },
      h("a", { href: `#/alerts?${new URLSearchParams({ state, range: "all" })}` },
        h("span", { class: `state-badge state-${state}` }, state), " ",
        h("strong", { class: "count" }, count === null ? "—" : count.toLocaleString("en")))))));
}
