// Events (Discover-like): time range, KQL query bar and pills, histogram by severity,
// facets, results, an event's detail in a side panel, and live follow. The query is
// compiled by the service (SPEC §11), then every piece is one public API call. The URL
// holds the whole view: range|from|to, tz, q, filters, sort, page, cols, event, follow
// (and the domain, for admin keys).

import { call, toCurl, withDomain } from "./api.js";
import { drawChart, legend } from "./chart.js";
import { showDetail } from "./detail.js";
import { addPill, decodePills, encodePills, pillBar } from "./pills.js";
import { KQL_HELP, compileQuery } from "./querybar.js";
import { SEVERITIES, listBySeverity } from "./severity.js";
import { QUICK, bucketFor, bucketLabel, bucketStarts, parseBucket, rangeFilter, resolveRange } from "./timerange.js";
import { BROWSER_ZONE, formatInstant, parseWall, toInput, zoneLabel, zoneOf } from "./timezone.js";
import { errorBox, h, jsonPanel, navigate, severityBadge, toast } from "./ui.js";

const LIST = "/monitoring/v1/event/list";
const STAT = "/monitoring/v1/event/stat";
const PAGE_SIZE = 50;
export const FACETS = [
  ["severity", "Severity"], ["event_type", "Event type"], ["provider", "Provider"],
  ["project_id", "Project"], ["webhook_id", "Webhook"], ["rule", "Rule"],
  ["resource.resource_type", "Resource type"],
];
const FACET_LIMIT = 8;
const COLUMNS = ["created_at", "severity", "event_type", "title", "provider", "project_id", "rule",
  "resource.resource_type", "resource.name", "account", "webhook_id", "alert_id", "event_key",
  "event_id", "occurred_at"];
const DEFAULT_COLUMNS = ["created_at", "severity", "event_type", "title", "provider", "project_id"];
export const DATE_FIELDS = new Set(["created_at", "occurred_at"]);
const FOLLOW_EVERY_MS = 3000;

const pick = (obj, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);

// The view on screen: kept so that opening, moving through or closing an event's detail
// changes only the side panel (the list keeps its scroll).
let shown = null;
let views = 0;

/** The params that decide the list (all but the open event). */
function listKey(params) {
  const { event, ...rest } = params;
  return JSON.stringify(Object.entries(rest).sort());
}

/** The Query parts every request shares: range, then the compiled query and pills. */
export function composeQuery(range, compiled) {
  const query = { filter: [...rangeFilter(range), ...compiled.filter] };
  if (compiled.filter_or.length) query.filter_or = compiled.filter_or;
  return query;
}

export function histogramBody(query, bucket, zone) {
  return {
    query: { ...query, aggregate: [{ group: {
      keys: [{ key: "created_at", name: "bucket", date_format: bucket.pattern, time_zone: zone },
             { key: "severity", name: "severity" }],
      fields: [{ operator: "count", name: "count" }],
    } }] },
  };
}

export function facetBody(query, field, limit = FACET_LIMIT) {
  return {
    query: { ...query, aggregate: [
      { group: { keys: [{ key: field, name: "value" }], fields: [{ operator: "count", name: "count" }] } },
      { sort: { key: "count", desc: true } },
      { limit },
    ] },
  };
}

function listBody(query, params) {
  const [key, dir] = (params.sort || "created_at:desc").split(":");
  const page = Math.max(1, Number(params.page) || 1);
  return { query: { ...query, sort: [{ key, desc: dir !== "asc" }],
                    page: { start: (page - 1) * PAGE_SIZE + 1, limit: PAGE_SIZE } } };
}

/**
 * Errors of one view, each said once: the first time a message comes it is shown in the
 * view's one alert line; a slot whose request failed the same way says only where to look.
 */
function errorReporter(box) {
  const said = new Set();
  return (slot, error) => {
    const text = error.code ? `${error.code}: ${error.message}` : String(error.message || error);
    if (!said.has(text)) {
      said.add(text);
      box.append(errorBox(error));
    }
    slot.replaceChildren(h("p", { class: "muted" }, "Not shown: see the error above."));
    slot.setAttribute("aria-busy", "false");
  };
}

export async function renderEvents(root, params) {
  if (shown && shown.root === root && shown.container.isConnected && shown.key === listKey(params)) {
    shown.current.params = params;
    await shown.detail(params);
    return;
  }
  const view = ++views;
  const alive = () => view === views && container.isConnected;
  performance.clearMeasures();
  performance.mark("view:events");
  const zone = zoneOf(params);
  const pills = decodePills(params.filters);
  const range = resolveRange(params);
  const columns = params.cols ? params.cols.split(",") : DEFAULT_COLUMNS;
  // The params as they are now (opening an event changes them without drawing again).
  const current = { params };
  const go = (changes, options) => navigate("events", { ...current.params, page: "", ...changes }, options);
  const setPills = (next) => go({ filters: encodePills(next) });
  const filterFor = (field, value, negate = false) => setPills(addPill(pills, field, value, negate));

  const errors = h("div", { class: "query-errors", id: "query-error" });
  const slots = {
    toolbar: toolbar(params, range, zone, go),
    errors,
    pills: pillBar(pills, setPills),
    json: h("div"),
    facets: h("aside", { class: "facets", "aria-label": "Facets", "aria-busy": "true" }),
    histogram: h("section", { class: "histogram", "aria-label": "Events over time", "aria-busy": "true" }),
    follow: h("p", { class: "follow", role: "status" }),
    results: h("section", { class: "results", "aria-label": "Events", "aria-busy": "true" }),
    detail: h("aside", { class: "detail-panel", id: "event-detail", "aria-label": "Event detail", hidden: true }),
  };
  const container = h("div", { id: "events-view" },
    h("h1", { class: "visually-hidden" }, "Events"),
    slots.toolbar, slots.errors, slots.pills, slots.json,
    h("div", { class: "layout" }, slots.facets,
      h("div", { class: "main-column" }, slots.histogram, slots.follow, slots.results)),
    slots.detail);
  root.replaceChildren(container);
  root.dataset.ready = "false";
  const done = () => {
    if (!alive()) return;
    performance.measure("paint:events", "view:events");
    root.dataset.ready = "true";
  };

  const ctx = { params, zone, columns, go, filterFor, slots };
  shown = { root, container, key: listKey(params), current, detail: (p) => showDetail(slots.detail, p, ctx) };

  let compiled;
  try {
    compiled = await compileQuery(params.q || "", { zone, filters: pills });
  } catch (error) {
    if (!alive()) return;
    const input = slots.toolbar.querySelector("#q");
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "query-error");
    const invalid = error.code === "ERROR_INVALID_QUERY";
    errors.append(invalid
      ? h("p", { class: "error", role: "alert" }, `This query cannot run: ${error.message}`)
      : errorBox(error));
    slots.results.replaceChildren(h("p", { class: "muted" }, "Nothing was searched: fix the query above."));
    for (const slot of [slots.facets, slots.histogram, slots.results]) slot.setAttribute("aria-busy", "false");
    done();
    return;
  }
  if (!alive()) return;
  const report = errorReporter(errors);
  const query = composeQuery(range, compiled);
  const listRequest = withDomain(listBody(query, params));
  slots.json.replaceWith(jsonPanel(LIST, listRequest, toCurl));

  const results = drawResults(slots.results, listRequest, ctx, alive, report);
  const histogram = drawHistogram(slots.histogram, query, range, ctx, alive, report);
  // The histogram is grouped by severity already: its rows give that facet's counts too,
  // one request fewer (the browser opens at most six connections to one host).
  const derived = { severity: histogram.then((rows) => (rows ? severityCounts(rows) : null)) };
  const facets = drawFacets(slots.facets, query, ctx, alive, report, derived);
  await Promise.allSettled([results, histogram, facets]);
  done();
  if (params.event && alive()) await shown.detail(params);
  if (params.follow === "1" && alive()) follow(slots, listRequest, compiled, ctx, alive, report);
}

function toolbar(params, range, zone, go) {
  const custom = Boolean(params.from && params.to);
  const select = h("select", { id: "range", "aria-label": "Time range" },
    QUICK.map(([value, label]) => h("option", { value, selected: !custom && (params.range || "24h") === value }, label)),
    h("option", { value: "custom", selected: custom }, "Absolute range"));
  const from = h("input", { type: "datetime-local", id: "from", "aria-label": `From (${zoneLabel(zone, range[0])})`, value: toInput(range[0], zone) });
  const to = h("input", { type: "datetime-local", id: "to", "aria-label": `To (${zoneLabel(zone, range[1])})`, value: toInput(range[1], zone) });
  const rangeError = h("span", {});
  const apply = () => {
    const [a, b] = [parseWall(from.value, zone), parseWall(to.value, zone)];
    if (!a || !b || !(b > a)) {
      rangeError.replaceChildren(h("span", { class: "error", role: "alert" },
        "Give a start before the end (both dates and times)."));
      return;
    }
    go({ range: "", from: a.toISOString(), to: b.toISOString() });
  };
  const absolute = h("span", { class: "absolute", hidden: !custom }, from, " – ", to,
    h("button", { type: "button", onclick: apply }, "Apply"), rangeError);
  select.addEventListener("change", () => {
    if (select.value === "custom") { absolute.hidden = false; from.focus(); return; }
    go({ range: select.value, from: "", to: "" });
  });
  const input = h("input", { id: "q", type: "search", value: params.q || "", "aria-label": "Query",
    autocomplete: "off", spellcheck: "false",
    placeholder: "KQL: severity >= warning and not provider:zabbix, host-21, title:\"disk full\"" });
  const form = h("form", { class: "grow", role: "search", onsubmit: (e) => { e.preventDefault(); go({ q: input.value.trim() }); } },
    input);
  const span = range[1] - range[0];
  const zoomOut = h("button", { type: "button", onclick: () => go({ range: "",
    from: new Date(range[0].getTime() - span / 2).toISOString(),
    to: new Date(Math.min(Date.now(), range[1].getTime() + span / 2)).toISOString() }) }, "Zoom out");
  const utc = zone === "UTC" && params.tz === "utc";
  const zoneButton = h("button", { type: "button", id: "tz-toggle", "aria-pressed": String(utc),
    title: `Times are shown and typed in ${zoneLabel(zone)}`,
    onclick: () => go({ tz: utc ? "" : "utc" }) }, utc ? `UTC (switch to ${BROWSER_ZONE})` : "Show UTC");
  const followBox = h("input", { type: "checkbox", id: "follow", checked: params.follow === "1",
    onchange: (e) => go({ follow: e.target.checked ? "1" : "", page: "" }) });
  const help = h("details", { class: "kql-help" }, h("summary", {}, "Query help"),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Query"), h("th", { scope: "col" }, "Means"))),
      h("tbody", {}, KQL_HELP.map(([example, means]) => h("tr", {}, h("td", { class: "mono" }, example), h("td", {}, means))))),
    h("p", { class: "muted" }, "One OR group across different fields per query (the API's filter_or); ",
      "values of one field can always be ORed: field:(a or b)."));
  return h("div", { class: "toolbar" },
    h("div", { class: "bar" }, select, absolute, form,
      h("button", { type: "button", class: "primary", onclick: () => go({ q: input.value.trim() }) }, "Search"),
      zoomOut, zoneButton, h("label", {}, followBox, "Follow new events")),
    help);
}

async function drawResults(slot, body, ctx, alive, report) {
  const { params, columns, go, zone } = ctx;
  let answer;
  try {
    answer = await (body.query.sort[0]?.key === "severity"
      ? listBySeverity(body, { list: LIST, stat: STAT, label: "list" }) : call(LIST, body, "list"));
  } catch (error) {
    if (alive()) report(slot, error);
    return;
  }
  if (!alive()) return;
  const page = Math.max(1, Number(params.page) || 1);
  const pages = Math.max(1, Math.ceil(answer.total_count / PAGE_SIZE));
  const [sortKey, sortDir] = (params.sort || "created_at:desc").split(":");
  const header = h("tr", {}, columns.map((col) => {
    const active = col === sortKey;
    const next = active && sortDir !== "asc" ? "asc" : "desc";
    return h("th", { scope: "col", "aria-sort": active ? (sortDir === "asc" ? "ascending" : "descending") : null },
      h("button", { type: "button", onclick: () => go({ sort: `${col}:${next}` }) },
        col + (active ? (sortDir === "asc" ? " ▲" : " ▼") : "")));
  }), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Open")));
  const tbody = h("tbody", {}, answer.results.map((event) => eventRow(event, columns, go, zone)));
  slot.replaceChildren(
    h("div", { class: "bar" },
      h("strong", { id: "total", "data-testid": "events-total", "data-count": answer.total_count },
        `${answer.total_count.toLocaleString()} events`),
      h("span", { class: "muted" }, `times in ${zoneLabel(zone)}`),
      h("span", { class: "spacer" }),
      columnChooser(columns, go)),
    h("table", { id: "events-table" }, h("thead", {}, header), tbody),
    h("nav", { class: "pager", "aria-label": "Pages" },
      h("button", { type: "button", disabled: page <= 1, onclick: () => go({ page: String(page - 1) }) }, "Previous"),
      h("span", {}, `Page ${page} of ${pages.toLocaleString()}`),
      h("button", { type: "button", disabled: page >= pages, onclick: () => go({ page: String(page + 1) }) }, "Next")),
  );
  slot.setAttribute("aria-busy", "false");
}

export function cellValue(event, col, zone) {
  const value = pick(event, col);
  if (DATE_FIELDS.has(col)) return formatInstant(value, zone);
  if (value !== null && typeof value === "object") return JSON.stringify(value);
  return value ?? "";
}

function eventRow(event, columns, go, zone) {
  return h("tr", { "data-event-id": event.event_id },
    columns.map((col) => {
      if (col === "severity") return h("td", {}, severityBadge(pick(event, col)));
      return h("td", { class: DATE_FIELDS.has(col) ? "mono" : null }, cellValue(event, col, zone));
    }),
    h("td", {}, h("button", { type: "button", class: "link open-event",
      "aria-label": `Details of ${event.title || event.event_id}`,
      onclick: () => go({ event: event.event_id, page: new URLSearchParams(location.hash.split("?")[1]).get("page") || "" }) },
      "Details")));
}

function columnChooser(columns, go) {
  const box = h("fieldset", { hidden: true }, h("legend", {}, "Columns"),
    [...new Set([...COLUMNS, ...columns])].map((col) => h("label", {}, h("input", { type: "checkbox", value: col, checked: columns.includes(col),
      onchange: () => {
        const chosen = [...box.querySelectorAll("input:checked")].map((i) => i.value);
        go({ cols: chosen.join(",") });
      } }), col)));
  const toggle = h("button", { type: "button", "aria-expanded": "false", onclick: () => {
    box.hidden = !box.hidden;
    toggle.setAttribute("aria-expanded", String(!box.hidden));
  } }, "Columns");
  return h("div", { class: "columns" }, toggle, box);
}

const rankOf = (severity) => (SEVERITIES.includes(severity) ? SEVERITIES.indexOf(severity) : SEVERITIES.length);

/** Facet rows (`{value, count}`, most first, ties in severity order) from the histogram's rows. */
export function severityCounts(rows, limit = FACET_LIMIT) {
  const counts = new Map();
  for (const row of rows) counts.set(row.severity ?? null, (counts.get(row.severity ?? null) || 0) + row.count);
  return [...counts].map(([value, count]) => ({ value, count }))
    .sort((a, b) => b.count - a.count || rankOf(a.value) - rankOf(b.value)
      || String(a.value).localeCompare(String(b.value))).slice(0, limit);
}

/** How many bars the histogram can draw legibly at its width (4 px a bar at least). */
function barsFor(slot) {
  const width = slot.clientWidth || 900;
  return Math.max(24, Math.min(360, Math.floor((width - 60) / 4)));
}

/** Draws the histogram; resolves with its stat rows (null when the request failed). */
async function drawHistogram(slot, query, range, ctx, alive, report) {
  const { zone, go } = ctx;
  const maxBars = barsFor(slot);
  const bucket = bucketFor(range, maxBars);
  const body = withDomain(histogramBody(query, bucket, zone));
  let answer;
  try {
    answer = await call(STAT, body, "histogram");
  } catch (error) {
    if (alive()) report(slot, error);
    return null;
  }
  if (!alive()) return answer.results;
  const { starts, capped } = bucketStarts(range, bucket, zone, maxBars);
  const index = new Map(starts.map((t, i) => [t.getTime(), i]));
  const counts = new Map();
  let total = 0;
  let outside = 0;
  for (const row of answer.results) {
    const start = parseBucket(row.bucket, zone);
    const i = start ? index.get(start.getTime()) : undefined;
    if (i === undefined) { outside += row.count; continue; }
    const name = row.severity || "NONE";
    if (!counts.has(name)) counts.set(name, starts.map(() => 0));
    counts.get(name)[i] += row.count;
    total += row.count;
  }
  const series = SEVERITIES.filter((s) => counts.has(s)).map((s) => ({ name: s, values: counts.get(s) }))
    .concat([...counts.keys()].filter((s) => !SEVERITIES.includes(s)).map((s) => ({ name: s, values: counts.get(s) })));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "chart");
  svg.id = "histogram";
  const label = zoneLabel(zone, range[0]);
  const notes = [];
  if (capped) {
    notes.push(`Showing the newest ${starts.length} ${bucket.name}s: ${capped} earlier ones ` +
      `(${outside.toLocaleString()} events) are not drawn; narrow the range to see them.`);
  }
  slot.replaceChildren(
    h("div", { class: "bar" }, h("strong", {}, `Events per ${bucket.name}`),
      h("span", { class: "muted" }, `${formatInstant(range[0], zone, { ms: false })} – ${formatInstant(range[1], zone, { ms: false })} · drag to zoom`)),
    svg,
    h("p", { class: "axis-zone", id: "histogram-zone" }, `Time axis: ${label}, one bar per ${bucket.name}`),
    ...notes.map((text) => h("p", { class: "note", role: "note", "data-testid": "histogram-capped" }, text)),
    legend(series));
  slot.dataset.total = String(total);
  slot.dataset.buckets = String(starts.length);
  slot.dataset.bucket = bucket.name;
  drawChart(svg, {
    title: `Events over time by severity (${label})`,
    categories: starts.map((t) => t.toISOString()),
    labels: starts.map((t) => bucketLabel(t, bucket, zone)),
    series,
    onBrush: (i, j) => go({ range: "", from: starts[i].toISOString(),
      to: new Date(Math.min((starts[j + 1] || range[1]).getTime(), range[1].getTime())).toISOString() }),
  });
  slot.append(jsonPanel(STAT, body, toCurl));
  slot.setAttribute("aria-busy", "false");
  return answer.results;
}

async function drawFacets(slot, query, ctx, alive, report, derived = {}) {
  const { filterFor } = ctx;
  slot.replaceChildren();
  const sections = FACETS.map(([field, label]) => {
    const section = h("section", { "data-facet": field }, h("h3", {}, label), h("p", { class: "muted" }, "…"));
    slot.append(section);
    const rows = Promise.resolve(derived[field]).then((known) => known
      || call(STAT, withDomain(facetBody(query, field)), `facet:${field}`).then((answer) => answer.results));
    return rows.then((results) => {
      if (!alive()) return;
      const items = results.map((row) => {
        const value = row.value ?? null;
        const text = value === null || value === "" ? "(empty)" : value;
        return h("li", {},
          h("button", { type: "button", class: "facet-value", "data-value": value ?? "",
                        onclick: (event) => filterFor(field, value, event.altKey),
                        title: "Click: only these. Alt+click: all but these.",
                        "aria-label": `${label} ${text}: ${row.count} events. Filter for this value` },
            h("span", { class: "value" }, text), h("span", { class: "count" }, row.count.toLocaleString())),
          h("button", { type: "button", class: "facet-out", title: "Filter out",
                        "aria-label": `Filter out ${label} ${text}`, onclick: () => filterFor(field, value, true) }, "−"));
      });
      section.replaceChildren(h("h3", {}, label + (results.length >= FACET_LIMIT ? ` (top ${FACET_LIMIT})` : "")),
        items.length ? h("ul", {}, items) : h("p", { class: "muted" }, "none"));
    }, (error) => { if (alive()) report(section, error); });
  });
  await Promise.allSettled(sections);
  slot.setAttribute("aria-busy", "false");
}

/**
 * Poll for events newer than the newest shown; put them on top without a reload, and
 * draw the histogram and facets again over the range as it is now.
 */
function follow(slots, listRequest, compiled, ctx, alive, report) {
  const { params, columns, go, zone } = ctx;
  let newest = new Date().toISOString();
  let arrived = 0;
  const seen = new Set([...document.querySelectorAll("#events-table tbody tr")].map((tr) => tr.dataset.eventId));
  slots.follow.textContent = "Following: new events appear on top.";
  const timer = setInterval(async () => {
    if (!alive()) { clearInterval(timer); return; }
    const filter = listRequest.query.filter.filter((c) => !(c.k === "created_at" && c.o === "lte"))
      .map((c) => (c.k === "created_at" && c.o === "gte" ? { k: "created_at", v: newest, o: "gte" } : c));
    const body = { ...listRequest, query: { ...listRequest.query, filter,
      sort: [{ key: "created_at", desc: true }], page: { start: 1, limit: PAGE_SIZE } } };
    let answer;
    try { answer = await call(LIST, body, "follow"); } catch { return; }
    if (!alive()) return;
    const fresh = answer.results.filter((e) => !seen.has(e.event_id));
    if (!fresh.length) return;
    fresh.forEach((e) => seen.add(e.event_id));
    newest = fresh.map((e) => e.created_at).sort().at(-1);
    arrived += fresh.length;
    const tbody = document.querySelector("#events-table tbody");
    tbody?.prepend(...fresh.map((e) => eventRow(e, columns, go, zone)));
    slots.follow.textContent = `Following: ${arrived} new event${arrived === 1 ? "" : "s"} arrived.`;
    const total = document.getElementById("total");
    if (total) {
      total.dataset.count = String(Number(total.dataset.count) + fresh.length);
      total.textContent = `${Number(total.dataset.count).toLocaleString()} events`;
    }
    // A quick range ends now: move it; an absolute one stays as chosen.
    const range = resolveRange(params, new Date());
    const query = composeQuery(range, compiled);
    const rows = drawHistogram(slots.histogram, query, range, ctx, alive, report);
    drawFacets(slots.facets, query, ctx, alive, report,
      { severity: rows.then((r) => (r ? severityCounts(r) : null)) });
    toast(`${fresh.length} new events`);
  }, FOLLOW_EVERY_MS);
}
